"""intentroute.validation.is_number: the one check behind every numeric parameter."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from intentroute.errors import ConfigError
from intentroute.layers.torch_bow import TorchBowLayer
from intentroute.validation import is_number


@given(st.floats(allow_nan=False), st.floats(allow_nan=False), st.floats(allow_nan=False))
def test_a_float_is_a_number_exactly_when_it_lies_in_the_range(x: float, lo: float, hi: float) -> None:
    assert is_number(x, lo, hi) == (lo <= x <= hi)
    assert not is_number(x, integer=True)


@given(st.integers(), st.integers(-5, 5))
def test_an_int_is_a_number_and_an_integer(n: int, lo: int) -> None:
    assert is_number(n, integer=True) and is_number(n)
    assert is_number(n, lo, integer=True) == (n >= lo)


@pytest.mark.parametrize("value", [True, False, math.nan, np.float64("nan"), None, "1", [1], 1j])
def test_bools_nan_and_non_numbers_never_are(value: object) -> None:
    assert not is_number(value) and not is_number(value, integer=True)


def test_numpy_scalars_count() -> None:
    assert is_number(np.int64(3), 1, integer=True) and is_number(np.float32(0.5), 0, 1)


@pytest.mark.parametrize("bad", [math.nan, True, "1"])
def test_a_layer_refuses_a_reload_interval_that_is_not_a_number(bad: object) -> None:
    with pytest.raises(ConfigError, match="reload_interval"):
        TorchBowLayer(reload_interval=bad)  # type: ignore[arg-type]
