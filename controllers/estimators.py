"""Detector estimators shared by every controller: gaps, queues between the loops, demand.

The one place where detector counts become queue estimates. Rule-based controllers and the
learned controller's features use these classes; nothing else integrates loop counts.
"""

from __future__ import annotations

import math

from scenarios.observation import Observation


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
