"""Floats added the same way on every Python the library supports.

From Python 3.12, ``sum()`` of floats compensates its rounding (Neumaier), so the last bits of a
sum can differ from 3.11's, which adds left to right. The classifier's probabilities and the
features' squared lengths are sums of floats, and a route's confidence should not depend on the
interpreter (``tests/test_recorded_routes.py`` holds them to the bit): they add through
:func:`left_sum`.
"""

from __future__ import annotations

import functools
import operator
import sys
from collections.abc import Callable, Iterable

__all__ = ["add_left_to_right", "left_sum"]


def add_left_to_right(values: Iterable[float]) -> float:
    """``values`` added left to right in double precision, from 0.0 (what 3.11's ``sum()`` does)."""
    total: float = functools.reduce(operator.add, values, 0.0)
    return total


#: ``values`` added left to right in double precision, from 0.0: Python 3.11's ``sum()`` of
#: floats (the built-in itself there, the faster), on any version: ``[1e16, 1.0, -1e16]`` gives
#: 0.0, where 3.12's ``sum()`` gives 1.0 (tests/test_fast_path.py).
left_sum: Callable[[Iterable[float]], float] = sum if sys.version_info < (3, 12) else add_left_to_right
