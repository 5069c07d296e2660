"""Rollout labels: exact branches from a forked copy, labels on a tiny budget, the numpy
actor against the torch network, and ``ampel train --method rollout`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from controllers.rl.config import EnvConfig
from controllers.rl.residual import END, FOLLOW, HOLD

RESIDUAL = dict(action_mode="residual", encoding="envelope", decision_interval_s=1)


def test_choose_label_needs_the_margin() -> None:
    from controllers.rl.rollout_labels import choose_label

    assert choose_label(np.array([100.0, 99.0, np.nan]), 5.0) == FOLLOW
    assert choose_label(np.array([100.0, 90.0, 94.0]), 5.0) == HOLD
    assert choose_label(np.array([100.0, np.nan, 80.0]), 5.0) == END
    assert choose_label(np.array([80.0, 90.0, 70.0]), 10.0) == FOLLOW


def test_selection_keeps_the_per_seed_bound() -> None:
    """The best mean wins only if no seed is more than max_seed_loss worse than actuated;
    actuated (the warm start) is always a candidate."""
    from controllers.rl.train_rollout import select

    def res(*delays: float) -> dict:
        rows = [{"seed": s, "mean_total_delay_s": d} for s, d in enumerate(delays)]
        return {"mean_total_delay_s": sum(delays) / len(delays), "per_seed": rows}

    warm, wild, tame = res(50, 50, 50), res(30, 30, 60), res(45, 48, 52)
    assert select([warm, wild, tame], 0.15) == 2
    assert select([warm, wild, tame], 0.25) == 1
    assert select([warm, wild], 0.15) == 0
    assert wild["worst_seed_ratio"] == 1.2


def test_rollout_config_rejects_bad_numbers() -> None:
    from controllers.rl.rollout_labels import RolloutConfig
    from signals.errors import AmpelError

    for bad in ({"horizon_s": 0.0}, {"sample_share": 1.5}, {"margin_veh_s": float("nan")}):
        with pytest.raises(AmpelError):
            RolloutConfig(**bad)


def test_numpy_actor_equals_the_torch_policy(westentor) -> None:
    """The actor the forked branches run computes the same scores as the network."""
    import torch

    from controllers.rl.rollout_labels import NumpyActor
    from controllers.rl.train_rollout import new_model, policy_logits

    cfg = EnvConfig(reward="backlog", episode_s=300, **RESIDUAL)
    model = new_model(cfg, None, 0.0, seed=3)
    with torch.no_grad():
        model.policy.action_net.out.weight.normal_(0.0, 1.0)
    actor = NumpyActor.from_policy(model.policy)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (16, *model.observation_space.shape)).astype(np.float32)
    x[:, :, :] = np.round(x)  # 0/1 flags too
    with torch.no_grad():
        ref = policy_logits(model.policy, torch.as_tensor(x)).numpy()
    ours = np.stack([actor.logits(o) for o in x])
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)
    assert len({int(np.argmax(r)) for r in ref}) > 1


def _at_decision(westentor, after_s: float):
    from controllers.rl.rollout_labels import distinct_actions
    from controllers.rl.sim import Simulation

    cfg = EnvConfig(reward="total", episode_s=600, episode_metrics=False, **RESIDUAL)
    aid = westentor.junctions[0].tls
    sim = Simulation(westentor, cfg, (aid,))
    sim.start(np.random.default_rng(0), {"demand_seed": 4321})
    sim.reward(aid)
    while sim.time_s < after_s or len(distinct_actions(sim, aid)) < 2:
        sim.advance({aid: FOLLOW})
        sim.reward(aid)
    return sim, aid


@pytest.mark.slow
def test_identical_branches_give_identical_costs(westentor) -> None:
    """Two branches of the same action from the same forked state cost exactly the same;
    the parent's simulation is not moved by them; different actions cost differently."""
    from controllers.rl.rollout_labels import (
        branch_costs,
        distinct_actions,
        follow_policy,
        in_child,
        play_branch,
    )

    sim, aid = _at_decision(westentor, 200.0)
    try:
        t = sim.time_s
        actions = distinct_actions(sim, aid)
        first = [in_child(lambda a=a: play_branch(sim, aid, a, follow_policy, 60.0))
                 for a in actions]
        again = [in_child(lambda a=a: play_branch(sim, aid, a, follow_policy, 60.0))
                 for a in actions]
        assert first == again
        assert sim.time_s == t
        assert all(c > 0 for c in first)
        costs = branch_costs(sim, aid, follow_policy, 60.0)
        assert [costs[a] for a in actions] == first
        mask = sim.mask(aid)
        assert np.isnan(costs[~mask]).all() and np.isfinite(costs[mask]).all()
        # over later decision points, some action changes the cost
        spread = []
        for _ in range(15):
            c = branch_costs(sim, aid, follow_policy, 60.0)
            spread.append(np.nanmax(c) - np.nanmin(c))
            sim.advance({aid: FOLLOW})
            sim.reward(aid)
            while sim.agents[aid].decision is None and not sim.done:
                sim.advance({aid: FOLLOW})
                sim.reward(aid)
        assert max(spread) > 0
    finally:
        sim.close()


