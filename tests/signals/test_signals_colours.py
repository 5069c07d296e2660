from __future__ import annotations

import pytest

from signals import Colour, parse_state_string, to_state_string


def test_values_are_sumo_characters() -> None:
    assert [c.value for c in Colour] == ["r", "u", "G", "y"]


def test_parse_accepts_upper_and_lower_green() -> None:
    assert parse_state_string("Ggyur") == (
        Colour.GREEN,
        Colour.GREEN,
        Colour.AMBER,
        Colour.RED_AMBER,
        Colour.RED,
    )


@pytest.mark.parametrize("bad", ["R", "o", "s", "Y", "G r"])
def test_parse_refuses_unknown_characters(bad: str) -> None:
    with pytest.raises(ValueError, match="position"):
        parse_state_string(bad)


def test_round_trip() -> None:
    assert to_state_string(parse_state_string("Gyur")) == "Gyur"
