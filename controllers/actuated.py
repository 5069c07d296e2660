"""Vehicle-actuated control: demand calls, green extension, gap-out and max-out.

Per decision (every ``decision_interval_s``):

* A lane *calls* its stages when a loop detects a vehicle while none of its stages is
  shown (the call is locked until one of them is served). Stages without any detected
  lane (e.g. pedestrian-only stages without push buttons) are always called (recall),
  and so is a stage not shown for ``max_red_s``.
* The shown stage is held for at least ``min_green_s``. After that it *gaps out* when on
  all its lanes the time since the last vehicle passed either loop is at least
  ``max_gap_s``, and *maxes out* after ``max_green_s``.
* On gap-out or max-out the controller requests the next stage in cyclic order that has
  a call; a stage without a call is skipped. Without any call the green rests where it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from controllers.base import StageRequest
from controllers.common import (
    GreenLimits,
    StageHistory,
    StageMap,
    hold,
    require_positive,
)
from controllers.estimators import GapTracker, QueueTracker
from scenarios.observation import JunctionInfo, Observation


@dataclass(frozen=True)
class ActuatedParams:
    """Parameters of actuated control (defaults after SUMO ``actuated`` / RiLSA).

    Attributes:
        min_green_s: shortest green of a stage (raised to the groups' RiLSA minimum).
        max_green_s: longest green while other stages call (max-out).
        max_green_factor: a stage's max-out is also at most this multiple of its green in
            the junction's fixed-time plan (the plan as the frame: actuation shortens and
            skips greens but does not lengthen them), which keeps the splits sane when
            the junction saturates; 0 disables.
        max_gap_s: a stage gaps out when no vehicle passed its loops for this long.
        decision_interval_s: seconds between decisions.
        recall_undetected: always call stages that serve no detected lane.
        max_red_s: a stage not shown for this long is called even without a detection
            (vehicles that cannot reach their loops, e.g. a left-turn pocket blocked by
            the through queue, are not stranded); 0 disables.
    """

    min_green_s: float = 5.0
    max_green_s: float = 40.0
    max_gap_s: float = 3.0
    max_green_factor: float = 1.0
    decision_interval_s: float = 1.0
    recall_undetected: bool = True
    max_red_s: float = 120.0

    def __post_init__(self) -> None:
        require_positive(min_green_s=self.min_green_s, max_green_s=self.max_green_s,
                         max_gap_s=self.max_gap_s, decision_interval_s=self.decision_interval_s)
        if self.max_green_s < self.min_green_s:
            raise ValueError("parameter 'max_green_s' must be >= 'min_green_s'")
        if self.max_red_s < 0 or self.max_green_factor < 0:
            raise ValueError("parameters 'max_red_s' and 'max_green_factor' must be >= 0")


class ActuatedController:
    """Gap-out / max-out actuated control with demand calls and stage skipping."""

    name = "actuated"
    needs_detectors = True

    def __init__(self, info: JunctionInfo, params: ActuatedParams | None = None,
                 limits: GreenLimits | None = None) -> None:
        self.params = params or ActuatedParams()
        self.decision_interval_s = self.params.decision_interval_s
        self.map = StageMap.from_info(info)
        limits = limits or GreenLimits.unbounded(self.map.n_stages)
        self.limits = limits.bounded(self.params.min_green_s, self.params.max_green_s)
        self.history = StageHistory()
        self._gaps = GapTracker(len(info.lanes))
        self._queues = QueueTracker(tuple(lane.lane for lane in info.lanes))
        self._active = [False] * len(info.lanes)
        self._lane_call = [False] * len(info.lanes)
        self.last_reason = ""

    # ---------------------------------------------------------------- sensing
    def update(self, obs: Observation) -> None:
        """Update calls and per-lane activity (vehicles still to be served) from readings.

        A lane is active while a vehicle is on its stop-line loop, a vehicle crossed its
        upstream loop less than max-gap ago, or a queue between the loops is still
        discharging (the stop-line loop saw a vehicle less than max-gap ago).
        """
        up_gaps = self._gaps.update(obs)
        shown = obs.stage
        green = frozenset(self.map.lanes_of_stage[shown]) if shown is not None else frozenset()
        idle = [min(u, r.gap_s) for u, r in zip(up_gaps, obs.lanes, strict=True)]
        queues = self._queues.update(obs, green, idle)
        gap = self.params.max_gap_s
        for i, r in enumerate(obs.lanes):
            self._active[i] = (r.presence or up_gaps[i] < gap
                               or (queues[i] >= 1.0 and r.gap_s < gap))
            if i in green:
                self._lane_call[i] = False
            elif (r.upstream_count > 0 or r.stopline_count > 0 or r.presence
                  or queues[i] >= 1.0):
                self._lane_call[i] = True

    def calls(self, now: float | None = None) -> list[bool]:
        """Per stage: whether it has a call (detected vehicle, recall, or max red)."""
        out = []
        max_red = self.params.max_red_s
        for s in range(self.map.n_stages):
            lanes = self.map.lanes_of_stage[s]
            if not lanes:
                out.append(self.params.recall_undetected)
            else:
                out.append(any(self._lane_call[i] for i in lanes)
                           or (now is not None and max_red > 0
                               and self.history.red_s(s, now) >= max_red))
        return out

    def gapped_out(self, stage: int) -> bool:
        """Whether no detected lane of ``stage`` is active any more."""
        return not any(self._active[i] for i in self.map.lanes_of_stage[stage])

    # --------------------------------------------------------------- decision
    def decide(self, obs: Observation) -> StageRequest:
        """Hold, or move to the next called stage on gap-out / max-out."""
        self.update(obs)
        self.history.update(obs)
        stage = obs.stage
        if stage is None:
            return StageRequest(hold(obs), "transition")
        t = obs.time_in_stage_s
        if t < self.limits.min_green[stage]:
            return StageRequest(stage, "min green")
        calls = self.calls(obs.time_s)
        nxt = self.map.next_in_cycle(stage, calls)
        if nxt is None:
            return StageRequest(stage, "rest: no call")
        if t >= self.limits.max_for(self.history.previous, stage):
            return StageRequest(nxt, "max-out")
        if self.gapped_out(stage):
            return StageRequest(nxt, "gap-out")
        return StageRequest(stage, "extend")


def stage_green_bounds(info: JunctionInfo, stage_groups: list[frozenset[str]]
                       ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per stage: the largest minimum green and the smallest maximum green of its groups."""
    idx = {name: k for k, name in enumerate(info.group_names)}
    mins, maxs = [], []
    for groups in stage_groups:
        ks = [idx[g] for g in groups if g in idx]
        mins.append(max((info.min_green_s[k] for k in ks), default=0.0))
        maxs.append(min((info.max_green_s[k] for k in ks), default=float("inf")))
    return tuple(mins), tuple(maxs)
