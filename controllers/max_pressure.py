"""Max-pressure control (Varaiya 2013), decentralised, on detector queues.

The pressure of a movement (approach lane -> outgoing lane) is the queue on the approach
lane minus the queue on the outgoing lane; the pressure of a stage is the sum over the
movements it serves, each weighted by the share of the approach lane's movements. The
queues come from the loops: the input-output estimate between the upstream and the
stop-line loop (corrected for count drift), plus one vehicle standing on the stop-line
loop. Outgoing lanes that are approach lanes of another junction of the same scenario
take that junction's latest queue from a :class:`QueueBoard` shared by the junctions'
controllers; undetected outgoing lanes count as empty (the network exit).

A lane served only partly by a stage (a shared lane whose other movements are red in it)
adds its pressure weighted by the share of its movements the stage serves. A
partial-only stage (e.g. a left-turn arrow on shared lanes whose left turners may also go
permissively; loops cannot see turning intentions) gets pressure only after a vehicle was
seen blocked at the head of such a lane (:class:`~controllers.common.HeadBlocking`).

Every ``decision_interval_s`` the controller picks the stage of highest pressure; the
shown stage keeps the green while its queue still discharges (a stop-line loop of a lane it
fully serves detected a vehicle within ``discharge_gap_s``; on a lane it serves partly,
the loop's count rose within ``discharge_gap_s``: a red through vehicle standing on the
loop does not count) and unless another beats it by more than
``hysteresis`` vehicles (a switch costs an interstage of lost time). A waiting stage's
pressure grows with its red time (``age_s``). A stage that has waited ``max_red_s`` is
served next, even without pressure (vehicles the loops cannot see); ``max_green_s``
bounds a green while other stages have pressure; stages without detected lanes are given
``recall_pressure``.

Spill-back (``spillback_s``): a lane whose upstream loop is occupied while no vehicle has
crossed it for ``spillback_s`` (a vehicle stands or creeps on it) is *spilling back*: its
queue reaches the loop, which on a lane shorter than the loop distance is the lane's entry,
i.e. the junction upstream. A movement into a spilling lane cannot discharge (downstream
blocking, read from the board): its pressure counts zero (a lane with several outgoing
lanes loses that share) and it does not hold the green as "discharging". With
``spillback_feed`` the spilling lane's own estimate also adds the queues heading into it
at the upstream junction. Without downstream blocking, traffic lights 12-15 m apart on
ingolstadt21 gridlocked in the box (vehicles standing on the internal lanes that the
others yield to) until SUMO teleported them; with it, less often.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from controllers.base import StageRequest
from controllers.common import (
    NO_LANES,
    GreenLimits,
    HeadBlocking,
    StageHistory,
    StageMap,
    hold,
    require_positive,
)
from controllers.estimators import DemandEstimator, DischargeTracker
from scenarios.observation import JunctionInfo, Observation
from signals.errors import ParameterError

#: vehicles waiting on the lane a movement enters from which on it counts as spilling back
SPILLBACK_VEH = 6.0


@dataclass
class QueueBoard:
    """Latest queue per detected lane, shared by the controllers of one scenario run, with
    whether the lane spills back and the queues heading into it (spill-back rules).

    Entries older than ``max_age_s`` (or from the future, i.e. a previous run) are ignored.
    """

    max_age_s: float = 10.0
    _queues: dict[str, tuple[float, float]] = field(default_factory=dict)
    _spilling: dict[str, tuple[float, bool]] = field(default_factory=dict)
    _feeds: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)

    def publish(self, time_s: float, queues: dict[str, float],
                spilling: dict[str, bool] | None = None) -> None:
        """Store this junction's queues (and which lanes spill back) at ``time_s``."""
        for lane, q in queues.items():
            self._queues[lane] = (time_s, q)
        for lane, flag in (spilling or {}).items():
            self._spilling[lane] = (time_s, flag)

    def publish_feeds(self, junction: str, time_s: float, feeds: dict[str, float]) -> None:
        """Store the queues of ``junction`` heading into each of its outgoing lanes."""
        for lane, q in feeds.items():
            self._feeds.setdefault(lane, {})[junction] = (time_s, q)

    def _fresh(self, entry_s: float, time_s: float) -> bool:
        return 0 <= time_s - entry_s <= self.max_age_s

    def queue(self, lane: str, time_s: float) -> float:
        """The lane's queue if fresh, else 0."""
        entry = self._queues.get(lane)
        if entry is None or not self._fresh(entry[0], time_s):
            return 0.0
        return entry[1]

    def spilling(self, lane: str, time_s: float) -> bool:
        """Whether the lane spilled back at its junction's latest fresh observation."""
        entry = self._spilling.get(lane)
        return entry is not None and self._fresh(entry[0], time_s) and entry[1]

    def feed(self, lane: str, time_s: float) -> float:
        """The fresh queues heading into the lane, summed over the junctions feeding it."""
        return sum(q for t, q in self._feeds.get(lane, {}).values() if self._fresh(t, time_s))