@pytest.mark.slow
def test_labels_on_a_tiny_budget(westentor) -> None:
    from controllers.rl.rollout_labels import (
        RolloutConfig,
        choose_label,
        follow_policy,
        label_episode,
    )

    cfg = EnvConfig(reward="backlog", episode_s=240, **RESIDUAL)
    rollout = RolloutConfig(horizon_s=20.0, margin_veh_s=1.0, sample_share=0.5)
    got = label_episode(westentor, cfg, 5555, 1.0, follow_policy, rollout,
                        np.random.default_rng(1))
    assert len(got) >= 5
    a = got.arrays()
    assert a["obs"].shape[1:] == (len(westentor.junctions[0].info.stage_names), 26)
    for costs, mask, label in zip(a["costs"], a["masks"], a["labels"], strict=True):
        assert np.isfinite(costs[mask]).all() and np.isnan(costs[~mask]).all()
        assert mask[label] and label == choose_label(costs, 1.0)
    assert set(a["seeds"]) == {5555}


@pytest.mark.slow
def test_parallel_labels_do_not_depend_on_scheduling(westentor) -> None:
    """Episodes labelled by two worker processes at once give exactly the labels of one
    worker doing them in turn (each episode in a fresh process with its own generator)."""
    from controllers.rl.rollout_labels import RolloutConfig, collect_labels, follow_policy

    cfg = EnvConfig(scenario="westentor", reward="backlog", episode_s=150, **RESIDUAL)
    rollout = RolloutConfig(horizon_s=15.0, margin_veh_s=1.0, sample_share=0.5)
    one = collect_labels(cfg, follow_policy, rollout, np.random.default_rng(9), 3,
                         workers=1).arrays()
    two = collect_labels(cfg, follow_policy, rollout, np.random.default_rng(9), 3,
                         workers=2).arrays()
    assert len(one["labels"]) > 3 and len(set(one["seeds"].tolist())) == 3
    for key, value in one.items():
        np.testing.assert_array_equal(value, two[key])
    other = collect_labels(cfg, follow_policy, rollout, np.random.default_rng(10), 1,
                           workers=2).arrays()
    assert set(other["seeds"].tolist()).isdisjoint(one["seeds"].tolist())


@pytest.fixture(scope="module")
def rollout_policy(tmp_path_factory: pytest.TempPathFactory, ampel_cache) -> Path:
    """A tiny ``ampel train --method rollout`` run."""
    from experiments.cli import main

    out = tmp_path_factory.mktemp("rollout")
    code = main(["train", "--scenario", "westentor", "--method", "rollout", "--rounds", "1",
                 "--label-episodes", "1", "--episode", "240", "--eval-episode", "120",
                 "--horizon", "20", "--sample-share", "0.5", "--margin", "0",
                 "--val-seeds", "11", "--test-seeds", "500", "--seed", "2",
                 "--out", str(out), "--quiet"])
    assert code == 0
    return out


@pytest.mark.slow
def test_rollout_training_end_to_end(rollout_policy: Path, tmp_path: Path) -> None:
    """Labels, fit, validation, test, export; the policy then runs under ``ampel run``."""
    from experiments.cli import main

    spec = json.loads((rollout_policy / "policy.json").read_text())
    t = spec["training"]
    assert spec["action"]["mode"] == "residual"
    assert t["label_points"] > 0 and t["method"]["horizon_s"] == 20
    assert [v["name"] for v in t["validation"]] == ["warm start (actuated)", "round 1"]
    assert t["selected"] in {v["name"] for v in t["validation"]}
    best = min(v["mean_total_delay_s"] for v in t["validation"])
    chosen = next(v for v in t["validation"] if v["name"] == t["selected"])
    assert chosen["mean_total_delay_s"] == best
    assert spec["seeds"]["validation"] == [11] and spec["seeds"]["test"] == [500]
    assert t["final_eval"]["seeds"] == [500] and t["final_eval"]["safety_violations"] == 0
    assert "--method rollout" in t["command"]
    labels = np.load(rollout_policy / "labels.npz")
    assert len(labels["labels"]) == t["label_points"]
    assert (labels["seeds"] >= 1000).all()
    run = tmp_path / "run"
    code = main(["run", "--scenario", "westentor", "--controller", "rl", "--param",
                 f"policy={rollout_policy / 'policy.onnx'}", "--duration", "120",
                 "--seed", "3", "--out", str(run), "--quiet"])
    assert code == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["safety_violations"] == 0 and summary["vehicles_arrived"] > 0


