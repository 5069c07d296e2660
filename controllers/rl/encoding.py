"""Observation and action encoding shared by the environments and the ``rl`` controller.

Pure numpy: the field box needs no torch. Two observation encodings:

- ``stage`` (default): one row of :data:`STAGE_FEATURES` per stage, aggregated over the
  detected lanes that the stage serves. A policy that scores every row with the same
  weights serves junctions with any number of stages and lanes (parameter sharing), with
  no padding to the largest junction.
- ``lane``: one flat vector, :data:`LANE_FEATURES` per detected lane followed by the
  stage one-hots and time in stage; tied to one junction layout.

Every feature comes from detectors (``LaneReading``) or the sequencer (current stage,
time in stage); none from SUMO ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scenarios.observation import JunctionInfo, Observation
from signals.errors import ConfigError

ENCODINGS = ("stage", "lane", "envelope")
ACTION_MODES = ("next-stage", "keep-switch", "residual")

#: per-stage features of the ``stage`` encoding, each scaled to about 0..1
STAGE_FEATURES = (
    "queue_sum",          # queue estimates of the stage's lanes, summed, / 20 veh
    "queue_max",          # largest lane queue estimate / 10 veh
    "occupancy_mean",     # stop-line occupancy, mean over lanes (0..1)
    "presence_share",     # share of lanes with a vehicle on the stop-line loop
    "stopline_rate",      # stop-line counts since the last decision, veh/s summed
    "upstream_rate",      # upstream counts since the last decision, veh/s summed
    "gap_min",            # smallest time since a stop-line detection / 30 s (capped at 1)
    "lanes",              # number of lanes the stage serves / 4
    "is_current",         # the stage is shown now
    "is_target",          # a transition to the stage runs or waits
    "allowed",            # a request for the stage would start at the next tick
    "time_in_stage",      # seconds in the current stage / 60 (current row only)
    "since_served",       # seconds since the stage was last shown / 120 (capped at 1.5)
    "in_transition",      # a transition runs (same in every row)
)
#: per-lane features of the ``lane`` encoding
LANE_FEATURES = ("queue", "occupancy", "presence", "stopline_rate", "upstream_rate", "gap")


@dataclass(frozen=True)
class SensorNoise:
    """Optional sensor faults for robustness training.

    Attributes:
        noise: standard deviation of multiplicative Gaussian noise on counts, queues and
            occupancy (0.1 = 10 %).
        dropout: probability that a lane's detectors report nothing at a decision
            (all readings zero, gap at its cap), drawn independently per lane.
    """

    noise: float = 0.0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.noise <= 1.0:
            raise ConfigError(f"sensor noise must be within 0..1, got {self.noise}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"sensor dropout must be within 0..1 (exclusive), got {self.dropout}")

    @property
    def active(self) -> bool:
        """Whether any fault is applied."""
        return self.noise > 0 or self.dropout > 0


def layout_signature(info: JunctionInfo) -> dict:
    """What a policy must match to serve a junction: stages, groups and served lanes."""
    return {
        "junction": info.junction,
        "stages": list(info.stage_names),
        "groups": list(info.group_names),
        "lanes_per_stage": [sum(1 for ln in info.lanes if s in ln.stages)
                            for s in range(len(info.stage_names))],
        "lanes": len(info.lanes),
    }


def observation_shape(info: JunctionInfo, encoding: str) -> tuple[int, ...]:
    """Shape of the encoded observation for one junction."""
    n = len(info.stage_names)
    if encoding == "stage":
        return (n, len(STAGE_FEATURES))
    if encoding == "lane":
        return (len(info.lanes) * len(LANE_FEATURES) + 3 * n + 2,)
    if encoding == "envelope":
        from controllers.rl.features import ENVELOPE_FEATURES

        return (n, len(ENVELOPE_FEATURES))
    raise ConfigError(f"unknown observation encoding {encoding!r} (known: {', '.join(ENCODINGS)})")


def action_count(info: JunctionInfo, mode: str) -> int:
    """Number of discrete actions in the given action mode."""
    if mode == "next-stage":
        return len(info.stage_names)
    if mode == "keep-switch":
        return 2
    if mode == "residual":
        return 3  # follow actuated, hold 1 s, end now (controllers/rl/residual.py)
    raise ConfigError(f"unknown action mode {mode!r} (known: {', '.join(ACTION_MODES)})")


def action_to_stage(mode: str, action: int, obs: Observation) -> int:
    """The stage an action requests. ``keep-switch``: 0 keeps, 1 asks for the next stage."""
    n = len(obs.allowed)
    if mode == "next-stage":
        return int(action)
    base = _reference_stage(obs)
    return base if int(action) == 0 else (base + 1) % n


def action_mask(mode: str, obs: Observation) -> np.ndarray:
    """True for actions the sequencer would carry out at once (others are deferred)."""
    allowed = np.asarray(obs.allowed, dtype=bool)
    if mode == "next-stage":
        return allowed
    base = _reference_stage(obs)
    return np.array([bool(allowed[base]), bool(allowed[(base + 1) % len(allowed)])])


def _reference_stage(obs: Observation) -> int:
    """The stage "keep" refers to: the current one, or the one being moved to."""
    if obs.target_stage is not None:
        return obs.target_stage
    return obs.stage if obs.stage is not None else 0


@dataclass
class ObservationEncoder:
    """Turns an :class:`Observation` into the policy input (stateful: remembers when each
    stage was last shown, and the time of the previous decision for rates)."""

    info: JunctionInfo
    encoding: str = "stage"
    sensor: SensorNoise = field(default_factory=SensorNoise)
    _last_served: np.ndarray = field(init=False, repr=False)
    _last_time: float | None = field(default=None, init=False, repr=False)
    _lane_stage: np.ndarray = field(init=False, repr=False)
    _lane_index: dict[str, int] = field(init=False, repr=False)
    _counts: np.ndarray = field(init=False, repr=False)
    _inv_counts: np.ndarray = field(init=False, repr=False)
    _unserved: np.ndarray = field(init=False, repr=False)
    #: per lane feature but the gap, and stage: the factor of its lane sum (columns 0
    #: and 2..5 of the ``stage`` encoding)
    _sum_scale: np.ndarray = field(init=False, repr=False)
    #: the ``stage`` encoding's output before a decision's values: column 7 (lanes / 4),
    #: the same at every decision, and zeros
    _template: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        observation_shape(self.info, self.encoding)  # validates the encoding name
        if self.encoding == "envelope":
            raise ValueError("the envelope encoding needs the actuated controller: use "
                             "controllers.rl.features.EnvelopeEncoder")
        n = len(self.info.stage_names)
        self._lane_index = {ln.lane: i for i, ln in enumerate(self.info.lanes)}
        self._lane_stage = np.zeros((len(self.info.lanes), n), dtype=np.float32)
        for i, ln in enumerate(self.info.lanes):
            for s in ln.stages:
                self._lane_stage[i, s] = 1.0
        self._counts = self._lane_stage.sum(axis=0)
        self._inv_counts = 1.0 / np.maximum(self._counts, 1.0)
        self._unserved = (1.0 - self._lane_stage) * 10.0
        one = np.ones(n, dtype=np.float32)
        self._sum_scale = np.stack([one * np.float32(0.5), self._inv_counts,
                                    self._inv_counts, one, one])
        self._template = np.zeros((n, len(STAGE_FEATURES)), dtype=np.float32)
        self._template[:, 7] = self._counts / 4.0
        self.reset()

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :meth:`encode`'s output."""
        return observation_shape(self.info, self.encoding)

    def reset(self) -> None:
        """Forget history (new episode)."""
        self._last_served = np.zeros(len(self.info.stage_names), dtype=np.float64)
        self._last_time = None

    def lane_matrix(self, obs: Observation, rng: np.random.Generator | None = None
                    ) -> np.ndarray:
        """Raw per-lane readings (lanes x LANE_FEATURES) in the junction's lane order."""
        dt = 1.0 if self._last_time is None else max(obs.time_s - self._last_time, 1.0)
        rows = [_EMPTY_ROW] * len(self.info.lanes)
        index = self._lane_index
        for r in obs.lanes:
            i = index.get(r.lane)
            if i is not None:
                rows[i] = (min(r.queue, 50.0) / 10.0, r.occupancy, float(r.presence),
                           r.stopline_count / dt, r.upstream_count / dt, min(r.gap_s, 30.0) / 30.0)
        m = np.array(rows, dtype=np.float32)
        if not rows:
            m = m.reshape(0, len(LANE_FEATURES))
        if rng is not None and self.sensor.active:
            if self.sensor.noise > 0:
                factor = 1.0 + self.sensor.noise * rng.standard_normal((m.shape[0], 5))
                m[:, :5] = np.clip(m[:, :5] * factor.astype(np.float32), 0.0, None)
                m[:, 2] = (m[:, 2] > 0.5).astype(np.float32)
            if self.sensor.dropout > 0:
                dropped = rng.random(m.shape[0]) < self.sensor.dropout
                m[dropped, :5] = 0.0
                m[dropped, 5] = 1.0
        return m

    def encode(self, obs: Observation, rng: np.random.Generator | None = None) -> np.ndarray:
        """Encode one observation; ``rng`` applies the configured sensor noise/dropout."""
        lanes = self.lane_matrix(obs, rng)
        stage, target_stage, time_s = obs.stage, obs.target_stage, obs.time_s
        if stage is not None:
            self._last_served[stage] = time_s
        in_stage = min(obs.time_in_stage_s / 60.0, 2.0)
        self._last_time = time_s
        if self.encoding == "lane":
            n = len(self.info.stage_names)
            current = np.zeros(n, dtype=np.float32)
            target = np.zeros(n, dtype=np.float32)
            if stage is not None:
                current[stage] = 1.0
            if target_stage is not None:
                target[target_stage] = 1.0
            allowed = np.asarray(obs.allowed, dtype=np.float32)
            flat = np.concatenate([lanes.ravel(), current, target, allowed,
                                   [in_stage, float(stage is None)]])
            return np.clip(flat, 0.0, 5.0).astype(np.float32)
        # Per stage (row): the float32 values of one expression per column,
        #   0 queue_sum = lane sum * 0.5, 2/3 = lane sum / lanes, 4/5 = lane sum,
        #   1 = max over its lanes of queue, 6 = min(min over its lanes of gap, 1),
        #   7 = lanes / 4, 8/9 = current/target one-hot, 10 = allowed,
        #   11 = current * in_stage, 12 = min((t - last shown) / 120, 1.5) * (1 - current),
        #   13 = in transition;
        # with fewer numpy calls (each costs more than the arithmetic): the constant and
        # zero columns come from a template, the one-hot products are set in their row
        # (1 * x = x, 0 * x = 0; the current stage's column 12 is 0 as its last-shown
        # time is now), column 12 in float64 as before.
        served = self._lane_stage  # lanes x stages
        out = self._template.copy()
        sums = lanes.T @ served  # LANE_FEATURES x stages (as before: the same sums)
        out[:, 1:6] = (sums[:5] * self._sum_scale).T  # 1: queue_sum, for now
        out[:, 0] = out[:, 1]
        out[:, 1] = (served * lanes[:, :1]).max(axis=0)
        out[:, 6] = np.minimum((lanes[:, 5:6] + self._unserved).min(axis=0), 1.0)
        out[:, 10] = obs.allowed
        out[:, 12] = np.minimum((time_s - self._last_served) / 120.0, 1.5)
        if stage is not None:
            out[stage, 8] = 1.0
            out[stage, 11] = in_stage
            out[stage, 12] = 0.0
        else:
            out[:, 13] = 1.0
        if target_stage is not None:
            out[target_stage, 9] = 1.0
        return np.clip(out, 0.0, 5.0, out=out)


_EMPTY_ROW = (0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
