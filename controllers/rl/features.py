"""The ``envelope`` observation encoding: drift-corrected, bounded per-stage features.

One row of :data:`ENVELOPE_FEATURES` per stage (the same shared stage network as the
``stage`` encoding reads it). Queues come from the one shared estimator module
(:mod:`controllers.estimators`: :class:`QueueTracker` between the loops,
:class:`DemandEstimator` including the vehicles beyond them), never from the raw
``LaneReading.queue`` count. Per stage it also carries what the actuated controller running
inside the ``residual`` action mode knows: its call and gap-out flags, the time in stage
over the stage's maximum green and the time since served over ``max_red``.

No feature grows with episode time or saturates in a jam: counts pass through
``x / (x + k)`` (k about the size of a normal queue; the estimators cap far above jam
values), durations are ratios to a limit the envelope enforces, rates are moving averages.
The optional ``advance_*`` and ``camera_*`` readings enter when present (0 otherwise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from controllers.actuated import ActuatedController
from controllers.common import StageMap
from controllers.estimators import DemandEstimator, QueueTracker
from scenarios.observation import JunctionInfo, Observation

ENVELOPE_FEATURES = (
    "queue_between",      # corrected queue between the loops, summed over lanes, q/(q+5)
    "queue_between_max",  # largest lane's corrected queue, q/(q+3)
    "demand",             # estimated waiting vehicles incl. beyond the loops, d/(d+20)
    "demand_max",         # largest lane's estimate, d/(d+10)
    "occupancy_mean",     # stop-line loop occupancy, mean over lanes (0..1)
    "presence_share",     # share of lanes with a vehicle on the stop-line loop
    "upstream_occupancy",  # upstream (35 m) loop occupancy, max over lanes (0..1)
    "upstream_occupied",  # longest continuous upstream-loop occupation T, T/(T+30 s)
    "stopline_rate",      # stop-line counts, moving average (10 s), veh/s summed, r/(r+0.5)
    "upstream_rate",      # upstream counts, moving average (10 s), veh/s summed, r/(r+0.5)
    "gap_min",            # smallest time since a stop-line detection / 30 s (capped at 1)
    "lanes",              # number of detected lanes the stage serves / 4
    "is_current",         # the stage is shown now
    "is_target",          # a transition to the stage runs or waits
    "is_next",            # the next stage with a call (what "end now" would request)
    "allowed",            # a request for the stage would start at the next tick
    "call",               # actuated's call for the stage
    "gapped_out",         # actuated's gap-out flag (no lane of the stage active)
    "time_in_stage",      # seconds in stage / the stage's green cap (current row; clip 2)
    "since_served",       # seconds since the stage was last shown / max_red (clip 2)
    "in_transition",      # a transition runs (same in every row)
    "advance_rate",       # advance-loop counts, moving average, r/(r+0.5) (0 if absent)
    "advance_occupancy",  # advance-loop occupancy, max over lanes (0 if absent)
    "camera_queue",       # camera halting vehicles, summed, q/(q+10) (0 if absent)
    "camera_approaching",  # camera moving vehicles, summed, n/(n+10) (0 if absent)
    "camera_slow",        # 1 - mean camera speed / 14 m/s, mean over lanes seen (0 if absent)
)
#: continuous upstream-loop occupation counts from this occupancy on
OCCUPIED = 0.5
#: time constant of the count moving averages (seconds)
RATE_TAU_S = 10.0


def sat(x: np.ndarray | float, k: float) -> np.ndarray | float:
    """``x / (x + k)`` for x >= 0: monotone, 0 at 0, below 1 for any finite x."""
    x = np.maximum(x, 0.0)
    return x / (x + k)


@dataclass
class EnvelopeEncoder:
    """Stateful encoder of the ``envelope`` features (one instance per junction and episode).

    ``encode(obs, actuated)`` must see every observation (every second) in order, the
    same ones the actuated controller sees; ``actuated`` supplies calls, gap-out flags,
    green caps and the stage history.
    """

    info: JunctionInfo
    max_red_s: float = 120.0
    _map: StageMap = field(init=False, repr=False)
    _queues: QueueTracker = field(init=False, repr=False)
    _demand: DemandEstimator = field(init=False, repr=False)
    _occupied_since: list[float | None] = field(init=False, repr=False)
    _rates: np.ndarray = field(init=False, repr=False)
    _last_t: float | None = field(default=None, init=False, repr=False)
    _serve: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._map = StageMap.from_info(self.info)
        n_lanes, n = len(self.info.lanes), len(self.info.stage_names)
        self._serve = np.zeros((n_lanes, n), dtype=np.float64)
        for s, lanes in enumerate(self._map.lanes_of_stage):
            for i in lanes:
                self._serve[i, s] = 1.0
        self.reset()

    @property
    def shape(self) -> tuple[int, int]:
        """(stages, features)."""
        return (len(self.info.stage_names), len(ENVELOPE_FEATURES))

    def reset(self) -> None:
        """Forget history (new episode)."""
        ids = tuple(ln.lane for ln in self.info.lanes)
        self._queues = QueueTracker(ids, cap=50.0)
        self._demand = DemandEstimator(ids, cap=300.0)
        self._occupied_since = [None] * len(ids)
        self._rates = np.zeros((len(ids), 3), dtype=np.float64)
        self._last_t = None
        self.queue_between = [0.0] * len(ids)
        self.demand = [0.0] * len(ids)
        self.upstream_occupied_s = [0.0] * len(ids)

    def update(self, obs: Observation) -> None:
        """Feed one observation to the estimators (call once per observation)."""
        green = (frozenset(self._map.lanes_of_stage[obs.stage]) if obs.stage is not None
                 else frozenset())
        self.queue_between = self._queues.update(obs, green)
        self.demand = self._demand.update(obs, green)
        dt = 1.0 if self._last_t is None else max(obs.time_s - self._last_t, 1e-6)
        self._last_t = obs.time_s
        alpha = 1.0 - math.exp(-dt / RATE_TAU_S)
        for i, r in enumerate(obs.lanes):
            if r.upstream_occupancy >= OCCUPIED:
                since = self._occupied_since[i]
                if since is None:
                    since = self._occupied_since[i] = obs.time_s - dt
                self.upstream_occupied_s[i] = obs.time_s - since
            else:
                self._occupied_since[i] = None
                self.upstream_occupied_s[i] = 0.0
            counts = (r.stopline_count, r.upstream_count, r.advance_count or 0)
            for k in range(3):
                self._rates[i, k] += alpha * (counts[k] / dt - self._rates[i, k])

    def encode(self, obs: Observation, actuated: ActuatedController,
               update: bool = True) -> np.ndarray:
        """The (stages x features) matrix for this observation."""
        if update:
            self.update(obs)
        n = len(self.info.stage_names)
        serve = self._serve
        cnt = serve.sum(axis=0)
        inv = 1.0 / np.maximum(cnt, 1.0)
        lanes = obs.lanes
        qb = np.asarray(self.queue_between, dtype=np.float64)
        dm = np.asarray(self.demand, dtype=np.float64)
        occ = np.array([r.occupancy for r in lanes], dtype=np.float64)
        pres = np.array([float(r.presence) for r in lanes], dtype=np.float64)
        up_occ = np.array([r.upstream_occupancy for r in lanes], dtype=np.float64)
        up_t = np.asarray(self.upstream_occupied_s, dtype=np.float64)
        gap = np.array([min(r.gap_s, 30.0) / 30.0 for r in lanes], dtype=np.float64)
        adv_occ = np.array([r.advance_occupancy or 0.0 for r in lanes], dtype=np.float64)
        cam_q = np.array([r.camera_queue or 0.0 for r in lanes], dtype=np.float64)
        cam_a = np.array([r.camera_approaching or 0.0 for r in lanes], dtype=np.float64)
        cam_seen = np.array([r.camera_speed_mps is not None for r in lanes], dtype=np.float64)
        cam_slow = np.array([1.0 - min(r.camera_speed_mps or 0.0, 14.0) / 14.0 if
                             r.camera_speed_mps is not None else 0.0 for r in lanes])

        def smax(v: np.ndarray) -> np.ndarray:
            return (serve * v[:, None]).max(axis=0, initial=0.0)

        out = np.zeros((n, len(ENVELOPE_FEATURES)), dtype=np.float64)
        out[:, 0] = sat(qb @ serve, 5.0)
        out[:, 1] = sat(smax(qb), 3.0)
        out[:, 2] = sat(dm @ serve, 20.0)
        out[:, 3] = sat(smax(dm), 10.0)
        out[:, 4] = (occ @ serve) * inv
        out[:, 5] = (pres @ serve) * inv
        out[:, 6] = smax(up_occ)
        out[:, 7] = sat(smax(up_t), 30.0)
        out[:, 8] = sat(self._rates[:, 0] @ serve, 0.5)
        out[:, 9] = sat(self._rates[:, 1] @ serve, 0.5)
        out[:, 10] = np.minimum((serve * gap[:, None] + (1.0 - serve) * 10.0).min(axis=0), 1.0)
        out[:, 11] = cnt / 4.0
        if obs.stage is not None:
            out[obs.stage, 12] = 1.0
        if obs.target_stage is not None:
            out[obs.target_stage, 13] = 1.0
        calls = actuated.calls(obs.time_s)
        ref = obs.stage if obs.stage is not None else obs.target_stage
        if ref is not None:
            nxt = actuated.map.next_in_cycle(ref, calls)
            if nxt is not None:
                out[nxt, 14] = 1.0
        out[:, 15] = np.asarray(obs.allowed, dtype=np.float64)
        out[:, 16] = np.asarray(calls, dtype=np.float64)
        out[:, 17] = [float(actuated.gapped_out(s)) for s in range(n)]
        if obs.stage is not None:
            cap = actuated.limits.max_for(actuated.history.previous, obs.stage)
            cap = cap if math.isfinite(cap) and cap > 0 else 60.0
            out[obs.stage, 18] = min(obs.time_in_stage_s / cap, 2.0)
        max_red = self.max_red_s if self.max_red_s > 0 else 120.0
        out[:, 19] = [0.0 if s == obs.stage else
                      min(actuated.history.red_s(s, obs.time_s) / max_red, 2.0)
                      for s in range(n)]
        out[:, 20] = float(obs.stage is None)
        out[:, 21] = sat(self._rates[:, 2] @ serve, 0.5)
        out[:, 22] = smax(adv_occ)
        out[:, 23] = sat(cam_q @ serve, 10.0)
        out[:, 24] = sat(cam_a @ serve, 10.0)
        out[:, 25] = ((cam_slow * cam_seen) @ serve) / np.maximum(cam_seen @ serve, 1.0)
        return np.clip(out, 0.0, 5.0).astype(np.float32)


def perturb(obs: Observation, noise: float, dropout: float,
            rng: np.random.Generator | None) -> Observation:
    """The observation as faulty sensors would report it (training robustness).

    ``noise``: counts and occupancies scaled by ``1 + noise * N(0, 1)`` (counts rounded);
    ``dropout``: per lane and observation, the probability that its detectors report
    nothing (zero counts and occupancy, no presence, the gap growing).
    """
    if rng is None or (noise <= 0 and dropout <= 0):
        return obs
    lanes = []
    for r in obs.lanes:
        if dropout > 0 and rng.random() < dropout:
            r = replace(r, stopline_count=0, upstream_count=0, occupancy=0.0, presence=False,
                        gap_s=max(r.gap_s, 30.0), upstream_occupancy=0.0)
        elif noise > 0:
            f = np.maximum(1.0 + noise * rng.standard_normal(3), 0.0)
            r = replace(r, stopline_count=int(round(r.stopline_count * f[0])),
                        upstream_count=int(round(r.upstream_count * f[1])),
                        occupancy=float(min(r.occupancy * f[2], 1.0)),
                        upstream_occupancy=float(min(r.upstream_occupancy * f[2], 1.0)))
        lanes.append(r)
    return replace(obs, lanes=tuple(lanes))
