"""Shared helpers of the rule-based controllers: lane/stage maps, calls, gaps, parameters.

Everything here works from a junction's static ``JunctionInfo`` and the detector
``LaneReading`` s of an ``Observation``; nothing assumes a particular junction.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from scenarios.observation import JunctionInfo, LaneReading, Observation

P = TypeVar("P")

#: keys every builder accepts besides its own dataclass fields (handled by the registry)
COMMON_KEYS = frozenset({"plan", "greens", "offset_s"})


def _coerce(value: Any, target: Any, key: str, where: str) -> Any:
    """Turn a CLI string or config value into the type of the dataclass default."""
    if isinstance(target, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{where}: parameter {key!r} expects true/false, got {value!r}")
    if isinstance(target, int | float):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: parameter {key!r} expects a number, "
                             f"got {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"{where}: parameter {key!r} must be finite, got {value!r}")
        if isinstance(target, int) and not number.is_integer():
            raise ValueError(f"{where}: parameter {key!r} expects an integer, got {value!r}")
        return int(number) if isinstance(target, int) else number
    return value if value is None or isinstance(value, str) else str(value)


def parse_params(cls: type[P], params: Mapping[str, Any], where: str,
                 extra: frozenset[str] = frozenset()) -> P:
    """Build the parameter dataclass ``cls`` from a dict, refusing unknown keys.

    ``extra`` are keys the caller consumes itself (ignored here). Values may be strings
    (from ``--param key=value``); they are converted to the type of the default.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    defaults = cls()  # type: ignore[call-arg]
    values: dict[str, Any] = {}
    for key, value in params.items():
        if key in extra or key.startswith("_"):
            continue
        if key not in fields:
            known = ", ".join(sorted(set(fields) | set(extra)))
            raise ValueError(f"{where}: unknown parameter {key!r} (known: {known})")
        values[key] = _coerce(value, getattr(defaults, key), key, where)
    try:
        return cls(**values)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def require_positive(**values: float) -> None:
    """Raise ValueError naming the first value that is not > 0."""
    for key, value in values.items():
        if not value > 0:
            raise ValueError(f"parameter {key!r} must be > 0, got {value:g}")


def require_non_negative(**values: float) -> None:
    """Raise ValueError naming the first value that is negative."""
    for key, value in values.items():
        if value < 0:
            raise ValueError(f"parameter {key!r} must be >= 0, got {value:g}")


@dataclass(frozen=True)
class StageMap:
    """Which detected lanes each stage serves, from the static junction description.

    ``lanes_of_stage[s]`` are indices into ``Observation.lanes`` (same order as
    ``JunctionInfo.lanes``) of lanes with a group that is green in stage ``s``.
    """

    n_stages: int
    lanes_of_stage: tuple[tuple[int, ...], ...]
    stages_of_lane: tuple[tuple[int, ...], ...]
    lane_ids: tuple[str, ...]

    @classmethod
    def from_info(cls, info: JunctionInfo) -> StageMap:
        """Derive the map from ``JunctionInfo``."""
        n = len(info.stage_names)
        per_stage: list[list[int]] = [[] for _ in range(n)]
        for i, lane in enumerate(info.lanes):
            for s in lane.stages:
                if 0 <= s < n:
                    per_stage[s].append(i)
        return cls(n_stages=n, lanes_of_stage=tuple(tuple(x) for x in per_stage),
                   stages_of_lane=tuple(tuple(lane.stages) for lane in info.lanes),
                   lane_ids=tuple(lane.lane for lane in info.lanes))

    def detected(self, stage: int) -> bool:
        """Whether the stage serves at least one detected lane."""
        return bool(self.lanes_of_stage[stage])

    def next_in_cycle(self, current: int, wanted: list[bool]) -> int | None:
        """The first stage after ``current`` in cyclic order for which ``wanted`` is true."""
        for k in range(1, self.n_stages + 1):
            s = (current + k) % self.n_stages
            if s != current and wanted[s]:
                return s
        return None


