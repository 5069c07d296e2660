"""The one validation helper for numbers that come from a user.

Every number a user gives ampel — a CLI option, a ``--param``, a value in a
``scenario.yaml``, an experiment config or a plan — passes :func:`check_number`: it must
be a number (not a bool, not text that does not parse), finite (no NaN, no infinity) and
inside the range the caller states. A failure is one ``ValueError`` that names the key
and says what is allowed.

It lives in ``signals`` (the lowest layer, pure Python) so that every package can use it.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import ParameterError

#: the largest seed SUMO accepts (a signed 32-bit int)
MAX_SEED = 2**31 - 1
#: the longest simulation ampel runs: one week (SUMO's clock overflows far beyond)
MAX_DURATION_S = 7 * 86400.0
#: the largest demand scale: ten times the stated flows is far past any junction's capacity
MAX_DEMAND_SCALE = 10.0
#: the largest flow of one movement [per hour]: several lanes at saturation
MAX_FLOW_PER_H = 20000.0


def _fmt(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def check_number(value: Any, where: str, *, low: float | None = None,
                 high: float | None = None, low_open: bool = False,
                 integer: bool = False) -> float | int:
    """``value`` as a finite number in ``[low, high]`` (``(low, high]`` with ``low_open``).

    ``where`` names the key in the error (e.g. ``"--duration"`` or ``"demand.truck_share"``).
    Strings are parsed (``"2.5"``); ``integer`` requires a whole number and returns an
    ``int``, else a ``float`` is returned. Raises ``ValueError`` naming ``where``.
    """
    if isinstance(value, bool) or value is None:
        raise ParameterError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            number: float = int(text) if integer and text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            kind = "an integer" if integer else "a number"
            raise ParameterError(f"{where}: expected {kind}, got {value!r}") from None
    elif isinstance(value, int | float):
        number = value
    else:
        raise ParameterError(f"{where}: expected a number, got {value!r}")
    if isinstance(number, float) and not math.isfinite(number):
        raise ParameterError(f"{where}: must be a finite number, got {value!r}")
    if integer:
        if isinstance(number, float) and not number.is_integer():
            raise ParameterError(f"{where}: expected an integer, got {value!r}")
        number = int(number)
    if low is not None:
        if low_open and not number > low:
            raise ParameterError(f"{where}: must be > {_fmt(low)}, got {_fmt(number)}")
        if not low_open and number < low:
            raise ParameterError(f"{where}: must be >= {_fmt(low)}, got {_fmt(number)}")
    if high is not None and number > high:
        raise ParameterError(f"{where}: must be <= {_fmt(high)}, got {_fmt(number)}")
    return number if integer else float(number)


def check_share(value: Any, where: str) -> float:
    """A share in ``[0, 1]`` (truck share, dropout probability)."""
    return float(check_number(value, where, low=0.0, high=1.0))
