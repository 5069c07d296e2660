"""Signal colours, using SUMO's state characters as values."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from .errors import ScenarioError

__all__ = ["Colour", "parse_state_string", "to_state_string"]


class Colour(enum.Enum):
    """Colour shown by one signal group."""

    RED = "r"
    RED_AMBER = "u"
    GREEN = "G"
    AMBER = "y"


_FROM_CHAR: dict[str, Colour] = {
    "r": Colour.RED,
    "u": Colour.RED_AMBER,
    "G": Colour.GREEN,
    "g": Colour.GREEN,
    "y": Colour.AMBER,
}


def parse_state_string(state: str) -> tuple[Colour, ...]:
    """Parse a SUMO state string ('G'/'g' green, 'y' amber, 'u' red-amber, 'r' red)."""
    if not isinstance(state, str):
        raise ValueError(f"state string must be a str, got {type(state).__name__}")
    colours = []
    for pos, char in enumerate(state):
        colour = _FROM_CHAR.get(char)
        if colour is None:
            raise ScenarioError(
                f"state string {state!r}: character {char!r} at position {pos} is not one of "
                "'G', 'g', 'y', 'u', 'r'"
            )
        colours.append(colour)
    return tuple(colours)


def to_state_string(colours: Iterable[Colour]) -> str:
    """Concatenate the SUMO characters of ``colours``."""
    return "".join(colour.value for colour in colours)
