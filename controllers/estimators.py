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
        now, last = obs.time_s, self._last_up
        gaps: list[float] = []
        append = gaps.append
        for i, r in enumerate(obs.lanes):
            if r.upstream_count > 0:
                last[i] = now
            append(0.0 if r.presence else now - last[i])
        return gaps


class DischargeTracker:
    """Per lane, when the stop-line loop last *counted* a vehicle (a crossing).

    ``LaneReading.gap_s`` is SUMO's time since the last detection, which reads 0 while a
    vehicle merely stands on the loop. A queue discharges only while the count rises.
    """

    def __init__(self, n_lanes: int) -> None:
        self._last = [-math.inf] * n_lanes

    def update(self, obs: Observation) -> list[float]:
        """Per lane: seconds since the stop-line count last rose."""
        now, last = obs.time_s, self._last
        out: list[float] = []
        append = out.append
        for i, r in enumerate(obs.lanes):
            if r.stopline_count > 0:
                last[i] = now
            append(now - last[i])
        return out


class _InOut:
    """An input-output count between two cross-sections of each lane, with drift bounds.

    ``q += entered - left``, then: a negative lane takes vehicles back from positive lanes
    of the same road (lane changes between the cross-sections); a lane is zeroed when
    nothing can be between them (see :class:`QueueTracker`); values are capped.
    """

    def __init__(self, lane_ids: tuple[str, ...], idle_reset_s: float, red_reset_s: float,
                 cap: float) -> None:
        self.q = [0.0] * len(lane_ids)
        edges: dict[str, list[int]] = {}
        for i, lane in enumerate(lane_ids):
            edges.setdefault(lane.rsplit("_", 1)[0], []).append(i)
        self._siblings = [tuple(j for j in edges[lane.rsplit("_", 1)[0]] if j != i)
                          for i, lane in enumerate(lane_ids)]
        self._idle_reset_s = idle_reset_s
        self._red_reset_s = red_reset_s
        self._cap = cap
        self._last_in = [-math.inf] * len(lane_ids)

    def update(self, now: float, entered: list[int], left: list[int], presence: list[bool],
               idle: list[float], green: frozenset[int] | tuple[int, ...]) -> list[float]:
        """``idle``: per lane, seconds since the stop-line loop last detected anything."""
        q = self.q
        last_in = self._last_in
        n = len(q)
        negative = False
        for i in range(n):
            e = entered[i]
            q[i] += e - left[i]
            if e > 0:
                last_in[i] = now
            if q[i] < 0:
                negative = True
        if negative:  # lane changes between the loops: take vehicles back from siblings
            for i in range(n):
                if q[i] >= 0:
                    continue
                for j in sorted(self._siblings[i], key=lambda k: -q[k]):
                    if q[i] >= 0:
                        break
                    take = min(-q[i], max(q[j], 0.0))
                    q[i] += take
                    q[j] -= take
        idle_reset, red_reset, cap = self._idle_reset_s, self._red_reset_s, self._cap
        for i in range(n):
            v = q[i]
            if not presence[i]:
                quiet = now - last_in[i]
                if i in green:
                    if idle[i] >= idle_reset and quiet >= idle_reset:
                        v = 0.0
                elif quiet >= red_reset:
                    v = 0.0
            # min(max(v, 0.0), cap)
            if v < 0.0:
                v = 0.0
            if cap < v:
                v = cap
            q[i] = v
        return list(q)


