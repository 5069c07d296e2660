"""Observation/action encoding without SUMO (fast)."""

from __future__ import annotations

import numpy as np
import pytest

from controllers.rl.config import EnvConfig
from controllers.rl.encoding import (
    STAGE_FEATURES,
    ObservationEncoder,
    SensorNoise,
    action_mask,
    action_to_stage,
    layout_signature,
    observation_shape,
)
from scenarios.observation import ApproachLane, JunctionInfo, LaneReading, Observation

INFO = JunctionInfo(
    junction="j", stage_names=("A", "B", "C"), group_names=("K1", "K2", "K3"),
    lanes=(ApproachLane("l0", ("K1",), (0,), ("o0",)),
           ApproachLane("l1", ("K1", "K2"), (0, 1), ("o1",)),
           ApproachLane("l2", ("K3",), (2,), ("o2",))),
    min_green_s=(5, 5, 5), max_green_s=(60, 60, 60))


def reading(lane: str, queue: float, count: int = 0, occ: float = 0.0) -> LaneReading:
    return LaneReading(lane=lane, stopline_count=count, upstream_count=0, occupancy=occ,
                       presence=occ > 0, gap_s=2.0, queue=queue)


def observation(t: float = 10.0, stage: int | None = 0, target: int | None = None,
                allowed: tuple[bool, ...] = (True, False, True)) -> Observation:
    lanes = (reading("l0", 4, 2, 0.5), reading("l1", 6), reading("l2", 1))
    return Observation(junction="j", time_s=t, stage=stage, target_stage=target,
                       time_in_stage_s=12.0, allowed=allowed, lanes=lanes)


def test_stage_rows_aggregate_the_lanes_each_stage_serves() -> None:
    enc = ObservationEncoder(INFO, "stage")
    x = enc.encode(observation())
    assert x.shape == (3, len(STAGE_FEATURES)) == observation_shape(INFO, "stage")
    col = {name: i for i, name in enumerate(STAGE_FEATURES)}
    # stage A is served by l0 and l1, B by l1, C by l2
    assert x[:, col["queue_sum"]] == pytest.approx([10 / 20, 6 / 20, 1 / 20])
    assert x[:, col["queue_max"]] == pytest.approx([0.6, 0.6, 0.1])
    assert x[:, col["lanes"]] == pytest.approx([0.5, 0.25, 0.25])
    assert x[:, col["is_current"]].tolist() == [1, 0, 0]
    assert x[:, col["allowed"]].tolist() == [1, 0, 1]
    assert x[0, col["time_in_stage"]] == pytest.approx(0.2)
    assert x[1:, col["time_in_stage"]].tolist() == [0, 0]
    assert x.dtype == np.float32 and x.min() >= 0


def test_lane_encoding_is_flat_and_layout_bound() -> None:
    enc = ObservationEncoder(INFO, "lane")
    x = enc.encode(observation())
    assert x.shape == observation_shape(INFO, "lane") == (3 * 6 + 3 * 3 + 2,)
    assert x[0] == pytest.approx(0.4)  # queue of l0 / 10


def test_since_served_grows_for_stages_not_shown() -> None:
    enc = ObservationEncoder(INFO, "stage")
    col = STAGE_FEATURES.index("since_served")
    enc.encode(observation(t=0.0))
    later = enc.encode(observation(t=60.0))
    assert later[1, col] == pytest.approx(0.5) and later[0, col] == 0


def test_dropout_blanks_lanes_and_noise_perturbs() -> None:
    obs = observation()
    clean = ObservationEncoder(INFO, "lane").lane_matrix(obs)
    dropped = ObservationEncoder(INFO, "lane", SensorNoise(dropout=0.999)).lane_matrix(
        obs, np.random.default_rng(0))
    assert dropped[:, :5].sum() == 0 and clean[:, :5].sum() > 0
    noisy = ObservationEncoder(INFO, "lane", SensorNoise(noise=0.3)).lane_matrix(
        obs, np.random.default_rng(0))
    assert not np.allclose(noisy[:, 0], clean[:, 0])


def test_keep_switch_actions_and_masks() -> None:
    obs = observation(stage=0, allowed=(True, False, True))
    assert action_to_stage("keep-switch", 0, obs) == 0
    assert action_to_stage("keep-switch", 1, obs) == 1
    assert action_mask("keep-switch", obs).tolist() == [True, False]
    moving = observation(stage=None, target=2, allowed=(False, False, True))
    assert action_to_stage("keep-switch", 1, moving) == 0  # next after the target
    assert action_mask("next-stage", moving).tolist() == [False, False, True]


def test_layout_signature_counts_lanes_per_stage() -> None:
    sig = layout_signature(INFO)
    assert sig["stages"] == ["A", "B", "C"] and sig["lanes_per_stage"] == [2, 1, 1]


@pytest.mark.parametrize("kwargs", [
    {"encoding": "pixels"}, {"action_mode": "toggle"}, {"reward": "speed"},
    {"decision_interval_s": 2.5}, {"sensor_noise": -0.1}, {"sensor_dropout": 1.0},
    {"demand_jitter": 1.5}, {"demand_scale": 0}, {"episode_s": 1},
])
def test_bad_config_is_a_value_error(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        EnvConfig(**kwargs)
