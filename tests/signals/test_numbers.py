"""The one validation helper for user numbers: finite, in range, named in the error."""

from __future__ import annotations

import math

import pytest

from signals.numbers import check_number, check_share


@pytest.mark.parametrize("value, kwargs, expected", [
    ("2.5", {}, 2.5),
    (3, {"low": 0}, 3.0),
    ("7", {"integer": True}, 7),
    ("1e3", {"integer": True}, 1000),
    (-4, {}, -4.0),
    (0, {"low": 0}, 0.0),
])
def test_accepts(value, kwargs, expected) -> None:
    got = check_number(value, "k", **kwargs)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("value, kwargs, message", [
    ("fast", {}, "k: expected a number, got 'fast'"),
    ("fast", {"integer": True}, "k: expected an integer, got 'fast'"),
    (True, {}, "k: expected a number, got True"),
    (None, {}, "k: expected a number, got None"),
    ([1], {}, "k: expected a number"),
    (math.nan, {}, "k: must be a finite number"),
    ("inf", {}, "k: must be a finite number"),
    ("-inf", {"low": 0}, "k: must be a finite number"),
    (2.5, {"integer": True}, "k: expected an integer, got 2.5"),
    (0, {"low": 0, "low_open": True}, "k: must be > 0, got 0"),
    (-1, {"low": 0}, "k: must be >= 0, got -1"),
    (11, {"high": 10}, "k: must be <= 10, got 11"),
])
def test_refuses_naming_the_key(value, kwargs, message) -> None:
    with pytest.raises(ValueError) as err:
        check_number(value, "k", **kwargs)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_share() -> None:
    assert check_share("0.05", "truck_share") == 0.05
    with pytest.raises(ValueError, match="truck_share: must be <= 1, got 5"):
        check_share(5, "truck_share")
