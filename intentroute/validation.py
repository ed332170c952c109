"""The one check of a number given at an edge (a constructor argument, a config value).

Python's ``bool`` is an ``int``, and NaN compares false with everything, so "a number in a range"
needs more than ``isinstance``; every parameter check in the library goes through
:func:`is_number` and raises its own typed error naming the parameter.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["is_number"]


def is_number(value: object, lo: float = -math.inf, hi: float = math.inf, *, integer: bool = False) -> bool:
    """Whether ``value`` is a real number (an integer when ``integer``) in ``[lo, hi]``: never a
    ``bool``, never NaN; NumPy scalars count.

    >>> is_number(0.5, 0, 1), is_number(True), is_number(float("nan")), is_number(2.0, integer=True)
    (True, False, False, False)
    """
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        return False
    return bool(lo <= value <= hi)  # type: ignore[operator]  # (False for NaN)