@dataclass(frozen=True)
class MaxPressureParams:
    """Parameters of max-pressure control.

    Attributes:
        decision_interval_s: seconds between stage choices.
        min_green_s: shortest green (raised to the groups' RiLSA minimum).
        max_green_s: longest green while another stage has positive pressure.
        hysteresis: pressure (vehicles) by which another stage must beat the shown one.
        recall_pressure: pressure given to stages that serve no detected lane.
        discharge_gap_s: while a lane of the shown stage discharges (see above) within
            this many seconds, its queue still flows at saturation and the stage is kept
            (0 disables; ``max_green_s`` still applies).
        blocked_s: a vehicle standing twice this long on the stop-line loop of a fully
            green lane while nothing crosses and the lane it enters is full (spillback)
            does not hold the stage as discharging.
        arrow_call_s: a vehicle standing this long there gives the lane's partial-only
            stages (left arrows on shared lanes) pressure; 0: they never get any.
        max_green_factor: the green is also at most this multiple of the stage's green in
            the junction's fixed-time plan; 0 disables.
        max_red_s: a stage that has not been shown for this long is served next,
            whatever the pressures (no starvation, also of vehicles the loops cannot see;
            partial-only stages excepted); 0 disables.
        age_s: when choosing the next stage, a waiting stage's pressure counts
            ``1 + red / age_s`` times (red: seconds since it was last shown), so a
            stage with few lanes (a left arrow) is not left waiting for ``max_red_s``
            behind the two-lane through stages (measured on the Hamm scenarios: left
            turners waited 180 s); 0 disables. 60 s was chosen over 0, 30 and 120 s on
            the Hamm tuning seeds 1-6 (loops and camera).
        spillback_s: a lane whose upstream loop is occupied and has counted no vehicle
            for this long spills back: movements into it get no pressure and do not hold
            the green (see the module docstring); 0 disables.
        spillback_feed: whether a spilling lane's estimate also adds the queues heading
            into it at the upstream junction (the second spill-back rule; off by default:
            on ingolstadt21 it removed the teleports with loops but added some with
            cameras, see the 2026-12-02 results).
    """

    decision_interval_s: float = 2.0
    min_green_s: float = 6.0
    max_green_s: float = 50.0
    hysteresis: float = 1.0
    recall_pressure: float = 0.5
    discharge_gap_s: float = 2.0
    max_red_s: float = 180.0
    max_green_factor: float = 0.0
    blocked_s: float = 5.0
    arrow_call_s: float = 0.0
    age_s: float = 60.0
    spillback_s: float = 4.0
    spillback_feed: bool = False

    def __post_init__(self) -> None:
        require_positive(decision_interval_s=self.decision_interval_s,
                         min_green_s=self.min_green_s, max_green_s=self.max_green_s,
                         blocked_s=self.blocked_s)
        if min(self.hysteresis, self.recall_pressure, self.discharge_gap_s, self.max_red_s,
               self.max_green_factor, self.arrow_call_s, self.age_s, self.spillback_s) < 0:
            raise ParameterError("parameters 'hysteresis', 'recall_pressure', 'discharge_gap_s', "
                                 "'max_red_s', 'max_green_factor', 'arrow_call_s', 'age_s' "
                                 "and 'spillback_s' must be >= 0")
        if self.max_green_s < self.min_green_s:
            raise ParameterError("parameter 'max_green_s' must be >= 'min_green_s'")


