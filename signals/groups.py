"""Signal groups and their RiLSA timing limits."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from .errors import ScenarioError

__all__ = ["GroupKind", "SignalGroup"]


class GroupKind(enum.StrEnum):
    """Road users served by a signal group."""

    VEHICLE = "vehicle"
    BICYCLE = "bicycle"
    PEDESTRIAN = "pedestrian"
    BUS = "bus"


# (amber min, amber max, red-amber min, red-amber max) in seconds, per kind (RiLSA).
_LIMITS: dict[GroupKind, tuple[float, float, float, float]] = {
    GroupKind.VEHICLE: (3.0, 5.0, 1.0, 2.0),
    GroupKind.BUS: (3.0, 5.0, 1.0, 2.0),
    GroupKind.BICYCLE: (1.0, 3.0, 0.0, 2.0),
    GroupKind.PEDESTRIAN: (0.0, 0.0, 0.0, 0.0),
}
MIN_GREEN_FLOOR_S = 5.0


def _amber_for_speed(speed_kmh: float) -> float:
    """RiLSA amber time: 3 s up to 50 km/h, 4 s up to 60 km/h, 5 s above."""
    if speed_kmh <= 50.0:
        return 3.0
    if speed_kmh <= 60.0:
        return 4.0
    return 5.0


@dataclass(frozen=True)
class SignalGroup:
    """One signal group with its fixed timings in seconds.

    Attributes:
        name: unique name within a junction, e.g. ``"K1"``.
        kind: road users served.
        amber_s: amber duration (0 for pedestrian groups).
        red_amber_s: red-amber duration shown before green (0 for pedestrian groups).
        min_green_s: shortest green (RiLSA: at least 5 s).
        max_green_s: longest green before the sequencer forces a stage change.
    """

    name: str
    kind: GroupKind
    amber_s: float
    red_amber_s: float
    min_green_s: float
    max_green_s: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ScenarioError(f"signal group name must be a non-empty string, got {self.name!r}")
        try:
            kind = GroupKind(self.kind)
        except ValueError:
            raise ScenarioError(
                f"signal group {self.name}: unknown kind {self.kind!r}, expected one of "
                f"{[k.value for k in GroupKind]}"
            ) from None
        object.__setattr__(self, "kind", kind)
        for field_name in ("amber_s", "red_amber_s", "min_green_s", "max_green_s"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ScenarioError(f"signal group {self.name}: {field_name} must be a number")
            if not math.isfinite(value):
                raise ScenarioError(f"signal group {self.name}: {field_name} must be finite")
            object.__setattr__(self, field_name, float(value))
        amber_lo, amber_hi, ra_lo, ra_hi = _LIMITS[kind]
        if not amber_lo <= self.amber_s <= amber_hi:
            raise ScenarioError(
                f"signal group {self.name} ({kind.value}): amber {self.amber_s:g} s outside "
                f"{amber_lo:g}..{amber_hi:g} s"
            )
        if not ra_lo <= self.red_amber_s <= ra_hi:
            raise ScenarioError(
                f"signal group {self.name} ({kind.value}): red-amber {self.red_amber_s:g} s "
                f"outside {ra_lo:g}..{ra_hi:g} s"
            )
        if self.min_green_s < MIN_GREEN_FLOOR_S:
            raise ScenarioError(
                f"signal group {self.name}: minimum green {self.min_green_s:g} s is below the "
                f"RiLSA minimum of {MIN_GREEN_FLOOR_S:g} s"
            )
        if self.max_green_s < self.min_green_s:
            raise ScenarioError(
                f"signal group {self.name}: maximum green {self.max_green_s:g} s is below its "
                f"minimum green {self.min_green_s:g} s"
            )

    @classmethod
    def default(cls, name: str, kind: GroupKind | str, speed_kmh: float = 50.0) -> SignalGroup:
        """RiLSA defaults for ``kind``; vehicle and bus amber follows ``speed_kmh``."""
        try:
            kind = GroupKind(kind)
        except ValueError:
            raise ScenarioError(f"signal group {name}: unknown kind {kind!r}") from None
        if isinstance(speed_kmh, bool) or not isinstance(speed_kmh, int | float):
            raise ScenarioError(f"signal group {name}: speed_kmh must be a number")
        if not math.isfinite(speed_kmh) or speed_kmh <= 0:
            raise ScenarioError(f"signal group {name}: speed_kmh must be positive, got {speed_kmh}")
        if kind is GroupKind.PEDESTRIAN:
            return cls(name, kind, 0.0, 0.0, 5.0, 40.0)
        if kind is GroupKind.BICYCLE:
            return cls(name, kind, 2.0, 1.0, 5.0, 60.0)
        return cls(name, kind, _amber_for_speed(speed_kmh), 1.0, 5.0, 60.0)
