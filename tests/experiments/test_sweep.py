"""Sweeps with real SUMO: 2 local workers, a failing run, kill and resume, Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.backends import LocalBackend
from experiments.config import parse_config
from experiments.store import ResultsDir
from experiments.sweep import run_sweep

pytestmark = pytest.mark.slow

ALT_GREENS = {"S1_north_south": 30, "S2_north_south_left": 10, "S3_west_east": 20,
              "S4_west_east_left": 8}


def write_config(path: Path, seeds: list[int], duration: int, extra: str = "") -> Path:
    path.write_text(
        "name: tiny\nscenarios: [westentor]\ncontrollers:\n  - fixed-time\n"
        f"  - {{name: fixed-time, label: alt, params: {{greens: {json.dumps(ALT_GREENS)}}}}}\n"
        f"seeds: {seeds}\nduration_s: {duration}\nqueue_sample_s: 30\n{extra}")
    return path


def ampel(*args: str, cwd: Path, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "experiments.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=os.environ.copy(), timeout=300, **kw)


def planned_ids(root: Path) -> list[str]:
    return [r["run_id"] for r in json.loads((root / "experiment.json").read_text())["runs"]]


def test_two_worker_sweep_end_to_end(tmp_path: Path) -> None:
    import pandas as pd

    cfg = write_config(tmp_path / "c.yaml", [1, 2, 3], 240)
    out = ampel("experiment", str(cfg), "--workers", "2", "--out", "res", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "6 runs planned: 6 run now" in out.stdout
    root = tmp_path / "res"
    table = pd.read_csv(root / "results.csv")
    assert sorted(table["run_id"]) == sorted(planned_ids(root))
    assert set(table["status"]) == {"ok"}
    assert set(table["controller"]) == {"fixed-time", "alt"}
    assert (table["safety_violations"] == 0).all() and (table["vehicles_arrived"] > 0).all()
    # same demand per seed, different plans: the two controllers' delays differ
    by = table.pivot(index="seed", columns="controller", values="mean_delay_s")
    assert not by["alt"].equals(by["fixed-time"])
    rec = json.loads((root / "runs" / f"{table['run_id'][0]}.json").read_text())
    assert len(rec["delays_s"]) == rec["metrics"]["vehicles_departed"]
    assert rec["queues"]["times_s"][:2] == [30.0, 60.0]
    assert set(rec["approaches"]["westentor"]) == {"north_in", "south_in", "east_in", "west_in"}
    # a second start without --resume refuses to mix sweeps
    again = ampel("experiment", str(cfg), "--out", "res", cwd=tmp_path)
    assert again.returncode == 2 and "--resume" in again.stderr


def test_failing_run_is_recorded_and_sweep_goes_on(tmp_path: Path) -> None:
    config = parse_config({"scenarios": ["westentor"], "seeds": [1], "duration_s": 120,
                           "controllers": ["fixed-time", {"name": "fixed-time",
                                                          "label": "broken",
                                                          "params": {"plan": "nope"}}]})
    outcome = run_sweep(config, tmp_path / "r", LocalBackend(2), progress=False)
    assert outcome.finished == 2 and len(outcome.failed) == 1
    failed = outcome.failed[0]
    assert failed.controller == "broken" and "has no plan 'nope'" in (failed.error or "")
    stored = ResultsDir(tmp_path / "r").read_run(failed.run_id)
    assert stored is not None and stored.status == "failed" and "Traceback" in stored.traceback
    # resume redoes only the failed run
    again = run_sweep(config, tmp_path / "r", LocalBackend(1), resume=True, progress=False)
    assert again.reused == 1 and again.finished == 1


def test_killed_sweep_resumes_without_redoing_or_losing_runs(tmp_path: Path) -> None:
    import pandas as pd

    cfg = write_config(tmp_path / "c.yaml", list(range(1, 6)), 600)
    root = tmp_path / "res"
    proc = subprocess.Popen([sys.executable, "-m", "experiments.cli", "experiment", str(cfg),
                             "--workers", "1", "--out", "res", "--quiet"], cwd=tmp_path,
                            env=os.environ.copy(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(list((root / "runs").glob("*.json"))) >= 2:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    before = {p.name: p.read_bytes() for p in (root / "runs").glob("*.json")}
    assert 2 <= len(before) < 10, "the sweep should have been killed halfway"
    assert not (root / "results.csv").exists()

    out = ampel("experiment", str(cfg), "--workers", "2", "--out", "res", "--resume",
                cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"{10 - len(before)} run now, {len(before)} already finished" in out.stdout
    for name, content in before.items():  # finished runs were neither redone nor lost
        assert (root / "runs" / name).read_bytes() == content
    table = pd.read_csv(root / "results.csv")
    assert sorted(table["run_id"]) == sorted(planned_ids(root))
    assert table["run_id"].is_unique and len(table) == 10
    assert sorted(p.stem for p in (root / "runs").glob("*.json")) == sorted(table["run_id"])


def test_ray_backend_on_a_local_ray_instance(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'ampel[ray]')")
    cfg = write_config(tmp_path / "c.yaml", [1, 2], 120)
    out = ampel("experiment", str(cfg), "--ray", "local", "--out", "ray", "--quiet",
                cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    ray_records = {r.run_id: r for r in ResultsDir(tmp_path / "ray").planned_records()}
    assert len(ray_records) == 4 and {r.status for r in ray_records.values()} == {"ok"}
    # the same runs on local processes give identical metrics (SUMO is deterministic)
    config = parse_config({"scenarios": ["westentor"], "seeds": [1], "duration_s": 120,
                           "controllers": ["fixed-time"]})
    run_sweep(config, tmp_path / "local", LocalBackend(1), progress=False)
    (local,) = ResultsDir(tmp_path / "local").planned_records()
    assert ray_records[local.run_id].metrics == local.metrics


def test_a_run_does_not_depend_on_the_runs_before_it() -> None:
    """libsumo keeps state across start/close in one process: on cologne1, SOTL run after
    SOTL and actuated in the same process gave 24.45 s instead of 23.09 s. Every run gets
    its own worker process, so a result cannot depend on the order of the sweep."""
    from experiments.config import RunSpec
    from tests.resco_nets import resco

    net = str(resco("cologne1"))

    def spec(controller: str) -> RunSpec:
        return RunSpec(scenario=net, controller=controller, controller_name=controller,
                       params={}, seed=1, demand_scale=1.0, duration_s=900, queue_sample_s=0)

    records = list(LocalBackend(1).run([spec("sotl"), spec("actuated"), spec("sotl")]))
    assert [(r.controller, r.status) for r in records] == [
        ("sotl", "ok"), ("actuated", "ok"), ("sotl", "ok")]
    assert records[2].metrics == records[0].metrics