def ampel_run_summary(policy: Path, seed: int, out: Path, duration: str = "120") -> dict:
    """``ampel run --controller rl`` of an exported policy; its summary.json."""
    from experiments.cli import main

    code = main(["run", "--scenario", "westentor", "--controller", "rl", "--param",
                 f"policy={policy}", "--duration", duration, "--seed", str(seed),
                 "--out", str(out), "--quiet"])
    assert code == 0
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow
def test_selection_scores_what_ampel_run_reports(rollout_policy: Path, tmp_path: Path) -> None:
    """Every candidate's validation score and the test score are what ``ampel run
    --controller rl`` reports for the exported file on that seed (fresh processes, the
    runtime fallback on)."""
    history = json.loads((rollout_policy / "evaluations.json").read_text())
    assert len(history) == 2
    for k, res in enumerate(history):
        assert res["candidate"] == f"candidates/{k:02d}" and "fresh process" in res["scored_by"]
        row = res["per_seed"][0]
        got = ampel_run_summary(rollout_policy / res["candidate"] / "policy.onnx", 11,
                                tmp_path / f"val{k}")
        for key in ("mean_total_delay_s", "mean_delay_s", "vehicles_arrived",
                    "rl_fallback_share", "rl_deviation_share"):
            assert row[key] == got[key], key
    spec = json.loads((rollout_policy / "policy.json").read_text())
    test_row = spec["training"]["final_eval"]["per_seed"][0]
    got = ampel_run_summary(rollout_policy / "policy.onnx", 500, tmp_path / "test")
    assert test_row["seed"] == 500 and test_row["mean_total_delay_s"] == got["mean_total_delay_s"]
    chosen = next(r for r in history if r["name"] == spec["training"]["selected"])
    exported = (rollout_policy / "policy.onnx").read_bytes()
    assert exported == (rollout_policy / chosen["candidate"] / "policy.onnx").read_bytes()


@pytest.mark.slow
def test_margins_script_scores_like_ampel_run(rollout_policy: Path, tmp_path: Path) -> None:
    """``scripts/rollout_margins.py`` scores each margin's exported policy as ``ampel run``
    does; a margin no saving reaches deviates nowhere and equals the warm start."""
    import importlib.util

    path = Path(__file__).resolve().parents[3] / "scripts" / "rollout_margins.py"
    spec = importlib.util.spec_from_file_location("script_rollout_margins", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([str(rollout_policy), "--margins", "0,100000", "--workers", "2"]) == 0
    results = {r["margin"]: r for r in json.loads((rollout_policy / "margins.json").read_text())}
    warm = json.loads((rollout_policy / "evaluations.json").read_text())[0]
    assert results[100000.0]["deviation_share"] == 0.0
    assert results[100000.0]["mean_total_delay_s"] == warm["mean_total_delay_s"]
    got = ampel_run_summary(rollout_policy / "margins" / "0" / "policy.onnx", 11, tmp_path / "m0")
    assert results[0.0]["per_seed"][0]["mean_total_delay_s"] == got["mean_total_delay_s"]


@pytest.fixture(scope="module")
def werler(ampel_cache):
    from scenarios.scenario import load_scenario

    return load_scenario("werler_strasse")


@pytest.mark.slow
def test_corridor_labels_branch_one_junction_at_a_time(werler) -> None:
    """With ``junction="all"`` every junction runs its envelope under the shared base
    policy; decision points of several junctions are labelled; a branch changes one
    junction's action and is costed over the whole corridor (identical branches cost the
    same)."""
    from controllers.rl.rollout_labels import (
        RolloutConfig,
        base_actions,
        distinct_actions,
        follow_policy,
        in_child,
        label_episode,
        play_branch,
    )
    from controllers.rl.sim import Simulation

    cfg = EnvConfig(scenario="werler_strasse", reward="backlog", episode_s=200, **RESIDUAL)
    rollout = RolloutConfig(horizon_s=15.0, margin_veh_s=1.0, sample_share=0.3)
    got = label_episode(werler, cfg, 4242, 1.0, follow_policy, rollout,
                        np.random.default_rng(3), "all").arrays()
    tls = {j.tls for j in werler.junctions}
    assert len(tls) == 4 and len(set(got["junctions"].tolist())) >= 2
    assert set(got["junctions"].tolist()) <= tls
    assert np.isfinite(got["costs"][:, 0]).all()
    # a branch from a corridor state: the corridor cost covers every junction's lanes
    sim = Simulation(werler, EnvConfig(scenario="werler_strasse", reward="total",
                                       episode_s=400, episode_metrics=False, **RESIDUAL),
                     tuple(sorted(tls, key=[j.tls for j in werler.junctions].index)))
    try:
        sim.start(np.random.default_rng(0), {"demand_seed": 77})
        sim.reward()
        while sim.time_s < 150 or not any(len(distinct_actions(sim, a)) > 1
                                           for a in sim.deciding()):
            sim.advance(base_actions(sim, follow_policy))
            sim.reward()
        aid = next(a for a in sim.deciding() if len(distinct_actions(sim, a)) > 1)
        others = base_actions(sim, follow_policy)
        costs = [[in_child(lambda a=a: play_branch(sim, aid, a, follow_policy, 40.0, others))
                  for a in distinct_actions(sim, aid)] for _ in range(2)]
        assert costs[0] == costs[1] and all(c > 0 for c in costs[0])
        assert len(sim._total.lanes) == sum(  # type: ignore[union-attr]
            sum(not ln.is_bicycle for ln in j.info.lanes) for j in werler.junctions)
    finally:
        sim.close()
