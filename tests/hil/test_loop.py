"""The full loop on loopback: SUMO <-> bridge <-> virtual field controller <-> adapter.

15 simulated minutes of Westentor; the same controller run in-process is the reference.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from conftest import serve

from controllers.registry import BUILDERS, controller_factory
from controllers.runner import build_controllers, run_closed_loop
from hil.audit import read_audit

pytestmark = pytest.mark.slow

DURATION_S = 900.0
SEED = 3


def _loop(procs, tmp_path: Path, controller: str) -> tuple[dict, list[dict]]:
    _server, port = serve(procs, "--speed", "60", "--sync", "--watchdog", "2.0")
    audit = tmp_path / "audit.jsonl"
    adapter = procs("hil", "deploy", "--target", f"127.0.0.1:{port}", "--controller",
                    controller, "--period", "0.01", "--slow", "0.25", "--stale", "1.5",
                    "--watchdog", "2.0", "--audit", str(audit))
    out = tmp_path / "bridge"
    bridge = procs("hil", "bridge", "--scenario", "westentor", "--target", f"127.0.0.1:{port}",
                   "--seed", str(SEED), "--duration", str(DURATION_S), "--out", str(out))
    assert bridge.popen.wait(150) == 0, bridge.stderr[-3000:]
    assert adapter.stop(signal.SIGINT) == 0, adapter.stderr[-3000:]
    for proc in (bridge, adapter):
        assert "Traceback" not in proc.stderr
    return json.loads((out / "summary.json").read_text()), read_audit(audit)


@pytest.mark.parametrize("controller", ["fixed-time", "actuated"])
def test_full_loop_matches_in_process_control(procs, westentor, tmp_path: Path,
                                              controller: str) -> None:
    if controller not in BUILDERS:
        pytest.skip(f"{controller} is not in the controller registry yet")
    hil, audit = _loop(procs, tmp_path, controller)
    reference = run_closed_loop(
        westentor, build_controllers(westentor, controller_factory(controller)), seed=SEED,
        duration_s=DURATION_S, out_dir=tmp_path / "in-process")
    ref = reference.metrics
    # safety: the bridge's own guard saw every tick SUMO was shown
    assert hil["safety_violations"] == 0, hil["violation_messages"]
    assert hil["missed_ticks"] == 0
    assert hil["controller_ticks"] >= DURATION_S
    assert hil["external_share"] > 0.9, hil["controller_modes"]
    assert not [r for r in audit if r["kind"] == "alarm"]
    commands = [r for r in audit if r["event"] == "stage_request"]
    assert len(commands) >= 10
    # same metrics as `ampel run`, and close to the in-process run of the same controller
    for key in ("vehicles_departed", "mean_delay_s", "teleports", "co2_kg"):
        assert key in hil
    assert hil["vehicles_departed"] == ref["vehicles_departed"]
    assert hil["mean_delay_s"] == pytest.approx(ref["mean_delay_s"], rel=0.15, abs=2.0)
    assert hil["vehicles_arrived"] == pytest.approx(ref["vehicles_arrived"], rel=0.05)
