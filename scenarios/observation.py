"""What a controller sees: detector-based observations and the static junction description.

Plain dataclasses (no SUMO): the HIL adapter fills the same types from Modbus registers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApproachLane:
    """Static description of one detected approach lane."""

    lane: str
    groups: tuple[str, ...]
    stages: tuple[int, ...]
    outgoing: tuple[str, ...]
    is_bicycle: bool = False


@dataclass(frozen=True)
class JunctionInfo:
    """Static facts a controller may use: stages, groups, detected lanes."""

    junction: str
    stage_names: tuple[str, ...]
    group_names: tuple[str, ...]
    lanes: tuple[ApproachLane, ...]
    min_green_s: tuple[float, ...]
    max_green_s: tuple[float, ...]


@dataclass(frozen=True)
class LaneReading:
    """Detector readings of one approach lane since the previous observation."""

    lane: str
    stopline_count: int
    upstream_count: int
    occupancy: float  # stop-line loop occupancy in the last step, 0..1
    presence: bool  # a vehicle is on the stop-line loop now
    gap_s: float  # time since the stop-line loop last saw a vehicle
    queue: float  # input-output estimate of vehicles between the two loops
    bus_count: int = 0  # buses that passed the upstream loop since the previous observation


@dataclass(frozen=True)
class Observation:
    """One junction's state at a decision point, built from detectors and the sequencer."""

    junction: str
    time_s: float
    stage: int | None
    target_stage: int | None
    time_in_stage_s: float
    allowed: tuple[bool, ...]
    lanes: tuple[LaneReading, ...]
