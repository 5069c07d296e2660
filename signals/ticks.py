"""Conversion of durations in seconds to whole simulation ticks."""

from __future__ import annotations

import math

from .errors import ParameterError

__all__ = ["check_dt", "to_ticks"]

# Tolerance for float noise such as 0.3 / 0.1 == 2.9999999999999996.
_EPS = 1e-9


def check_dt(dt: float) -> float:
    """Return ``dt`` as float, or raise ValueError unless it is a positive finite number."""
    if isinstance(dt, bool) or not isinstance(dt, int | float):
        raise ParameterError(f"dt must be a number of seconds, got {dt!r}")
    if not math.isfinite(dt) or dt <= 0:
        raise ParameterError(f"dt must be positive and finite, got {dt!r}")
    return float(dt)


def to_ticks(seconds: float, dt: float) -> int:
    """Number of ticks of ``dt`` needed to cover ``seconds``, rounded up."""
    if seconds <= 0:
        return 0
    return max(0, math.ceil(seconds / dt - _EPS))
