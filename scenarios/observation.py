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
    # per stage of ``stages`` (same order): the share of the lane's links (movements) that
    # are green in it; 1.0 = the stage serves every movement of the lane. Empty = all 1.0.
    stage_shares: tuple[float, ...] = ()


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
    queue: float  # raw input-output count between the loops (use controllers.estimators)
    bus_count: int = 0  # buses that passed the upstream loop since the previous observation
    upstream_occupancy: float = 0.0  # upstream (35 m) loop occupancy in the last step, 0..1
    # ``advance`` sensing profile (None without it): a loop 100-150 m upstream
    advance_count: int | None = None  # vehicles that passed it since the previous observation
    advance_occupancy: float | None = None  # its occupancy in the last step, 0..1
    # ``camera`` sensing profile (None without it): lane-area detection 0-100 m
    camera_queue: float | None = None  # halting vehicles in view
    camera_approaching: float | None = None  # moving vehicles in view
    camera_speed_mps: float | None = None  # mean speed of the vehicles in view (None if empty)


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
