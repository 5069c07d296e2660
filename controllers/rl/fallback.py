"""Runtime fallback of the learned controller: hand over to actuated control when the
detector inputs are implausible, and count the seconds spent so.

The ``rl`` controller in ``residual`` mode always runs actuated control inside; while the
monitor is active it plays actuated's decision instead of the policy's. A trigger keeps
the fallback on for ``hold_s`` after the last implausible second, so it does not flap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from controllers.actuated import ActuatedController
from controllers.common import require_positive
from controllers.rl.features import EnvelopeEncoder
from scenarios.observation import JunctionInfo, Observation


@dataclass(frozen=True)
class FallbackParams:
    """When inputs count as implausible.

    Attributes:
        enabled: whether the monitor may hand over at all.
        hold_s: the fallback stays on this long after the last implausible second.
        silent_s: a motor-vehicle lane whose loops saw nothing (no count, no presence, no
            occupancy) for this long while most other lanes of the junction are active
            counts as dropped (``dropped_lanes``) ...
        expected_veh: ... if at the lane's own mean rate so far at least this many
            vehicles would have passed in the silence (6: a Poisson stream stays silent
            that long with probability 0.25 %), so quiet turning lanes are not taken for
            broken.
        queue_between_veh: a drift-corrected queue between the loops beyond this (the
            35 m between the loops hold about 6 cars) is more than the sensors support.
        demand_veh: an estimated waiting queue (beyond the loops included) beyond this.
        red_grace_s: a stage with a call red for ``max_red_s`` plus this long.
        upstream_occupied_s: the upstream loop continuously occupied for this long.
    """

    enabled: bool = True
    hold_s: float = 120.0
    silent_s: float = 300.0
    expected_veh: float = 6.0
    queue_between_veh: float = 12.0
    demand_veh: float = 80.0
    red_grace_s: float = 60.0
    upstream_occupied_s: float = 60.0

    def __post_init__(self) -> None:
        require_positive(hold_s=self.hold_s, silent_s=self.silent_s,
                         expected_veh=self.expected_veh, queue_between_veh=self.queue_between_veh,
                         demand_veh=self.demand_veh, red_grace_s=self.red_grace_s,
                         upstream_occupied_s=self.upstream_occupied_s)


@dataclass
class FallbackMonitor:
    """Checks every observation; ``active`` says whether actuated control has the say."""

    info: JunctionInfo
    params: FallbackParams = field(default_factory=FallbackParams)
    seconds: int = 0
    fallback_seconds: int = 0
    triggers: dict[str, int] = field(default_factory=dict)
    reason: str = ""
    dropped_lanes: set[str] = field(default_factory=set)
    _until: float = -math.inf
    _last_active: list[float] = field(default_factory=list)
    _counted: list[int] = field(default_factory=list)
    _start: float | None = None

    def check(self, obs: Observation, features: EnvelopeEncoder,
              actuated: ActuatedController) -> bool:
        """Update with this second's observation; True while the fallback is on."""
        p = self.params
        now = obs.time_s
        self.seconds += 1
        reasons = self._reasons(obs, features, actuated)
        if reasons and p.enabled:
            if now >= self._until:  # a new episode of fallback
                for r in reasons:
                    self.triggers[r] = self.triggers.get(r, 0) + 1
            self._until = now + p.hold_s
            self.reason = reasons[0]
        active = p.enabled and now < self._until
        if active:
            self.fallback_seconds += 1
        return active

    @property
    def share(self) -> float:
        """Share of seconds under fallback."""
        return self.fallback_seconds / self.seconds if self.seconds else 0.0

    def _reasons(self, obs: Observation, features: EnvelopeEncoder,
                 actuated: ActuatedController) -> list[str]:
        p = self.params
        now = obs.time_s
        ids = [ln.lane for ln in self.info.lanes]
        if [r.lane for r in obs.lanes] != ids:
            return ["lane dropout (readings missing)"]
        out = []
        if not self._last_active:
            self._last_active = [now] * len(ids)
            self._counted = [0] * len(ids)
            self._start = now
        recent = 0
        for i, r in enumerate(obs.lanes):
            self._counted[i] += r.upstream_count
            if r.stopline_count or r.upstream_count or r.presence or r.occupancy > 0:
                self._last_active[i] = now
            recent += now - self._last_active[i] < 60.0
        span = max(now - (self._start if self._start is not None else now), 1.0)
        silent = [i for i, t in enumerate(self._last_active) if now - t >= p.silent_s
                  and not self.info.lanes[i].is_bicycle
                  and self._counted[i] / span * (now - t) >= p.expected_veh]
        if silent and recent >= len(ids) / 2:
            out.append("lane dropout (silent loops)")
            self.dropped_lanes.update(ids[i] for i in silent)
        if max(features.queue_between, default=0.0) > p.queue_between_veh \
                or max(features.demand, default=0.0) > p.demand_veh:
            out.append("queue estimate beyond sensor support")
        max_red = actuated.params.max_red_s or 120.0
        calls = actuated.calls(now)
        if any(calls[s] and s != obs.stage and actuated.history.red_s(s, now)
               > max_red + p.red_grace_s for s in range(len(calls))):
            out.append("stage with demand red past max_red")
        if max(features.upstream_occupied_s, default=0.0) > p.upstream_occupied_s:
            out.append("upstream loop occupied")
        return out
