"""SOTL, the self-organising traffic light (Gershenson 2005, "platoon" variant).

Per decision:

1. A counter integrates, second by second, the vehicles waiting or approaching on red
   (queue between the loops plus vehicles on the stop-line loop) of every stage that is
   not shown; it restarts when the stage changes.
2. Once the shown stage has run ``min_green_s`` and the counter reaches ``theta``
   (vehicle-seconds), the controller switches to the next stage in cyclic order on
   which vehicles waited (stages without demand are skipped) ...
3. ... unless a platoon is crossing: between 1 and ``mu`` vehicles are approaching the
   green within the detected zone, so the tail of the platoon is let through
   (platoon protection). Larger platoons are cut, so that a stream cannot hold the
   green forever; ``max_green_s`` bounds the green in any case.
4. When nothing approaches the green and something waits on red, switch at once
   (after the minimum green).

Shared lanes: a lane counts as served only by stages that serve all its movements; its
vehicles wait for the stages its detections call (:class:`~controllers.common.StageMap`),
and a partial-only stage (a left arrow on shared lanes) waits only after a vehicle was
seen blocked at the head of such a lane.

Sensing: SOTL counts from the loops under every profile. With the ``camera`` profile's
queue counts (every halting vehicle in 100 m view) its counter reached ``theta`` sooner
and it switched more often: 0.4-12.0 s more total delay than with loops on all six Hamm
scenarios (test seeds 2001-2006, revision 13fcd79).
"""

from __future__ import annotations

from dataclasses import dataclass

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
from controllers.estimators import DischargeTracker, GapTracker, QueueTracker
from scenarios.observation import JunctionInfo, Observation
from signals.errors import ParameterError


@dataclass(frozen=True)
class SotlParams:
    """Parameters of SOTL.

    Attributes:
        theta: vehicle-seconds waiting on red that trigger a switch.
        mu: platoon protection: do not switch while 1..mu vehicles approach the green.
        min_green_s: shortest green (raised to the groups' RiLSA minimum).
        max_green_s: longest green when others wait.
        approach_gap_s: a vehicle counts as approaching the green while its lane's loops
            saw a vehicle within this many seconds.
        decision_interval_s: seconds between decisions.
        max_green_factor: the green is also at most this multiple of the stage's green in
            the junction's fixed-time plan; 0 disables.
        max_red_s: a stage not shown for this long counts as one waiting vehicle even
            without a detection (vehicles that cannot reach their loops); 0 disables.
        arrow_call_s: a vehicle standing this long on the stop-line loop of a green shared
            lane while nothing crosses makes the lane's partial-only stages (left arrows)
            wait; 0: they are never served.
    """

    theta: float = 400.0
    mu: int = 6
    min_green_s: float = 6.0
    max_green_s: float = 45.0
    approach_gap_s: float = 2.0
    decision_interval_s: float = 1.0
    max_red_s: float = 120.0
    max_green_factor: float = 1.0
    arrow_call_s: float = 0.0

    def __post_init__(self) -> None:
        require_positive(theta=self.theta, min_green_s=self.min_green_s,
                         max_green_s=self.max_green_s, approach_gap_s=self.approach_gap_s,
                         decision_interval_s=self.decision_interval_s)
        if min(self.max_red_s, self.max_green_factor, self.arrow_call_s) < 0:
            raise ParameterError("parameters 'max_red_s', 'max_green_factor' and 'arrow_call_s' "
                                 "must be >= 0")
        if self.mu < 0:
            raise ParameterError("parameter 'mu' must be >= 0")
        if self.max_green_s < self.min_green_s:
            raise ParameterError("parameter 'max_green_s' must be >= 'min_green_s'")


class SotlController:
    """Self-organising control with a platoon-protection threshold."""

    name = "sotl"
    needs_detectors = True

    def __init__(self, info: JunctionInfo, params: SotlParams | None = None,
                 limits: GreenLimits | None = None) -> None:
        self.params = params or SotlParams()
        self.decision_interval_s = self.params.decision_interval_s
        self.map = StageMap.from_info(info)
        limits = limits or GreenLimits.unbounded(self.map.n_stages)
        self.limits = limits.bounded(self.params.min_green_s, self.params.max_green_s)
        self.history = StageHistory()
        self._gaps = GapTracker(len(info.lanes))
        self._queues = QueueTracker(tuple(lane.lane for lane in info.lanes), use_camera=False)
        self._discharge = DischargeTracker(len(info.lanes))
        self._blocking = HeadBlocking(self.map, call_s=self.params.arrow_call_s)
        self.last_reason = ""
        self._kappa = 0.0
        self._kappa_stage: int | None = None
        self._waiting = [0.0] * self.map.n_stages

    def decide(self, obs: Observation) -> StageRequest:
        """Integrate demand on red and switch by the SOTL rules."""
        request = self._decide(obs)
        self.last_reason = request.reason
        return request

    def _decide(self, obs: Observation) -> StageRequest:
        stage = obs.stage
        self.history.update(obs)
        gaps = self._gaps.update(obs)
        since_count = self._discharge.update(obs)
        partial_calls = self._blocking.update(obs, since_count)
        green = self.map.full_sets[stage] if stage is not None else NO_LANES
        queues = self._queues.update(obs, green, gaps)
        if stage is None:
            return StageRequest(hold(obs), "transition")
        if stage != self._kappa_stage:
            self._kappa_stage = stage
            self._kappa = 0.0
            self._waiting = [0.0] * self.map.n_stages
        red_lanes = [i for i in range(len(obs.lanes)) if i not in green]
        demand = [queues[i] + (1.0 if obs.lanes[i].presence else 0.0) for i in range(len(queues))]
        on_red = sum(demand[i] for i in red_lanes)
        for s in range(self.map.n_stages):
            if s == stage:
                continue
            lanes = self.map.lanes_of_stage[s]
            if self.map.partial_only(s):
                wait = (sum(demand[i] for i in lanes if i not in green)
                        if s in partial_calls else 0.0)
            else:
                wait = sum(demand[i] for i in self.map.called_by(s) if i not in green)
            # a stage without detected lanes (e.g. pedestrians only) is always on recall,
            # and so is one not shown for max_red_s
            starved = (self.params.max_red_s > 0
                       and self.history.red_s(s, obs.time_s) >= self.params.max_red_s)
            recall = 1.0 if (not lanes or (starved and wait <= 0
                                           and not self.map.partial_only(s))) else 0.0
            self._waiting[s] += (wait + recall) * self.decision_interval_s
            on_red += recall
        self._kappa += on_red * self.decision_interval_s
        t = obs.time_in_stage_s
        if t < self.limits.min_green[stage] or on_red <= 0:
            return StageRequest(stage, "min green" if on_red > 0 else "no demand on red")
        target = self.map.next_in_cycle(stage, [w > 0 for w in self._waiting])
        if target is None:
            return StageRequest(stage, "no stage waits")
        if t >= self.limits.max_for(self.history.previous, stage):
            return StageRequest(target, "max green")
        approaching = sum(max(demand[i], 1.0 if gaps[i] < self.params.approach_gap_s else 0.0)
                          for i in green)
        approaching += sum(1.0 for i in self.map.lanes_of_stage[stage]
                           if i not in green and since_count[i] < self.params.approach_gap_s)
        if approaching <= 0:
            return StageRequest(target, "green empty")
        if self._kappa >= self.params.theta:
            if 0 < approaching <= self.params.mu:
                return StageRequest(stage, "platoon protection")
            return StageRequest(target, "threshold")
        return StageRequest(stage, "counting")
