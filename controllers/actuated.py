"""Vehicle-actuated control: demand calls, green extension, gap-out and max-out.

Per decision (every ``decision_interval_s``):

* A lane *calls* the stages that serve it (its calling stages, see
  :class:`~controllers.common.StageMap`) when a loop detects a vehicle while it is not
  fully green. Calls are kept per (lane, stage) and a call is cleared only when its own
  stage is shown, or when the lane is fully green (its vehicles are being served).
  Stages without any detected lane (e.g. pedestrian-only stages without push buttons)
  are always called (recall), and so is a called-by-loops stage not shown for
  ``max_red_s``.
* A *partial-only* stage (it serves some movements of shared lanes that have a stage
  serving them fully, e.g. a left-turn arrow on a shared through/left lane) is called
  only when a vehicle stands on the stop-line loop of such a lane for ``blocked_s``
  while its lane is fully green and nothing crosses: it waits for a movement not served
  (a left turner without a gap). It runs for its minimum green plus extensions from
  vehicles that actually cross the stop line.
* The shown stage is held for at least ``min_green_s``. After that it *gaps out* when no
  lane extends it any more, and *maxes out* after ``max_green_s``. A lane extends only
  the stages that serve all of its movements (a red through movement on a shared lane
  must not hold a right-turn stage): while a vehicle crossed its upstream loop less than
  ``max_gap_s`` ago, a vehicle stands on its stop-line loop (unless blocked, see above),
  or its queue between the loops still discharges. A lane served only partly extends
  while its stop-line count rises (its served movement flows).
* On gap-out or max-out the controller requests the next stage in cyclic order that has
  a call; a stage without a call is skipped. Without any call the green rests where it is.

Sensing profiles: an ``advance`` loop's counts call a lane's stages earlier; a
``camera``'s halting vehicles call them too. Extension and gap-out stay with the loops
(every profile has them): the upstream loop sees exactly the vehicles that reach the stop
line within the gap time, while vehicles anywhere in the camera's 100 m view (moving, or
halting behind the discharge) kept greens running to max-out that the loops end on their
gap (measured on the Hamm scenarios: twice the max-outs, 1-6 s more delay).
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
        blocked_s: a vehicle standing this long on the stop-line loop of a green lane
            while the loop counts nothing is blocked (it waits for a movement not
            served); it no longer extends.
        arrow_call_s: a vehicle blocked this long calls the lane's partial-only stages
            (left arrows on shared lanes); 0: they are never served.
        min_gap_s: volume-density operation: after the minimum green the allowed gap
            falls linearly from ``max_gap_s`` to this over ``gap_reduction_s`` of green;
            0: off (measured: better on all five RESCO networks, worse on four of the six
            Hamm scenarios, so off by default).
        gap_reduction_s: seconds of green over which the gap falls to ``min_gap_s``.
    """

    min_green_s: float = 5.0
    max_green_s: float = 40.0
    max_gap_s: float = 3.0
    max_green_factor: float = 1.0
    decision_interval_s: float = 1.0
    recall_undetected: bool = True
    max_red_s: float = 120.0
    blocked_s: float = 5.0
    arrow_call_s: float = 0.0
    min_gap_s: float = 0.0
    gap_reduction_s: float = 20.0

    def __post_init__(self) -> None:
        require_positive(min_green_s=self.min_green_s, max_green_s=self.max_green_s,
                         max_gap_s=self.max_gap_s, decision_interval_s=self.decision_interval_s,
                         blocked_s=self.blocked_s, gap_reduction_s=self.gap_reduction_s)
        if self.max_green_s < self.min_green_s:
            raise ParameterError("parameter 'max_green_s' must be >= 'min_green_s'")
        if min(self.max_red_s, self.max_green_factor, self.arrow_call_s, self.min_gap_s) < 0:
            raise ParameterError("parameters 'max_red_s', 'max_green_factor', 'arrow_call_s' and "
                                 "'min_gap_s' must be >= 0")


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
        n = len(info.lanes)
        self._gaps = GapTracker(n)
        self._queues = QueueTracker(tuple(lane.lane for lane in info.lanes), use_camera=False)
        self._discharge = DischargeTracker(n)
        self._active_full = [False] * n
        self._active_partial = [False] * n
        self._calls: set[tuple[int, int]] = set()
        #: per lane its (lane, calling stage) pairs; per stage its (lane, stage) pairs
        self._lane_pairs = tuple(tuple((i, s) for s in calling)
                                 for i, calling in enumerate(self.map.calling_stages_of_lane))
        self._stage_pairs = tuple(tuple((i, s) for i in lanes)
                                  for s, lanes in enumerate(self.map.lanes_of_stage))
        self._blocking = HeadBlocking(self.map, self.params.blocked_s,
                                      self.params.arrow_call_s)
        self._partial_calls: frozenset[int] = frozenset()
        self.last_reason = ""

    # ---------------------------------------------------------------- sensing
    def update(self, obs: Observation) -> None:
        """Update calls and per-lane activity (vehicles still to be served) from readings.

        A lane is active for a stage serving all its movements while a vehicle crossed
        its upstream loop less than max-gap ago, a vehicle stands on its stop-line loop
        (and is not blocked), or a queue between the loops still discharges; for a stage
        serving it partly, only while its stop-line count rises. A camera's halting
        vehicles call (they do not extend: see the module docstring).
        """
        up_gaps = self._gaps.update(obs)
        since_count = self._discharge.update(obs)
        shown = obs.stage
        stage_map = self.map
        full = stage_map.full_sets[shown] if shown is not None else NO_LANES
        green = stage_map.lane_sets[shown] if shown is not None else NO_LANES
        queues = self._queues.update(obs, full)
        gap = self.params.max_gap_s
        if 0 < self.params.min_gap_s < gap and shown is not None:
            # volume-density: the allowed gap shrinks as the green runs on
            over = max(0.0, obs.time_in_stage_s - self.limits.min_green[shown])
            gap = max(self.params.min_gap_s,
                      gap - (gap - self.params.min_gap_s) * over / self.params.gap_reduction_s)
        self._partial_calls = self._blocking.update(obs, since_count)
        blocked_lanes = self._blocking.blocked
        active_full, active_partial = self._active_full, self._active_partial
        calls, pairs = self._calls, self._lane_pairs
        for i, r in enumerate(obs.lanes):
            blocked = blocked_lanes[i]
            active_full[i] = ((r.presence and not blocked) or up_gaps[i] < gap
                              or (queues[i] >= 1.0 and r.gap_s < gap and not blocked))
            active_partial[i] = since_count[i] < gap
            if i in full:
                if calls:
                    calls.difference_update(pairs[i])
                continue
            if i in green:
                calls.discard((i, shown))
            detected = (r.upstream_count > 0 or r.stopline_count > 0 or r.presence
                        or queues[i] >= 1.0 or bool(r.advance_count)
                        or (r.camera_queue or 0.0) >= 1.0)
            if detected:
                calls.update(p for p in pairs[i] if p[1] != shown)

    def calls(self, now: float | None = None) -> list[bool]:
        """Per stage: whether it has a call (detected vehicle, recall, or max red)."""
        out = []
        max_red = self.params.max_red_s
        partial_only = self.map.partial_only_stages
        for s in range(self.map.n_stages):
            if not self.map.lanes_of_stage[s]:
                out.append(self.params.recall_undetected)
                continue
            called = (s in self._partial_calls
                      or not self._calls.isdisjoint(self._stage_pairs[s]))
            starved = (now is not None and max_red > 0 and not partial_only[s]
                       and self.history.red_s(s, now) >= max_red)
            out.append(called or starved)
        return out

    def gapped_out(self, stage: int) -> bool:
        """Whether no detected lane of ``stage`` is active any more."""
        full = self.map.full(stage)
        if any(self._active_full[i] for i in full):
            return False
        return not any(self._active_partial[i] for i in self.map.lanes_of_stage[stage]
                       if i not in full)

    # --------------------------------------------------------------- decision
    def decide(self, obs: Observation) -> StageRequest:
        """Hold, or move to the next called stage on gap-out / max-out."""
        request = self._decide(obs)
        self.last_reason = request.reason
        return request

    def _decide(self, obs: Observation) -> StageRequest:
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
