"""Level of service (HBS, signalised junctions): one editable table of thresholds.

Motor-vehicle streams are rated A–E by their mean delay (SUMO ``timeLoss``, the time lost
against driving at the desired speed). F means demand exceeds capacity; a simulation shows
that as vehicles still queued at its end, so the rule used here is:

* F when the mean delay exceeds the last threshold (70 s) **and** at least
  ``f_unfinished_share`` (default 10 %) of the stream's trips were unfinished at the end;
* otherwise the first level whose threshold the mean delay does not exceed, E above 70 s.

The values are those commonly quoted from HBS 2015 (unverified against the handbook); an
experiment config overrides them with a ``los:`` block, e.g. ``los: {A: 15, f_unfinished_share:
0.05}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from signals.errors import ConfigError

#: upper bound of mean delay [s] per level; above the last one the stream is E (or F)
DEFAULT_THRESHOLDS_S: dict[str, float] = {"A": 20.0, "B": 35.0, "C": 50.0, "D": 70.0}
#: share of unfinished trips that, together with a delay above D, makes a stream F
DEFAULT_F_UNFINISHED_SHARE = 0.10


@dataclass(frozen=True)
class LosTable:
    """Thresholds of the HBS quality levels (see the module docstring for the rule)."""

    thresholds_s: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS_S))
    f_unfinished_share: float = DEFAULT_F_UNFINISHED_SHARE

    def rate(self, mean_delay_s: float, unfinished_share: float = 0.0) -> str:
        """The level A–F of a stream with this mean delay and share of unfinished trips."""
        for level in ("A", "B", "C", "D"):
            if mean_delay_s <= self.thresholds_s[level]:
                return level
        return "F" if unfinished_share >= self.f_unfinished_share else "E"

    def rows(self) -> list[tuple[str, str]]:
        """(level, rule) rows for the report's legend."""
        t = self.thresholds_s
        return [("A", f"mean delay ≤ {t['A']:g} s"),
                ("B", f"≤ {t['B']:g} s"),
                ("C", f"≤ {t['C']:g} s"),
                ("D", f"≤ {t['D']:g} s"),
                ("E", f"> {t['D']:g} s"),
                ("F", f"> {t['D']:g} s and ≥ {self.f_unfinished_share:.0%} of trips unfinished "
                      "at the end (demand exceeds capacity)")]

    def to_dict(self) -> dict[str, float]:
        """Plain form, as written into the experiment record."""
        return {**self.thresholds_s, "f_unfinished_share": self.f_unfinished_share}


def los_table(overrides: Mapping[str, Any] | None = None, where: str = "los") -> LosTable:
    """The default table with a config's overrides applied (ValueError naming a bad key)."""
    thresholds = dict(DEFAULT_THRESHOLDS_S)
    share = DEFAULT_F_UNFINISHED_SHARE
    for key, value in (overrides or {}).items():
        if key not in thresholds and key != "f_unfinished_share":
            raise ConfigError(f"{where}: unknown key {key!r} (known: A, B, C, D, "
                              "f_unfinished_share)")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{where}.{key}: expected a non-negative number, got {value!r}")
        if key == "f_unfinished_share":
            if value > 1:
                raise ConfigError(f"{where}.{key}: expected a share between 0 and 1, got {value}")
            share = float(value)
        else:
            thresholds[key] = float(value)
    levels = list(thresholds.values())
    if levels != sorted(levels) or len(set(levels)) != len(levels):
        raise ConfigError(f"{where}: thresholds must increase from A to D, got {thresholds}")
    return LosTable(thresholds, share)