@dataclass(frozen=True)
class GreenLimits:
    """Per-stage green bounds as the sequencer enforces them, seen from the stage start.

    ``min_green[s]`` is the largest minimum green of the stage's groups.
    ``max_green[p][s]`` is the smallest maximum green of the groups of stage ``s`` less
    the interstage time from ``p`` (a group may turn green that early in the transition),
    less one tick of margin; the controller's own maximum is capped by it so that the
    sequencer never has to force a change.
    """

    min_green: tuple[float, ...]
    max_green: tuple[tuple[float, ...], ...]

    @classmethod
    def unbounded(cls, n_stages: int) -> GreenLimits:
        """No bounds beyond the controller's own (for unit tests with hand-made inputs)."""
        return cls((0.0,) * n_stages, ((math.inf,) * n_stages,) * n_stages)

    def bounded(self, min_green_s: float, max_green_s: float) -> GreenLimits:
        """These limits combined with a controller's own minimum and maximum green."""
        return GreenLimits(tuple(max(min_green_s, m) for m in self.min_green),
                           tuple(tuple(min(max_green_s, m) for m in row)
                                 for row in self.max_green))

    def capped(self, per_stage_max: dict[int, float]) -> GreenLimits:
        """These limits with further per-stage maximum greens (never below the minimum)."""
        rows = tuple(tuple(min(m, max(per_stage_max.get(s, math.inf), self.min_green[s]))
                           for s, m in enumerate(row)) for row in self.max_green)
        return GreenLimits(self.min_green, rows)

    def max_for(self, previous: int | None, stage: int) -> float:
        """Maximum green of ``stage`` when it was entered from ``previous``."""
        if previous is None or previous == stage:
            return min(row[stage] for row in self.max_green)
        return self.max_green[previous][stage]


class StageHistory:
    """Remembers the stage shown before the current one and when each was last shown."""

    def __init__(self) -> None:
        self.current: int | None = None
        self.previous: int | None = None
        self._last_shown: dict[int, float] = {}
        self._start: float | None = None

    def update(self, obs: Observation) -> None:
        """Track stage changes from the observation."""
        if self._start is None:
            self._start = obs.time_s
        if obs.stage is not None:
            self._last_shown[obs.stage] = obs.time_s
            if obs.stage != self.current:
                self.previous, self.current = self.current, obs.stage

    def red_s(self, stage: int, now: float) -> float:
        """Seconds since ``stage`` was last shown (since the first observation if never)."""
        start = self._start if self._start is not None else now
        return now - self._last_shown.get(stage, start)


def hold(obs: Observation) -> int:
    """The stage to request when a controller wants no change: the current or target one."""
    if obs.stage is not None:
        return obs.stage
    if obs.target_stage is not None:
        return obs.target_stage
    return 0


class GapTracker:
    """Per lane, the time headway seen by the extension (upstream) loop.

    Only counts since the last observation are known for the upstream loop, so the
    tracker keeps the time of the last count. A vehicle standing on the stop-line loop
    (queue not yet discharged) counts as gap 0. Gaps measured on both loops would see
    every vehicle twice, a few seconds apart, and never let a stage gap out.
    """

    def __init__(self, n_lanes: int) -> None:
        self._last_up = [-math.inf] * n_lanes

    def update(self, obs: Observation) -> list[float]:
        """Per lane: seconds since a vehicle last crossed the upstream loop."""
        gaps = []
        for i, r in enumerate(obs.lanes):
            if r.upstream_count > 0:
                self._last_up[i] = obs.time_s
            gaps.append(0.0 if r.presence else obs.time_s - self._last_up[i])
        return gaps


