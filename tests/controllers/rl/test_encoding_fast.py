"""The ``stage`` encoding's faster form gives the bytes of the previous one (a shipped
policy reads them): random observations (fast) and a recorded environment run (SUMO)."""

from __future__ import annotations

import numpy as np
import pytest

from controllers.rl.encoding import STAGE_FEATURES, ObservationEncoder, SensorNoise
from scenarios.observation import ApproachLane, JunctionInfo, LaneReading, Observation

INFO = JunctionInfo(
    junction="j", stage_names=("A", "B", "C", "D"), group_names=("K1", "K2", "K3", "K4"),
    lanes=(ApproachLane("l0", ("K1",), (0,), ("o0",)),
           ApproachLane("l1", ("K1", "K2"), (0, 1), ("o1",)),
           ApproachLane("l2", ("K3",), (2,), ("o2",)),
           ApproachLane("l3", ("K3",), (2,), ("o3",))),
    min_green_s=(5, 5, 5, 5), max_green_s=(60, 60, 60, 60))  # stage D serves no lane


class ReferenceEncoder(ObservationEncoder):
    """``ObservationEncoder.encode`` as it was before it was made faster (revision 344f1b0)."""

    def encode(self, obs: Observation, rng: np.random.Generator | None = None) -> np.ndarray:
        lanes = self.lane_matrix(obs, rng)
        n = len(self.info.stage_names)
        current = np.zeros(n, dtype=np.float32)
        target = np.zeros(n, dtype=np.float32)
        if obs.stage is not None:
            current[obs.stage] = 1.0
            self._last_served[obs.stage] = obs.time_s
        if obs.target_stage is not None:
            target[obs.target_stage] = 1.0
        allowed = np.asarray(obs.allowed, dtype=np.float32)
        in_stage = min(obs.time_in_stage_s / 60.0, 2.0)
        self._last_time = obs.time_s
        if self.encoding == "lane":
            flat = np.concatenate([lanes.ravel(), current, target, allowed,
                                   [in_stage, float(obs.stage is None)]])
            return np.clip(flat, 0.0, 5.0).astype(np.float32)
        served = self._lane_stage
        sums = lanes.T @ served
        out = np.empty((n, len(STAGE_FEATURES)), dtype=np.float32)
        out[:, 0] = sums[0] * 0.5
        out[:, 1] = (served * lanes[:, :1]).max(axis=0)
        out[:, 2] = sums[1] * self._inv_counts
        out[:, 3] = sums[2] * self._inv_counts
        out[:, 4] = sums[3]
        out[:, 5] = sums[4]
        out[:, 6] = np.minimum((lanes[:, 5:6] + self._unserved).min(axis=0), 1.0)
        out[:, 7] = self._counts / 4.0
        out[:, 8] = current
        out[:, 9] = target
        out[:, 10] = allowed
        out[:, 11] = current * in_stage
        out[:, 12] = np.minimum((obs.time_s - self._last_served) / 120.0, 1.5) * (1 - current)
        out[:, 13] = float(obs.stage is None)
        return np.clip(out, 0.0, 5.0)


def _random_observation(rng: np.random.Generator, t: float) -> Observation:
    lanes = tuple(
        LaneReading(lane=f"l{i}", stopline_count=int(rng.integers(0, 6)),
                    upstream_count=int(rng.integers(0, 6)), occupancy=float(rng.random()),
                    presence=bool(rng.random() < 0.5), gap_s=float(rng.exponential(20.0)),
                    queue=float(rng.choice([0.0, rng.exponential(15.0)])))
        for i in rng.permutation(4)[: int(rng.integers(2, 5))])  # some lanes missing
    stage = None if rng.random() < 0.2 else int(rng.integers(0, 4))
    target = None if rng.random() < 0.5 else int(rng.integers(0, 4))
    return Observation(junction="j", time_s=t, stage=stage, target_stage=target,
                       time_in_stage_s=float(rng.exponential(40.0)),
                       allowed=tuple(bool(x) for x in rng.random(4) < 0.5), lanes=lanes)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("encoding", ["stage", "lane"])
@pytest.mark.parametrize("noise", [SensorNoise(), SensorNoise(noise=0.2, dropout=0.2)])
def test_random_observations_encode_to_the_same_bytes(encoding: str, noise: SensorNoise
                                                      ) -> None:
    rng = np.random.default_rng(7)
    fast, reference = ObservationEncoder(INFO, encoding, noise), ReferenceEncoder(INFO, encoding,
                                                                                  noise)
    t = 0.0
    for _ in range(300):
        t += float(rng.integers(1, 30))
        obs = _random_observation(rng, t)
        seed = int(rng.integers(1 << 30))
        a = fast.encode(obs, np.random.default_rng(seed))
        b = reference.encode(obs, np.random.default_rng(seed))
        assert _same(a, b), (obs, a, b)
    assert a is not fast.encode(obs)  # a fresh array each call (callers keep them)


@pytest.mark.slow
def test_a_recorded_environment_run_encodes_to_the_same_bytes() -> None:
    from controllers.rl.env import JunctionEnv

    env = JunctionEnv("westentor", episode_s=600.0, demand_seeds=(3,), episode_metrics=False)
    agent = env.sim
    reference = ReferenceEncoder(env.info, "stage")
    obs, info = env.reset(seed=0)
    seen = [agent.agents[env.agent_id].last_obs]
    encoded = [obs]
    truncated = False
    k = 0
    while not truncated:
        k += 1
        obs, _, _, truncated, info = env.step(k % env.action_space.n)
        seen.append(agent.agents[env.agent_id].last_obs)
        encoded.append(obs)
    env.close()
    assert len(encoded) == 121
    assert all(_same(a, reference.encode(o)) for a, o in zip(encoded, seen, strict=True))
    assert any(a[:, 0].any() for a in encoded)  # traffic was seen
