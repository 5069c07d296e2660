"""Public-transport priority (ÖPNV-Bevorrechtigung) as a wrapper around any controller.

A bus detected by a lane's upstream loop (``LaneReading.bus_count``) registers a
priority request for the stages serving that lane, valid for ``request_s`` seconds (the
time the bus needs from the loop through the stop line, a short queue included).

* **Green extension**: if a requested stage is shown and the base controller wants to
  leave it, the stage is held, for at most ``max_extension_s``.
* **Early green**: if another stage is shown, it is cut short once it has run
  ``min_cross_green_s`` (never below its minimum green) and the requested stage is
  asked for.

Limits so that cross traffic is not starved: at most one priority intervention per
``min_interval_s`` per junction, the extension cap, and the floor on a truncated
green. The sequencer still builds every transition and enforces minimum and maximum
green; the wrapper only changes which stage is requested.
"""

from __future__ import annotations

from dataclasses import dataclass

from controllers.base import Controller, StageRequest
from controllers.common import StageMap, bus_count, require_non_negative, require_positive
from scenarios.observation import JunctionInfo, Observation


@dataclass(frozen=True)
class BusPriorityParams:
    """Parameters of bus priority.

    Attributes:
        request_s: how long a detection keeps its priority request.
        max_extension_s: longest green extension for one bus.
        min_cross_green_s: a stage cut short for an early green runs at least this long.
        min_interval_s: at most one intervention (extension or early green) per interval.
        decision_interval_s: seconds between decisions (the base controller's if 0).
    """

    request_s: float = 15.0
    max_extension_s: float = 12.0
    min_cross_green_s: float = 8.0
    min_interval_s: float = 60.0
    decision_interval_s: float = 0.0

    def __post_init__(self) -> None:
        require_positive(request_s=self.request_s)
        require_non_negative(max_extension_s=self.max_extension_s,
                             min_cross_green_s=self.min_cross_green_s,
                             min_interval_s=self.min_interval_s,
                             decision_interval_s=self.decision_interval_s)


class BusPriorityController:
    """Wraps a base controller and bends its requests for detected buses."""

    needs_detectors = True

    def __init__(self, base: Controller, info: JunctionInfo,
                 params: BusPriorityParams | None = None) -> None:
        self.base = base
        self.params = params or BusPriorityParams()
        self.name = f"bus-priority({base.name})"
        self.decision_interval_s = self.params.decision_interval_s or base.decision_interval_s
        self.map = StageMap.from_info(info)
        self._requests: list[tuple[float, tuple[int, ...]]] = []  # (expires, stages)
        self._last_intervention = -float("inf")
        self._hold: tuple[int, float, str] | None = None  # (stage, until, reason)
        self.interventions = 0

    def _active_stages(self, obs: Observation) -> set[int]:
        for i, r in enumerate(obs.lanes):
            if bus_count(r) > 0 and self.map.stages_of_lane[i]:
                self._requests.append((obs.time_s + self.params.request_s,
                                       self.map.stages_of_lane[i]))
        self._requests = [(t, s) for t, s in self._requests if t > obs.time_s]
        return {s for _, stages in self._requests for s in stages}

    def decide(self, obs: Observation) -> StageRequest:
        """The base controller's request, unless a bus gets an extension or early green."""
        wanted = self.base.decide(obs)
        active = self._active_stages(obs)
        now = obs.time_s
        if self._hold is not None:
            held, until, reason = self._hold
            if now < until and held in active:
                return StageRequest(held, reason)
            self._hold = None
        stage = obs.stage
        p = self.params
        if stage is None or not active or now - self._last_intervention < p.min_interval_s:
            return wanted
        if stage in active:
            if wanted.stage == stage or p.max_extension_s <= 0:
                return wanted
            reason = "bus priority: green extension"
            self._hold = (stage, now + p.max_extension_s, reason)
        else:
            if obs.time_in_stage_s < p.min_cross_green_s:
                return wanted
            target = self.map.next_in_cycle(stage, [s in active
                                                    for s in range(self.map.n_stages)])
            if target is None:
                return wanted
            stage, reason = target, "bus priority: early green"
            # hold the bus stage while the request lasts (the transition included)
            self._hold = (stage, now + p.request_s, reason)
        self._last_intervention = now
        self.interventions += 1
        return StageRequest(stage, reason)