class QueueTracker:
    """Vehicles between the upstream and the stop-line loop, per lane, from the counts.

    The tracker integrates ``upstream_count - stopline_count`` itself (not the session's
    raw ``queue``, which drifts without bound) and bounds the two ways an input-output
    estimate drifts:

    * lane changes between the loops (counted upstream on one lane, at the stop line on
      a neighbour): a negative lane takes the vehicles back from positive lanes of the
      same road (lanes ``EDGE_k`` of one edge ``EDGE``);
    * missed or misattributed counts: nothing can be between the loops when no vehicle
      stands on the stop-line loop and none entered for a while: ``idle_reset_s`` on a
      green lane whose stop-line loop detected nothing for as long, and optionally
      ``red_reset_s`` on a red lane (off by default: a head vehicle does not always stop
      on the loop, and zeroing real queues cost more delay than phantoms on the Hamm
      scenarios). Such a lane is zeroed; with the cap, the error stays bounded.

    Estimates are capped at ``cap`` vehicles (the loops are a few car lengths apart).
    With the ``camera`` sensing profile and ``use_camera`` the camera's queue (halting
    vehicles in view) replaces the loop estimate of a lane whenever it is present.
    """

    def __init__(self, lane_ids: tuple[str, ...] | int, idle_reset_s: float = 6.0,
                 cap: float = 12.0, red_reset_s: float = math.inf,
                 use_camera: bool = True) -> None:
        if isinstance(lane_ids, int):
            lane_ids = tuple(f"lane{i}_0" for i in range(lane_ids))
        self._io = _InOut(lane_ids, idle_reset_s, red_reset_s, cap)
        self._use_camera = use_camera

    def update(self, obs: Observation, green_lanes: tuple[int, ...] | frozenset[int],
               gaps: list[float] | None = None) -> list[float]:
        """Corrected queues (vehicles, >= 0) per lane after this observation.

        ``gaps`` is accepted for compatibility and not used.
        """
        lanes = obs.lanes
        q = self._io.update(obs.time_s, [r.upstream_count for r in lanes],
                            [r.stopline_count for r in lanes], [r.presence for r in lanes],
                            [r.gap_s for r in lanes], green_lanes)
        if self._use_camera:
            for i, r in enumerate(lanes):
                if r.camera_queue is not None:
                    q[i] = float(r.camera_queue)
        return q


#: vehicles a camera's 0-100 m view holds when the queue fills it (7.5 m per vehicle)
CAMERA_FULL_VEH = 12.0


class DemandEstimator:
    """Vehicles waiting per lane, including those queued beyond the upstream loop.

    The loops see only the few vehicles between them. While a lane is red the estimate
    grows by the lane's arrival rate (an exponential moving average of its upstream
    counts, time constant ``rate_window_s``); while it is green it falls by the vehicles
    crossing the stop line. It never falls below the drift-corrected count between the
    loops (:class:`QueueTracker`) and is zeroed when a green lane's stop-line loop idles.

    Sensing profiles, when present in the readings: an ``advance`` loop measures instead
    of guessing: the input-output count between it and the stop line (drift-bounded like
    :class:`QueueTracker`) is the estimate, and its counts give the arrival rate. A
    ``camera`` gives the waiting and approaching vehicles in view directly; the
    integrated estimate is kept only while the camera's view is full of queue.
    """

    def __init__(self, lane_ids: tuple[str, ...], rate_window_s: float = 300.0,
                 idle_reset_s: float = 6.0, cap: float = 60.0) -> None:
        self._between = QueueTracker(lane_ids, idle_reset_s)
        self._advance = _InOut(lane_ids, idle_reset_s + 6.0, 30.0, cap)
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
        lanes = obs.lanes
        advance = None
        if any(r.advance_count is not None for r in lanes):
            advance = self._advance.update(
                obs.time_s, [int(r.advance_count or 0) for r in lanes],
                [r.stopline_count for r in lanes], [r.presence for r in lanes],
                [r.gap_s for r in lanes], green_lanes)
        alpha = min(1.0, dt / self._window) if dt > 0 else 0.0
        for i, r in enumerate(lanes):
            arrivals = r.advance_count if r.advance_count is not None else r.upstream_count
            if dt > 0:
                self._rate[i] += alpha * (arrivals / dt - self._rate[i])
            if i in green_lanes:
                est = self._est[i] - r.stopline_count
                if r.gap_s >= self._idle_reset_s and not r.presence:
                    est = 0.0
            else:
                est = self._est[i] + self._rate[i] * dt
            if advance is not None and r.advance_count is not None:
                est = advance[i]
            floor = between[i] + (1.0 if r.presence else 0.0)
            if r.camera_queue is not None:
                seen = r.camera_queue + (r.camera_approaching or 0.0)
                est = max(est, seen) if r.camera_queue >= CAMERA_FULL_VEH else seen
                floor = seen
            self._est[i] = min(max(est, floor), self._cap)
        return list(self._est)
