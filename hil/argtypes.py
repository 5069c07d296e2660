"""Number types for ampel's command lines (argparse ``type=``), shared by every CLI module.

They live in ``hil`` because it is the lowest layer with a command line; ``experiments``
imports them from here. Each one calls the shared validation helper
:func:`signals.numbers.check_number` (finite, in range).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from signals.numbers import MAX_DEMAND_SCALE, MAX_DURATION_S, MAX_SEED, check_number


def _arg(text: str, **limits: Any) -> Any:
    try:
        return check_number(text, "value", **limits)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("value: ")) from None


def non_negative_int(text: str) -> int:
    """An integer >= 0 (retries, counts)."""
    return _arg(text, low=0, integer=True)


def positive_int(text: str) -> int:
    """An integer >= 1 (workers, environments, steps)."""
    return _arg(text, low=1, integer=True)


def seed(text: str) -> int:
    """A seed: an integer in 0..2**31-1 (what SUMO accepts)."""
    return _arg(text, low=0, high=MAX_SEED, integer=True)


def seed_list(text: str) -> tuple[int, ...]:
    """Seeds as a comma list of ``N`` or ``LO-HI`` items, e.g. ``1-5`` or ``1,2,10-12``."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        if not lo or (sep and not hi):
            raise argparse.ArgumentTypeError(
                f"expected seeds like 1-5 or 1,2,3, got {text!r}")
        first = seed(lo)
        seeds += list(range(first, seed(hi) + 1)) if sep else [first]
    if not seeds:
        raise argparse.ArgumentTypeError(f"expected seeds like 1-5 or 1,2,3, got {text!r}")
    return tuple(seeds)


def positive_float(text: str) -> float:
    """A finite number > 0 (durations, periods, scale factors)."""
    return _arg(text, low=0.0, low_open=True)


def duration_s(text: str) -> float:
    """Simulated seconds: > 0 and at most a week."""
    return _arg(text, low=0.0, low_open=True, high=MAX_DURATION_S)


def demand_scale(text: str) -> float:
    """A demand scale factor: > 0 and at most 10."""
    return _arg(text, low=0.0, low_open=True, high=MAX_DEMAND_SCALE)


def bounded_float(low: float, high: float, low_open: bool = False) -> Callable[[str], float]:
    """A type for a finite number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    def parse(text: str) -> float:
        return _arg(text, low=low, high=high, low_open=low_open)

    parse.__name__ = f"number in {'(' if low_open else '['}{low:g}, {high:g}]"
    return parse


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (noise levels, probabilities)."""
    return _arg(text, low=0.0)


def port(text: str) -> int:
    """A TCP port, 0 meaning any free port."""
    return _arg(text, low=0, high=65535, integer=True)
