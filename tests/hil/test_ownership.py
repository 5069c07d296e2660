"""Issue 14: one owner per field controller; wrong junctions, silent targets and unmapped
registers are refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import _LISTEN, Probe, free_port, serve, wait_for
from test_field_controller import Bench

from hil.audit import read_audit

pytestmark = pytest.mark.slow

SERVE = ("--speed", "5", "--watchdog", "1.0")


def deploy(procs, port: int, audit: Path, *extra: str):
    return procs("hil", "deploy", "--target", f"127.0.0.1:{port}", "--controller", "fixed-time",
                 "--period", "0.05", "--timeout", "0.1", "--retries", "1", "--audit",
                 str(audit), *extra)


def anomalies(audit: Path) -> list[str]:
    return [r["event"] for r in read_audit(audit) if r["kind"] == "anomaly"]


def test_field_controller_grants_one_owner_and_refuses_a_second(westentor) -> None:
    bench = Bench(westentor, handshake_beats=3)
    bench.set(requested_mode="external", owner_id=0xA)
    bench.run(2.0)
    assert bench.ctrl.mode == "external" and bench.ctrl.owner == 0xA << 16
    # a second session writes its id and a command: refused, logged, flagged
    bench.set(owner_id=0xB, requested_stage=1, command_seq=7)
    bench.run(1.0)
    snap = bench.snapshot()
    assert snap.mode == "external" and snap.owner_id == 0xA << 16
    assert snap.last_accepted_seq != 7 and snap.reject_reason == "not_owner"
    assert "foreign_session" in snap.fault_bits
    assert any("refused a second adapter session" in e for e in bench.ctrl.events)
    bench.set(requested_mode="local")  # the foreign session cannot hand back control
    bench.run(1.0)
    assert bench.ctrl.mode == "external"
    bench.set(owner_id=0xA)  # the owner can; the fault clears with the release
    bench.run(1.0)
    assert bench.ctrl.mode == "local" and "foreign_session" not in bench.snapshot().fault_bits


def test_second_deploy_is_refused_and_the_first_keeps_control(procs, binding,
                                                              tmp_path: Path) -> None:
    _, port = serve(procs, *SERVE)
    first_audit, second_audit = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first = deploy(procs, port, first_audit)
    probe = Probe(binding, port)
    snap = wait_for(lambda: (s := probe.status()) and s.mode == "external" and s, 15)
    assert snap and snap.owner_id != 0
    second = deploy(procs, port, second_audit)
    assert second.popen.wait(20) == 2
    err = second.stderr.strip().splitlines()
    assert len(err) == 1 and "another adapter session" in err[0], second.stderr
    assert "foreign_owner" in anomalies(second_audit)
    time.sleep(0.5)
    after = probe.status()
    assert after.mode == "external" and after.owner_id == snap.owner_id
    assert first.popen.poll() is None and "foreign_session" not in anomalies(first_audit)
    probe.close()


def test_deploy_to_a_silent_target_exits_2(procs, tmp_path: Path) -> None:
    started = time.monotonic()
    proc = deploy(procs, free_port(), tmp_path / "a.jsonl", "--connect-timeout", "1")
    assert proc.popen.wait(30) == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "no field controller answered" in err[0], proc.stderr
    assert "returned to local mode" not in proc.stdout
    assert time.monotonic() - started < 25


def test_bridge_refuses_a_controller_of_another_scenario(procs, tmp_path: Path) -> None:
    server = procs("hil", "serve", "--scenario", "marker_allee", "--port", "0", *SERVE)
    port = int(server.wait_line(_LISTEN).group(1))
    bridge = procs("hil", "bridge", "--scenario", "westentor", "--target", f"127.0.0.1:{port}",
                   "--duration", "60", "--out", str(tmp_path / "b"), "--wait", "5")
    assert bridge.popen.wait(60) == 2
    err = bridge.stderr.strip().splitlines()
    assert len(err) == 1 and "does not run junction westentor" in err[0], bridge.stderr


def test_writes_to_unmapped_holding_registers_get_exception_2(procs, binding) -> None:
    from pymodbus.client import ModbusTcpClient

    _, port = serve(procs, *SERVE)
    client = ModbusTcpClient("127.0.0.1", port=port)
    assert client.connect()
    try:
        mapped = client.write_register(binding.regmap.holding.fields["hold"].address, 0,
                                       device_id=binding.regmap.device_id)
        assert not mapped.isError()
        unmapped = client.write_register(10, 1, device_id=binding.regmap.device_id)
        assert unmapped.isError() and unmapped.exception_code == 2
    finally:
        client.close()


def test_deploy_refuses_a_controller_of_another_scenario(procs, tmp_path: Path) -> None:
    server = procs("hil", "serve", "--scenario", "marker_allee", "--port", "0", *SERVE)

    port = int(server.wait_line(_LISTEN).group(1))
    audit = tmp_path / "a.jsonl"
    proc = deploy(procs, port, audit)  # --scenario westentor (the default)
    assert proc.popen.wait(30) == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "does not run junction westentor" in err[0], proc.stderr
    assert "junction_mismatch" in anomalies(audit)
    assert not [r for r in read_audit(audit) if r["kind"] == "command"]
