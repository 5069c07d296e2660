"""Issue 14, data loss: nothing a user has is overwritten, killed sweeps leave no orphans."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from experiments.cli import main
from experiments.config import RunSpec, parse_config
from experiments.results import RunRecord
from experiments.store import ResultsDir
from experiments.sweep import run_sweep


def config(seeds: list[int], duration: float = 120) -> Any:
    return parse_config({"scenarios": ["westentor"], "seeds": seeds, "duration_s": duration,
                         "controllers": ["fixed-time"]})


class FakeBackend:
    """Yields an ok record per run without simulating (fast unit tests)."""

    name = "fake"

    def __init__(self) -> None:
        self.ran: list[str] = []

    def run(self, specs: Sequence[RunSpec]) -> Iterator[RunRecord]:
        for s in specs:
            self.ran.append(s.run_id)
            yield RunRecord(run_id=s.run_id, **s.to_dict(), metrics={"mean_delay_s": 40.0})


def test_train_refuses_a_folder_with_an_earlier_policy(tmp_path: Path, capsys) -> None:
    out = tmp_path / "policy"
    out.mkdir()
    (out / "policy.onnx").write_bytes(b"earlier policy")
    code = main(["train", "--scenario", "westentor", "--steps", "10", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "--resume" in err and len(err.strip().splitlines()) == 1
    assert (out / "policy.onnx").read_bytes() == b"earlier policy"


def test_resume_with_an_edited_config_is_refused_naming_the_keys(tmp_path: Path) -> None:
    first = FakeBackend()
    run_sweep(config([1, 2]), tmp_path, first, progress=False)
    before = (tmp_path / "experiment.json").read_bytes()
    with pytest.raises(ValueError, match=r"changed: duration_s, seeds"):
        run_sweep(config([1, 2, 3], duration=60), tmp_path, FakeBackend(), resume=True,
                  progress=False)
    assert (tmp_path / "experiment.json").read_bytes() == before
    # the same config resumes and reuses every stored run
    again = FakeBackend()
    outcome = run_sweep(config([1, 2]), tmp_path, again, resume=True, progress=False)
    assert outcome.reused == 2 and again.ran == []


def test_a_second_sweep_into_a_locked_folder_is_refused(tmp_path: Path) -> None:
    results = ResultsDir(tmp_path).create()
    backend = FakeBackend()
    with results.lock(), pytest.raises(ValueError, match="another ampel sweep"):
        run_sweep(config([1]), tmp_path, backend, progress=False)
    assert backend.ran == []
    # the lock is released afterwards
    assert run_sweep(config([1]), tmp_path, FakeBackend(), progress=False).finished == 1


@pytest.mark.parametrize("listening", [True, False])
def test_unreachable_ray_address_times_out_with_one_line(tmp_path: Path,
                                                         listening: bool) -> None:
    pytest.importorskip("ray", reason="Ray is not installed")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("scenarios: [westentor]\ncontrollers: [fixed-time]\nseeds: [1]\n")
    with socket.socket() as server:  # accepts TCP connections, never answers (a hung head)
        server.bind(("127.0.0.1", 0))
        if listening:
            server.listen(8)
        port = server.getsockname()[1]
        started = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "experiments.cli", "experiment", str(cfg),
                              "--ray", f"127.0.0.1:{port}", "--ray-timeout", "3", "--out", "r"],
                             capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "cannot connect to Ray" in out.stderr
    assert time.monotonic() - started < 60
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").rglob("*.json"))


def _children(pid: int) -> set[int]:
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids |= {int(x) for x in (task / "children").read_text().split()}
    return kids


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def _start_sweep(tmp_path: Path) -> tuple[subprocess.Popen, set[int]]:
    cfg = tmp_path / "c.yaml"
    # enough work that the sweep is still running when it is killed (a one-hour run takes
    # about a second on a quiet machine)
    seeds = ", ".join(str(k) for k in range(1, 41))
    cfg.write_text(f"scenarios: [werler_strasse]\ncontrollers: [fixed-time]\nseeds: [{seeds}]\n"
                   "duration_s: 3600\n")
    proc = subprocess.Popen([sys.executable, "-m", "experiments.cli", "experiment", str(cfg),
                             "--workers", "2", "--out", "res", "--quiet"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    kids: set[int] = set()
    while time.monotonic() < deadline and len(kids) < 3:  # 2 workers + resource tracker
        time.sleep(0.2)
        kids = _children(proc.pid)
    assert len(kids) >= 3, "the sweep should have started its workers"
    time.sleep(2.0)  # workers are simulating
    return proc, kids


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_sweep_leaves_no_orphans(tmp_path: Path, sig: signal.Signals) -> None:
    proc, kids = _start_sweep(tmp_path)
    try:
        os.kill(proc.pid, sig)  # only the parent, as `timeout` and batch schedulers do
        _, err = proc.communicate(timeout=60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(k) for k in kids):
            time.sleep(0.2)
        assert not [k for k in kids if _alive(k)], "worker processes outlived the sweep"
    finally:
        for k in kids:
            if _alive(k):
                os.kill(k, signal.SIGKILL)
    if sig == signal.SIGTERM:  # handled like Ctrl-C: one message, the table is written
        assert proc.returncode == 130, err
        assert "--resume" in err and "Traceback" not in err
        assert (tmp_path / "res" / "results.csv").exists()
        assert json.loads((tmp_path / "res" / "experiment.json").read_text())["runs"]


class MetricsBackend(FakeBackend):
    """Ok records with every metric the report reads (no simulation)."""

    def run(self, specs: Sequence[RunSpec]) -> Iterator[RunRecord]:
        for k, s in enumerate(specs):
            self.ran.append(s.run_id)
            metrics = {"mean_delay_s": 40.0 + k, "mean_travel_time_s": 90.0 + k,
                       "mean_waiting_s": 20.0, "max_waiting_s": 80.0, "mean_stops": 1.2,
                       "vehicles_departed": 100, "vehicles_arrived": 98, "teleports": 0,
                       "co2_kg": 10.0}
            yield RunRecord(run_id=s.run_id, **s.to_dict(), metrics=metrics,
                            delays_s=[40.0, 41.0], code_revision="test")


@pytest.mark.parametrize("damage, reason", [
    (lambda text: text[: len(text) // 2], "not readable JSON"),
    (lambda text: "[1, 2, 3]", "got a list"),
    (lambda text: text.replace('"mean_delay_s": 40.0', '"mean_delay_s": "fast"'),
     "metric 'mean_delay_s' is not a number"),
])
def test_report_names_and_skips_each_bad_run_file(tmp_path: Path, capsys, damage,
                                                  reason: str) -> None:
    root = tmp_path / "res"
    run_sweep(config([1, 2, 3]), root, MetricsBackend(), progress=False)
    bad = sorted((root / "runs").glob("*.json"))
    bad = next(p for p in bad if '"mean_delay_s": 40.0' in p.read_text())
    bad.write_text(damage(bad.read_text()))
    code = main(["report", str(root), "-o", str(tmp_path / "r.html")])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and bad.name in lines[0] and reason in lines[0], captured.err
    assert "Traceback" not in captured.err
    assert (tmp_path / "r.html").exists()  # the other runs are reported
