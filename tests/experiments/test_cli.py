"""The ampel CLI as a user runs it: subprocesses, exit codes, output files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REQUIRED_KEYS = {"scenario", "controller", "seed", "duration_s", "vehicles_departed",
                 "vehicles_arrived", "mean_delay_s", "mean_travel_time_s", "mean_waiting_s",
                 "max_waiting_s", "mean_stops", "co2_kg", "nox_g", "pmx_g", "teleports",
                 "safety_violations", "wall_s"}


def ampel(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "experiments.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=os.environ.copy(), timeout=600)


def test_scenarios_lists_westentor() -> None:
    out = ampel("scenarios")
    assert out.returncode == 0
    assert "westentor" in out.stdout


@pytest.mark.parametrize("args, needle", [
    (["run", "--scenario", "atlantis", "--out", "x"], "unknown scenario 'atlantis'"),
    (["run", "--scenario", "westentor", "--controller", "magic", "--out", "x"],
     "unknown controller 'magic'"),
    (["run", "--scenario", "westentor", "--duration", "-10", "--out", "x"], "must be > 0"),
    (["run", "--scenario", "westentor", "--seed", "abc", "--out", "x"], "expected an integer"),
    (["run", "--scenario", "westentor", "--out", "/proc/ampel/out"], "not writable"),
    (["run", "--scenario", "westentor", "--plan", "nope", "--out", "x"], "has no plan 'nope'"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path: Path) -> None:
    out = ampel(*args, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert needle in lines[0]
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_run_writes_summary_and_tripinfo(tmp_path: Path) -> None:
    out_dir = tmp_path / "d"
    out = ampel("run", "--scenario", "westentor", "--controller", "fixed-time", "--seed", "1",
                "--duration", "300", "--out", str(out_dir), "--quiet")
    assert out.returncode == 0, out.stderr
    summary = json.loads((out_dir / "summary.json").read_text())
    assert REQUIRED_KEYS <= set(summary)
    assert summary["safety_violations"] == 0
    assert summary["vehicles_arrived"] > 0 and summary["mean_delay_s"] > 0
    assert (out_dir / "tripinfo.xml").stat().st_size > 0
    assert "Mean delay" in out.stdout


def test_gui_without_a_display_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run([sys.executable, "-m", "experiments.cli", "run", "--scenario",
                          "westentor", "--gui", "--duration", "10", "--out", str(tmp_path / "g")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ampel: error: --gui needs"), out.stderr
    assert "Traceback" not in out.stderr