class MaxPressureController:
    """Chooses the stage that maximises the sum of movement pressures."""

    name = "max-pressure"
    needs_detectors = True

    def __init__(self, info: JunctionInfo, params: MaxPressureParams | None = None,
                 board: QueueBoard | None = None,
                 limits: GreenLimits | None = None) -> None:
        self.params = params or MaxPressureParams()
        self.decision_interval_s = self.params.decision_interval_s
        self.map = StageMap.from_info(info)
        self.info = info
        limits = limits or GreenLimits.unbounded(self.map.n_stages)
        self.limits = limits.bounded(self.params.min_green_s, self.params.max_green_s)
        self.history = StageHistory()
        self.board = board if board is not None else QueueBoard()
        self._queues = DemandEstimator(tuple(lane.lane for lane in info.lanes))
        self._discharge = DischargeTracker(len(info.lanes))
        self._blocking = HeadBlocking(self.map, self.params.blocked_s,
                                      self.params.arrow_call_s)
        self._since_count = [float("inf")] * len(info.lanes)
        self._down = [0.0] * len(info.lanes)
        #: per lane: the share of its outgoing lanes that spill back (last observation)
        self.blocked = [0.0] * len(info.lanes)
        #: per lane: whether it spills back (last observation)
        self.spilling = [False] * len(info.lanes)
        self._up_count_s = [-math.inf] * len(info.lanes)

    def pressures(self, obs: Observation) -> list[float]:
        """Pressure of every stage for this observation (updates the shared board)."""
        stage = obs.stage
        green = self.map.full_sets[stage] if stage is not None else NO_LANES
        upstream = self._queues.update(obs, green)
        self._since_count = self._discharge.update(obs)
        partial_calls = self._blocking.update(obs, self._since_count)
        now = obs.time_s
        spill = self.params.spillback_s
        if spill > 0:
            self._update_spilling(obs)
        self.board.publish(now, {r.lane: u for r, u in zip(obs.lanes, upstream, strict=True)},
                           {r.lane: b for r, b in zip(obs.lanes, self.spilling, strict=True)}
                           if spill > 0 else None)
        if spill > 0 and self.params.spillback_feed:
            self.board.publish_feeds(self.info.junction, now, self._feeds(upstream))
            upstream = [u + self.board.feed(r.lane, now) if b else u
                        for u, r, b in zip(upstream, obs.lanes, self.spilling, strict=True)]
        lane_pressure = []
        for i, lane in enumerate(self.info.lanes):
            outs = lane.outgoing or ("",)
            down = sum(self.board.queue(o, now) for o in outs if o) / len(outs)
            self._down[i] = down
            blocked = (sum(self.board.spilling(o, now) for o in outs if o) / len(outs)
                       if spill > 0 else 0.0)
            self.blocked[i] = blocked
            lane_pressure.append((upstream[i] - down) * (1.0 - blocked))
        out = []
        for s in range(self.map.n_stages):
            lanes = self.map.lanes_of_stage[s]
            if not lanes:
                out.append(self.params.recall_pressure)
            elif self.map.partial_only(s) and s not in partial_calls:
                out.append(0.0)
            else:
                share = self.map.share[s] if self.map.share else {}
                out.append(sum(share.get(i, 1.0) * lane_pressure[i] for i in lanes))
        return out

    def _update_spilling(self, obs: Observation) -> None:
        """Which lanes spill back: the upstream loop occupied now and no vehicle counted
        over it for ``spillback_s`` (a vehicle stands on it or creeps over it)."""
        now, last = obs.time_s, self._up_count_s
        for i, r in enumerate(obs.lanes):
            if r.upstream_count > 0:
                last[i] = now
            self.spilling[i] = (r.upstream_occupancy > 0
                                and now - last[i] >= self.params.spillback_s)

    def _feeds(self, upstream: list[float]) -> dict[str, float]:
        """Per outgoing lane, the waiting vehicles heading into it (a lane's estimate split
        evenly over its outgoing lanes, as the downstream queue is averaged)."""
        feeds: dict[str, float] = {}
        for u, lane in zip(upstream, self.info.lanes, strict=True):
            outs = lane.outgoing or ("",)
            for o in outs:
                if o:
                    feeds[o] = feeds.get(o, 0.0) + u / len(outs)
        return feeds

    def decide(self, obs: Observation) -> StageRequest:
        """Request the stage of highest pressure (min/max green and hysteresis apply)."""
        pressures = self.pressures(obs)
        self.history.update(obs)
        stage = obs.stage
        if stage is None:
            return StageRequest(hold(obs), "transition")
        if obs.time_in_stage_s < self.limits.min_green[stage]:
            return StageRequest(stage, "min green")
        others = [s for s in range(self.map.n_stages) if s != stage]
        if not others:
            return StageRequest(stage, "single stage")
        if self.params.age_s > 0:
            pressures = [p * (1.0 + self.history.red_s(s, obs.time_s) / self.params.age_s)
                         if s != stage and p > 0 else p for s, p in enumerate(pressures)]
        # ties go to the next stage in cyclic order
        best = max(others, key=lambda s: (pressures[s], -((s - stage) % self.map.n_stages)))
        if self.params.max_red_s > 0:
            # also without pressure: vehicles that cannot reach the loops (e.g. standing in
            # the upstream junction before a lane shorter than a car) are not seen at all
            starved = [s for s in others if (pressures[s] > 0 or not self.map.partial_only(s))
                       and self.history.red_s(s, obs.time_s) >= self.params.max_red_s]
            if starved:
                oldest = max(starved, key=lambda s: self.history.red_s(s, obs.time_s))
                return StageRequest(oldest, "max red")
        max_green = self.limits.max_for(self.history.previous, stage)
        if obs.time_in_stage_s >= max_green and pressures[best] > 0:
            return StageRequest(best, "max green")
        gap = self.params.discharge_gap_s
        full = self.map.full(stage)
        # a vehicle standing this long while the lane it enters is full does not discharge
        # (spillback); one standing before an empty exit waits to go (e.g. for pedestrians)
        stuck = 2.0 * self.params.blocked_s
        # a lane whose every outgoing lane spills back cannot discharge
        discharging = (any(obs.lanes[i].gap_s < gap and self.blocked[i] < 1.0
                           and (self._down[i] < SPILLBACK_VEH
                                or min(obs.time_in_stage_s, self._since_count[i]) < stuck)
                           for i in full)
                       or any(self._since_count[i] < gap
                              for i in self.map.lanes_of_stage[stage] if i not in full))
        if discharging:
            return StageRequest(stage, "queue discharging")
        if pressures[best] > pressures[stage] + self.params.hysteresis:
            return StageRequest(best, f"pressure {pressures[best]:.1f} > {pressures[stage]:.1f}")
        return StageRequest(stage, "highest pressure")
