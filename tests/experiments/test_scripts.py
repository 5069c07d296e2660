"""scripts/compare_controllers.py and scripts/resco_table.py run through the experiment
engine; their tables equal what the same runs give simulated directly (tiny cases)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.resco_nets import resco

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"script_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row_cells(out: str, first: str) -> list[str]:
    row = next(line for line in out.splitlines() if line.startswith(f"| {first} |"))
    return [c.strip() for c in row.strip().strip("|").split("|")][1:]


@pytest.mark.parametrize("name, argv, needle", [
    ("compare_controllers", ["--controllers", "fixed-time,magic"], "unknown controller 'magic'"),
    ("compare_controllers", ["--controllers", "sotl:theta"], "expected KEY=VALUE"),
    ("resco_table", ["--nets", "westentor", "--controllers", "actuated:sensing=radar"],
     "unknown sensing 'radar'"),
])
def test_bad_input_is_one_line_and_exit_2(name: str, argv: list[str], needle: str,
                                          tmp_path: Path, capsys) -> None:
    code = script(name).main([*argv, "--seeds", "1"] + (
        ["--out", str(tmp_path / "c.json")] if name == "compare_controllers" else []))
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
def test_compare_controllers_table_equals_direct_runs(tmp_path: Path, capsys) -> None:
    from controllers.registry import controller_factory
    from controllers.runner import build_controllers, run_closed_loop
    from scenarios.periods import apply_period
    from scenarios.scenario import load_scenario

    out_json = tmp_path / "compare.json"
    code = script("compare_controllers").main([
        "--scenarios", "westentor", "--controllers", "fixed-time,sotl:theta=20",
        "--seeds", "3", "--duration", "120", "--period", "midday", "--workers", "1",
        "--out", str(out_json)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "120 s midday" in out
    expected = []
    for name, params in (("fixed-time", {}), ("sotl", {"theta": "20"})):
        scenario, params = apply_period(load_scenario("westentor"), "midday", params)
        result = run_closed_loop(scenario, build_controllers(
            scenario, controller_factory(name, params)), seed=3, duration_s=120,
            out_dir=tmp_path / name)
        expected.append(f"{result.metrics['mean_delay_s']:.1f} ± nan")
    assert [c.strip("*") for c in row_cells(out, "westentor")] == expected
    runs = json.loads(out_json.read_text())["runs"]
    assert [(r["controller"], r["period"], r["seed"]) for r in runs] == [
        ("fixed-time", "midday", 3), ("sotl:theta=20", "midday", 3)]


@pytest.mark.slow
def test_resco_table_equals_direct_runs(tmp_path: Path, capsys) -> None:
    from controllers.registry import controller_factory
    from controllers.runner import build_controllers, run_closed_loop
    from scenarios.metrics import read_teleports, trip_totals
    from scenarios.rebuilt import run_rebuilt
    from scenarios.scenario import load_scenario

    cfg = resco("cologne1")
    code = script("resco_table").main(["--nets", "cologne1", "--controllers", "fixed-time",
                                       "--sumo-reference", "--seeds", "1", "--duration", "150"])
    out = capsys.readouterr().out
    assert code == 0, out
    scenario = load_scenario(str(cfg))
    run_closed_loop(scenario, build_controllers(scenario, controller_factory("fixed-time")),
                    seed=1, duration_s=150, out_dir=tmp_path / "ampel")
    (tmp_path / "sumo").mkdir()
    run_rebuilt(cfg, "actuated", 1, tmp_path / "sumo", 150)
    cells = []
    for sub in ("ampel", "sumo"):
        totals = trip_totals(tmp_path / sub / "tripinfo.xml", tmp_path / sub / "statistics.xml")
        tele = read_teleports(tmp_path / sub / "statistics.xml")
        cells.append(f"{totals['all_trips_mean_time_loss_s']:.1f}"
                     + (f" ({tele} tp, {totals['jam_teleports']} jam)" if tele else ""))
    assert row_cells(out, "cologne1") == cells
    assert "safety violations in all 2 runs: 0" in out


@pytest.mark.slow
def test_compare_controllers_names_an_unknown_metric(tmp_path: Path, capsys) -> None:
    code = script("compare_controllers").main([
        "--scenarios", "westentor", "--controllers", "fixed-time", "--seeds", "1",
        "--duration", "30", "--workers", "1", "--metric", "mean_happiness",
        "--out", str(tmp_path / "c.json")])
    err = capsys.readouterr().err
    assert code == 2 and "--metric 'mean_happiness' is not a metric" in err, err
    assert "mean_delay_s" in err and not (tmp_path / "c.json").exists()


def _fake_rollout_run(folder: Path, seeds: list[int]) -> Path:
    """A rollout run folder as ``ampel train --method rollout`` leaves it (tiny labels)."""
    import numpy as np

    folder.mkdir(parents=True)
    n = len(seeds)
    np.savez_compressed(folder / "labels.npz", obs=np.zeros((n, 2, 3)),
                        masks=np.ones((n, 3), bool), costs=np.zeros((n, 3)),
                        labels=np.zeros(n, int), seeds=np.array(seeds))
    (folder / "policy.json").write_text(json.dumps(
        {"observation": {"encoding": "envelope"}, "env_config": {"sensing": "camera"},
         "training": {"method": {"rounds": 1}}}))
    (folder / "evaluations.json").write_text(json.dumps([{"name": "warm start"}]))
    return folder


def test_rollout_scripts_refuse_bad_input_in_one_line(tmp_path: Path, capsys) -> None:
    pool, margins = script("pool_rollout_labels"), script("rollout_margins")
    a = _fake_rollout_run(tmp_path / "a", [1001, 1002])
    b = _fake_rollout_run(tmp_path / "b", [1003])
    cases = [
        (pool, [str(a), str(tmp_path / "nothing"), "--out", str(tmp_path / "p")],
         "not a finished"),
        (pool, [str(a), str(a), "--out", str(tmp_path / "p")], "share a training seed"),
        (margins, [str(tmp_path / "nothing"), "--margins", "20"], "not a finished"),
        (margins, [str(a), "--margins", "20,lots"], "expected numbers"),
    ]
    for module, argv, needle in cases:
        assert module.main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "p").exists()
    # a pooled folder is written once and never overwritten
    assert pool.main([str(a), str(b), "--out", str(tmp_path / "p")]) == 0
    pooled = json.loads((tmp_path / "p" / "policy.json").read_text())["training"]
    assert (pooled["label_points"], pooled["pooled_hours"]) == (3, 3)
    before = (tmp_path / "p" / "labels.npz").read_bytes()
    assert pool.main([str(b), str(a), "--out", str(tmp_path / "p")]) == 2
    assert "already holds" in capsys.readouterr().err
    assert (tmp_path / "p" / "labels.npz").read_bytes() == before


def _policy_json(folder: Path, history: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "policy.json"
    path.write_text(json.dumps({"scenario": "westentor",
                                "training": {"validation": history}}), encoding="utf-8")
    return path


def test_plot_training_draws_every_validation(tmp_path: Path, capsys) -> None:
    ppo = _policy_json(tmp_path / "ppo", [
        {"phase": "warm start (actuated)", "wall_s": 60.0, "mean_delay_with_backlog_s": 52.0,
         "checkpoint": "ckpt_0.zip"},
        {"phase": "x0.8-1.0", "wall_s": 600.0, "mean_delay_with_backlog_s": 50.5,
         "checkpoint": "ckpt_100.zip"}])
    ppo_spec = json.loads(ppo.read_text())
    ppo_spec["training"]["selected_checkpoint"] = "ckpt_100.zip"
    ppo.write_text(json.dumps(ppo_spec))
    rollout = _policy_json(tmp_path / "rollout", [
        {"name": "warm start (actuated)", "wall_s": 80.0, "mean_total_delay_s": 49.0},
        {"name": "round 1", "wall_s": 1500.0, "mean_total_delay_s": 47.0},
        {"name": "round 1", "wall_s": 1560.0, "mean_total_delay_s": 46.0}])
    out = tmp_path / "curves.png"
    code = script("plot_training").main([str(ppo), str(rollout), "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    assert "ppo: westentor: 2 validations over 10 min, warm start 52.00 s, selected 50.50 s" in text
    assert ("rollout: westentor: 3 validations over 26 min, warm start 49.00 s, "
            "selected 46.00 s") in text
    # an existing plot is kept unless --force
    before = out.read_bytes()
    code = script("plot_training").main([str(ppo), "--out", str(out)])
    assert code == 2 and "--force" in capsys.readouterr().err and out.read_bytes() == before


def test_plot_training_without_history_is_one_line(tmp_path: Path, capsys) -> None:
    bare = _policy_json(tmp_path / "bare", [])
    code = script("plot_training").main([str(bare), "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert code == 2 and "no validation history" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_rollout_ceiling_bad_mode_is_one_line_and_exit_2(capsys) -> None:
    code = script("rollout_ceiling").main(["--modes", "follow,magic"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown mode 'magic'" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_rollout_ceiling_oracle_branches_and_follow_is_actuated(capsys) -> None:
    from controllers.rl.policy import SHIPPED_POLICY

    camera = SHIPPED_POLICY.parent.parent / "westentor-camera-30min" / "policy.onnx"
    code = script("rollout_ceiling").main([
        "--scenario", "westentor", "--seeds", "2000001",  # sensing: the policy's (camera)
        "--duration", "100", "--horizon", "10", "--policy", str(camera), "--json",
        "--modes", "follow,policy,oracle,follow"])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["mode"] for r in rows] == ["follow", "policy", "oracle", "follow"]
    follow, policy, oracle, again = rows
    assert {r["sensing"] for r in rows} == {"camera"}  # taken from the policy
    assert follow["deviations"] == 0 and follow["cost_veh_s"] > 0
    assert again["cost_veh_s"] == follow["cost_veh_s"]  # same seed, same hour
    assert oracle["branched_points"] > 0 and oracle["deviations"] <= oracle["branched_points"]
    assert "vs_follow" in policy and "vs_follow" in oracle
