"""Sensing profiles: which detectors a city has bought on each approach lane.

- ``loops`` (default): stop-line loop + loop 35 m upstream (today's field standard).
- ``advance``: also an advance loop 100-150 m upstream of the stop line, or at the lane start
  where the lane is shorter (RiLSA practice for higher approach speeds).
- ``camera``: the two loops plus a video lane-area detector over the last 100 m (or the whole
  lane if shorter) giving queued and approaching vehicles and their mean speed, with
  configurable noise and dropout (seeded: the same seed gives the same readings).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from signals.errors import ConfigError

SENSING_NAMES = ("loops", "advance", "camera")


@dataclass(frozen=True)
class SensingProfile:
    """One sensing profile and its parameters.

    Attributes:
        name: ``loops``, ``advance`` or ``camera``.
        advance_distance_m: advance loop distance from the stop line (100-150 m).
        camera_range_m: camera view from the stop line upstream, in metres.
        camera_noise: relative standard deviation of each camera value (0 = exact).
        camera_dropout: probability that a lane's camera reading is missing (None).
    """

    name: str = "loops"
    advance_distance_m: float = 120.0
    camera_range_m: float = 100.0
    camera_noise: float = 0.0
    camera_dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in SENSING_NAMES:
            raise ConfigError(f"unknown sensing profile {self.name!r} "
                              f"(known: {', '.join(SENSING_NAMES)})")
        if not 100.0 <= self.advance_distance_m <= 150.0:
            raise ConfigError("advance loop distance must be 100-150 m, got "
                              f"{self.advance_distance_m:g}")
        if not 0.0 < self.camera_range_m <= 500.0:
            raise ConfigError(f"camera range must be in (0, 500] m, got {self.camera_range_m:g}")
        if not (self.camera_noise >= 0.0 and math.isfinite(self.camera_noise)):
            raise ConfigError(f"camera noise must be >= 0, got {self.camera_noise:g}")
        if not 0.0 <= self.camera_dropout < 1.0:
            raise ConfigError(f"camera dropout must be in [0, 1), got {self.camera_dropout:g}")

    @property
    def advance(self) -> bool:
        """True if the profile has advance loops."""
        return self.name == "advance"

    @property
    def camera(self) -> bool:
        """True if the profile has cameras."""
        return self.name == "camera"

    def describe(self) -> dict[str, float | str]:
        """What a summary records about the profile."""
        out: dict[str, float | str] = {"sensing": self.name}
        if self.camera:
            out.update(camera_noise=self.camera_noise, camera_dropout=self.camera_dropout)
        return out


#: option names of a profile written as text (``camera:noise=0.1,dropout=0.05``)
_TEXT_OPTIONS = {"noise": "camera_noise", "dropout": "camera_dropout",
                 "range": "camera_range_m", "distance": "advance_distance_m"}


def parse_sensing(text: str) -> SensingProfile:
    """A profile from its name, optionally with options: ``camera:noise=0.1,dropout=0.05``
    (``noise``, ``dropout``, ``range`` for cameras; ``distance`` for advance loops)."""
    name, _, rest = text.partition(":")
    values: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if key not in _TEXT_OPTIONS or not eq:
            raise ConfigError(f"sensing {text!r}: expected NAME:KEY=VALUE,... with KEY one of "
                              f"{', '.join(_TEXT_OPTIONS)}, got {item!r}")
        try:
            values[_TEXT_OPTIONS[key]] = float(value)
        except ValueError:
            raise ConfigError(f"sensing {text!r}: {key} must be a number, got {value!r}"
                              ) from None
    return SensingProfile(name.strip(), **values)


@dataclass(frozen=True)
class CameraReading:
    """One lane's camera values (None for a dropout or, for speed, an empty view)."""

    queue: float | None
    approaching: float | None
    speed_mps: float | None


class CameraModel:
    """Turns exact lane-area values into camera readings: noise and dropout, seeded."""

    def __init__(self, profile: SensingProfile, seed: int) -> None:
        self.profile = profile
        self._rng = random.Random(f"ampel-camera-{seed}")

    def reading(self, halting: int, vehicles: int, mean_speed_mps: float) -> CameraReading:
        """The camera's view of ``vehicles`` in range, ``halting`` of them standing."""
        p = self.profile
        if p.camera_dropout and self._rng.random() < p.camera_dropout:
            return CameraReading(None, None, None)
        queue, approaching = float(halting), float(max(0, vehicles - halting))
        speed = float(mean_speed_mps) if vehicles > 0 and mean_speed_mps >= 0 else None
        if p.camera_noise:
            queue = self._noisy(queue)
            approaching = self._noisy(approaching)
            speed = self._noisy(speed) if speed is not None else None
        return CameraReading(queue, approaching, speed)

    def _noisy(self, value: float) -> float:
        return max(0.0, value * (1.0 + self._rng.gauss(0.0, self.profile.camera_noise)))