class QueueTracker:
    """Vehicles between the upstream and the stop-line loop, per lane, from the counts.

    The tracker integrates ``upstream_count - stopline_count`` itself (not the session's
    clipped estimate) and corrects the two ways an input-output estimate drifts:

    * lane changes between the loops (counted upstream on one lane, at the stop line on
      a neighbour): a negative lane takes the vehicles back from positive lanes of the
      same road (lanes ``EDGE_k`` of one edge ``EDGE``);
    * missed counts: while a lane is green and neither loop has seen a vehicle for
      ``idle_reset_s`` (and none stands on the stop-line loop), nothing can be between
      them, so the lane is zeroed.

    Estimates are capped at ``cap`` vehicles (the loops are a few car lengths apart).
    """

    def __init__(self, lane_ids: tuple[str, ...] | int, idle_reset_s: float = 6.0,
                 cap: float = 12.0) -> None:
        if isinstance(lane_ids, int):
            lane_ids = tuple(f"lane{i}_0" for i in range(lane_ids))
        self._q = [0.0] * len(lane_ids)
        edges: dict[str, list[int]] = {}
        for i, lane in enumerate(lane_ids):
            edges.setdefault(lane.rsplit("_", 1)[0], []).append(i)
        self._siblings = [tuple(j for j in edges[lane.rsplit("_", 1)[0]] if j != i)
                          for i, lane in enumerate(lane_ids)]
        self._idle_reset_s = idle_reset_s
        self._cap = cap
        self._last_up = [-math.inf] * len(lane_ids)

    def update(self, obs: Observation, green_lanes: tuple[int, ...] | frozenset[int],
               gaps: list[float] | None = None) -> list[float]:
        """Corrected queues (vehicles, >= 0) per lane after this observation."""
        q = self._q
        for i, r in enumerate(obs.lanes):
            q[i] += r.upstream_count - r.stopline_count
        for i in range(len(q)):
            for j in sorted(self._siblings[i], key=lambda k: -q[k]):
                if q[i] >= 0:
                    break
                take = min(-q[i], max(q[j], 0.0))
                q[i] += take
                q[j] -= take
        for i, r in enumerate(obs.lanes):
            if r.upstream_count > 0:
                self._last_up[i] = obs.time_s
            if (i in green_lanes and r.gap_s >= self._idle_reset_s and not r.presence
                    and obs.time_s - self._last_up[i] >= self._idle_reset_s):
                q[i] = 0.0
            q[i] = min(max(q[i], 0.0), self._cap)
        return list(q)


class DemandEstimator:
    """Vehicles waiting per lane, including those queued beyond the upstream loop.

    The loops see only the few vehicles between them. While a lane is red the estimate
    grows by the lane's arrival rate (an exponential moving average of its upstream
    counts, time constant ``rate_window_s``); while it is green it falls by the vehicles
    crossing the stop line. It never falls below the drift-corrected count between the
    loops (:class:`QueueTracker`) and is zeroed when a green lane's stop-line loop idles.
    """

    def __init__(self, lane_ids: tuple[str, ...], rate_window_s: float = 300.0,
                 idle_reset_s: float = 6.0, cap: float = 60.0) -> None:
        self._between = QueueTracker(lane_ids, idle_reset_s)
        self._rate = [0.0] * len(lane_ids)
        self._est = [0.0] * len(lane_ids)
        self._last_t: float | None = None
        self._window = rate_window_s
        self._idle_reset_s = idle_reset_s
        self._cap = cap

    def update(self, obs: Observation, green_lanes: tuple[int, ...] | frozenset[int]
               ) -> list[float]:
        """Estimated waiting vehicles per lane after this observation."""
        dt = 1.0 if self._last_t is None else max(obs.time_s - self._last_t, 0.0)
        self._last_t = obs.time_s
        between = self._between.update(obs, green_lanes)
        alpha = min(1.0, dt / self._window) if dt > 0 else 0.0
        for i, r in enumerate(obs.lanes):
            if dt > 0:
                self._rate[i] += alpha * (r.upstream_count / dt - self._rate[i])
            if i in green_lanes:
                est = self._est[i] - r.stopline_count
                if r.gap_s >= self._idle_reset_s and not r.presence:
                    est = 0.0
            else:
                est = self._est[i] + self._rate[i] * dt
            self._est[i] = min(max(est, between[i] + (1.0 if r.presence else 0.0)), self._cap)
        return list(self._est)


def bus_count(reading: LaneReading) -> int:
    """Buses detected on the lane since the last observation (0 if the sensing lacks it)."""
    return int(getattr(reading, "bus_count", 0) or 0)
