"""The residual mode: envelope features, the actuated envelope, the runtime fallback,
training end to end with a tiny budget, ONNX vs SB3."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from controllers import builders
from controllers.rl.features import ENVELOPE_FEATURES, EnvelopeEncoder, perturb
from controllers.rl.residual import END, FOLLOW, HOLD, ResidualEnvelope
from scenarios.observation import LaneReading, Observation


def _actuated(westentor):
    j = westentor.junctions[0]
    return builders.build_actuated(j, westentor, {})


def _obs(info, t: float, stage: int | None, in_stage: float, **lane) -> Observation:
    base = dict(stopline_count=0, upstream_count=0, occupancy=0.0, presence=False,
                gap_s=30.0, queue=0.0)
    base.update(lane)
    lanes = tuple(LaneReading(lane=ln.lane, **base) for ln in info.lanes)
    n = len(info.stage_names)
    return Observation(junction=info.junction, time_s=t, stage=stage, target_stage=None,
                       time_in_stage_s=in_stage, allowed=(True,) * n, lanes=lanes)


def test_features_stay_bounded_and_unsaturated_over_a_one_hour_jam(westentor) -> None:
    """Every lane jammed for an hour (arrivals, nothing leaves, both loops occupied): no
    feature grows with time past its bound, and the count features stay below 1."""
    info = westentor.junctions[0].info
    act = _actuated(westentor)
    enc = EnvelopeEncoder(info)
    rows = []
    for t in range(3600):
        stage = 0
        obs = _obs(info, float(t), stage, float(min(t, 3600)), upstream_count=1,
                   occupancy=1.0, presence=True, gap_s=0.0, upstream_occupancy=1.0)
        act.decide(obs)
        x = enc.encode(obs, act)
        rows.append(x)
    x = np.stack(rows)
    assert x.shape[1:] == (len(info.stage_names), len(ENVELOPE_FEATURES))
    assert np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 2.0
    col = {n: i for i, n in enumerate(ENVELOPE_FEATURES)}
    for name in ("queue_between", "demand", "demand_max", "upstream_occupied"):
        assert x[:, :, col[name]].max() < 0.999, name
    # the estimate keeps responding late in the jam: the last 10 minutes still rise or stay
    late = x[-600:, :, col["demand"]].max(axis=1)
    assert late[-1] >= late[0] > 0.5


def test_perturb_drops_and_scales_readings(westentor) -> None:
    info = westentor.junctions[0].info
    obs = _obs(info, 10.0, 0, 10.0, upstream_count=3, stopline_count=2, occupancy=0.5,
               presence=True, gap_s=0.0)
    dropped = perturb(obs, 0.0, 0.999999, np.random.default_rng(0))
    assert all(r.stopline_count == 0 and not r.presence for r in dropped.lanes)
    noisy = perturb(obs, 0.5, 0.0, np.random.default_rng(1))
    assert any(r.upstream_count != 3 for r in noisy.lanes)
    assert perturb(obs, 0.0, 0.0, np.random.default_rng(1)) is obs


def test_envelope_masks_hold_at_the_green_cap_and_on_max_red(westentor) -> None:
    info = westentor.junctions[0].info
    act = _actuated(westentor)
    env = ResidualEnvelope(act, hold_extra_s=10.0)
    # stage 0 green, every lane calls (vehicles on the loops): a decision point
    d = None
    for t in range(0, 16):
        d = env.offer(_obs(info, float(t), 0, float(t), upstream_count=1, presence=True,
                           gap_s=0.0))
    assert d is not None and d.point and d.mask == (True, True, True)
    assert d.request(HOLD).stage == 0 and d.request(END).stage != 0
    assert d.request(FOLLOW) == d.base
    cap = env.green_cap(0)
    late = env.offer(_obs(info, 200.0, 0, cap, upstream_count=1, presence=True, gap_s=0.0))
    assert late.mask[HOLD] is False and late.request(HOLD) == late.base
    # max-red recall: other stages called and red for longer than max_red -> no hold
    act2 = _actuated(westentor)
    env2 = ResidualEnvelope(act2, hold_extra_s=1000.0)
    red = act2.params.max_red_s
    for t in range(0, int(red) + 5):
        d2 = env2.offer(_obs(info, float(t), 0, float(t), upstream_count=1, presence=True,
                             gap_s=0.0))
    assert all(act2.calls(float(red + 4))[1:]) and d2.mask[HOLD] is False
    # minimum green and transitions are not decision points
    act3 = _actuated(westentor)
    env3 = ResidualEnvelope(act3)
    assert not env3.offer(_obs(info, 0.0, 0, 0.0, presence=True)).point
    assert not env3.offer(_obs(info, 1.0, None, 0.0, presence=True)).point


@pytest.mark.slow
def test_env_always_hold_keeps_the_envelope(westentor) -> None:
    """A policy that always holds still changes stages: no green past its cap, every
    stage served within max_red plus one cap, no safety violation."""
    from controllers.rl.env import JunctionEnv

    env = JunctionEnv(westentor, action_mode="residual", encoding="envelope",
                      reward="backlog", decision_interval_s=1, episode_s=900,
                      demand_scale=1.3)
    try:
        obs, info = env.reset(seed=5, options={"demand_seed": 5})
        envelope = env.sim.agents[env.agent_id].envelope
        done, stages, worst = False, set(), 0.0
        while not done:
            mask = env.action_masks()
            o = env.sim.agents[env.agent_id].last_obs
            assert o.time_in_stage_s <= envelope.green_cap(o.stage) + 1e-6
            worst = max(worst, o.time_in_stage_s)
            stages.add(o.stage)
            obs, r, term, trunc, info = env.step(HOLD if mask[HOLD] else FOLLOW)
            assert r <= 0.0
            done = term or trunc
        assert len(stages) == len(westentor.junctions[0].info.stage_names)
        assert info["episode_metrics"]["safety_violations"] == 0
        assert "mean_total_delay_s" in info["episode_metrics"]
        assert worst > envelope.actuated.limits.max_for(None, 0)  # holding did extend
    finally:
        env.close()


@pytest.fixture(scope="module")
def residual_policy(tmp_path_factory: pytest.TempPathFactory, ampel_cache) -> Path:
    """A tiny residual training run through ``ampel train`` (validation + test seeds)."""
    from experiments.cli import main

    out = tmp_path_factory.mktemp("residual")
    code = main(["train", "--scenario", "westentor", "--steps", "512", "--envs", "1",
                 "--episode", "240", "--eval-episode", "120", "--eval-every", "256",
                 "--critic-steps", "128", "--val-seeds", "11,12", "--test-seeds", "500",
                 "--seed", "1", "--out", str(out), "--quiet"])
    assert code == 0
    return out


@pytest.mark.slow
def test_residual_training_end_to_end(residual_policy: Path) -> None:
    spec = json.loads((residual_policy / "policy.json").read_text())
    assert spec["action"]["mode"] == "residual" and spec["action"]["n"] == 3
    assert spec["observation"]["features"] == list(ENVELOPE_FEATURES)
    assert spec["seeds"]["validation"] == [11, 12] and spec["seeds"]["test"] == [500]
    assert spec["seeds"]["train"].startswith("[1000")
    t = spec["training"]
    assert t["validation"][0]["steps"] == 0 and len(t["validation"]) >= 2
    assert (residual_policy / "checkpoints" / t["selected_checkpoint"]).is_file()
    best = min(v["mean_total_delay_s"] for v in t["validation"])
    chosen = next(v for v in t["validation"] if v["checkpoint"] == t["selected_checkpoint"])
    assert chosen["mean_total_delay_s"] == best
    assert t["final_eval"]["seeds"] == [500] and t["final_eval"]["safety_violations"] == 0
    assert t["hyper"]["gamma"] == 0.995 and t["hyper"]["gae_lambda"] == 0.95


@pytest.mark.slow
def test_residual_onnx_matches_sb3(residual_policy: Path, westentor) -> None:
    """Logits of the exported graph equal the SB3 policy's, also with the follow bias
    removed (so that the comparison is not decided by the bias alone)."""
    import torch
    from sb3_contrib import MaskablePPO

    from controllers.rl.config import EnvConfig
    from controllers.rl.env import JunctionEnv
    from controllers.rl.export import export_policy
    from controllers.rl.policy import OnnxPolicy

    model = MaskablePPO.load(residual_policy / "model.zip", device="cpu")
    with torch.no_grad():
        model.policy.action_net.out.bias.zero_()
        model.policy.action_net.out.weight.normal_(0.0, 1.0)
    cfg = EnvConfig(action_mode="residual", encoding="envelope", reward="backlog",
                    decision_interval_s=1, episode_s=300)
    out = residual_policy / "random"
    export_policy(model, "ppo", cfg, [westentor.junctions[0].info], out, {})
    onnx = OnnxPolicy.load(out)
    env = JunctionEnv(westentor, config=cfg)
    xs, masks = [], []
    try:
        obs, _ = env.reset(seed=2, options={"demand_seed": 2})
        rng = np.random.default_rng(0)
        for _ in range(150):
            xs.append(obs)
            mask = env.action_masks()
            masks.append(mask)
            obs, _, _, trunc, _ = env.step(int(rng.choice(np.flatnonzero(mask))))
            if trunc:
                break
    finally:
        env.close()
    x = np.stack(xs)
    sb3 = [int(model.predict(o, deterministic=True, action_masks=m)[0])
           for o, m in zip(x, masks, strict=True)]
    ours = [onnx.act_masked(o, tuple(m)) for o, m in zip(x, masks, strict=True)]
    assert sb3 == ours
    assert len(set(ours)) > 1  # the comparison covers more than one action


@pytest.mark.slow
def test_fallback_triggers_on_injected_dropout_and_is_counted(residual_policy: Path,
                                                               westentor, tmp_path) -> None:
    from controllers.rl.fallback import FallbackParams
    from controllers.rl.policy import OnnxPolicy, ResidualRLController
    from controllers.runner import run_closed_loop

    j = westentor.junctions[0]
    k = next(i for i, ln in enumerate(j.info.lanes) if not ln.is_bicycle)

    class Dropout:
        """Lane k's detectors go silent after 100 s."""

        def __init__(self, inner: ResidualRLController) -> None:
            self.inner = inner
            self.name, self.needs_detectors = "rl", True
            self.decision_interval_s = inner.decision_interval_s

        def decide(self, obs: Observation):
            if obs.time_s >= 100:
                lanes = list(obs.lanes)
                lanes[k] = replace(lanes[k], stopline_count=0, upstream_count=0,
                                   occupancy=0.0, presence=False, upstream_occupancy=0.0)
                obs = replace(obs, lanes=tuple(lanes))
            return self.inner.decide(obs)

        def run_metrics(self) -> dict:
            return self.inner.run_metrics()

    policy = OnnxPolicy.load(residual_policy)
    ctrl = ResidualRLController(policy, j.info, _actuated(westentor),
                                builders.green_limits(j),
                                FallbackParams(silent_s=60.0, hold_s=30.0, expected_veh=3.0))
    result = run_closed_loop(westentor, [Dropout(ctrl)], seed=3, duration_s=300,
                             out_dir=tmp_path)
    assert ctrl.monitor.triggers.get("lane dropout (silent loops)", 0) >= 1
    assert 0.0 < ctrl.monitor.share < 1.0
    assert result.metrics["rl_fallback_share"] == pytest.approx(ctrl.monitor.share, abs=1e-4)
    assert result.safety_violations == 0
    assert j.info.lanes[k].lane in ctrl.monitor.dropped_lanes
    # without the injected fault the same lane is never taken for dropped
    clean = ResidualRLController(policy, j.info, _actuated(westentor),
                                 builders.green_limits(j),
                                 FallbackParams(silent_s=60.0, expected_veh=3.0))
    run_closed_loop(westentor, [clean], seed=3, duration_s=300, out_dir=tmp_path / "clean")
    assert j.info.lanes[k].lane not in clean.monitor.dropped_lanes


def test_fallback_on_missing_readings_holds(westentor) -> None:
    from controllers.rl.fallback import FallbackMonitor, FallbackParams

    info = westentor.junctions[0].info
    act = _actuated(westentor)
    enc = EnvelopeEncoder(info)
    mon = FallbackMonitor(info, FallbackParams(hold_s=20.0))
    full = _obs(info, 0.0, 0, 0.0, upstream_count=1)
    act.decide(full)
    enc.encode(full, act)
    assert not mon.check(full, enc, act)
    missing = replace(full, time_s=1.0, lanes=full.lanes[1:])
    assert mon.check(missing, enc, act)
    for t in range(2, 21):
        assert mon.check(_obs(info, float(t), 0, float(t), upstream_count=1), enc, act)
    assert not mon.check(_obs(info, 22.0, 0, 22.0, upstream_count=1), enc, act)
    assert mon.triggers == {"lane dropout (readings missing)": 1}
    assert mon.fallback_seconds == 20 and mon.seconds == 22
