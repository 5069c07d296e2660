"""Number types for ampel's command lines (argparse ``type=``), shared by every CLI module.

They live in ``hil`` because it is the lowest layer with a command line; ``experiments``
imports them from here.
"""

from __future__ import annotations

import argparse
import math


def non_negative_int(text: str) -> int:
    """An integer >= 0 (seeds, retries, counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (durations, periods, scale factors)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (noise levels, probabilities)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def port(text: str) -> int:
    """A TCP port, 0 meaning any free port."""
    value = non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"port {value} outside 0..65535")
    return value
