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
                 "safety_violations", "wall_s", "vehicles_not_departed", "mean_depart_delay_s",
                 "mean_total_delay_s", "intergreens"}


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
    (["run", "--scenario", "westentor", "--param", "intergreens=geometric", "--out", "x"],
     "intergreens must be rilsa or program"),
    (["hil", "deploy", "--controller", "sumo-program", "--target", "127.0.0.1:1"],
     "sumo-program is SUMO's own control"),
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


def test_controllers_lists_every_controller_with_its_parameters() -> None:
    from controllers.registry import controller_names

    out = ampel("controllers")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for name in controller_names():
        row = next(i for i, line in enumerate(lines) if line.split()[0] == name)
        assert len(lines[row].split(maxsplit=1)) == 2  # a description
        assert "intergreens=rilsa" in lines[row + 1] and "parameters:" in lines[row + 1]
    assert "max_gap_s=3" in out.stdout and "min_dur_s=5" in out.stdout


def test_an_unknown_vclass_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from resco_nets import resco

    net = resco("ingolstadt1").with_suffix("").with_suffix(".net.xml")
    (tmp_path / "r.rou.xml").write_text('<routes><vType id="hover" vClass="hovercraft"/>'
                                        "</routes>", encoding="utf-8")
    cfg = tmp_path / "x.sumocfg"
    cfg.write_text(f'<configuration><input><net-file value="{net}"/><route-files '
                   'value="r.rou.xml"/></input></configuration>', encoding="utf-8")
    out = ampel("run", "--scenario", str(cfg), "--out", str(tmp_path / "o"), "--quiet")
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown vClass 'hovercraft'" in lines[0], out.stderr
