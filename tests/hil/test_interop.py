"""Interoperability: a non-pymodbus client (mbpoll), Modbus/TCP over TLS, Modbus RTU on a
serial line (a pty pair from socat)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import serve, wait_for

from hil.audit import read_audit
from hil.link import FieldLink, LinkError, LinkOptions
from hil.tls import TlsFiles, client_context

pytestmark = pytest.mark.slow


def _adapter_active(audit: Path) -> bool:
    if not audit.exists():
        return False
    records = read_audit(audit)
    return (any(r["event"].endswith("-> active") for r in records)
            and any(r["event"] == "stage_request" for r in records))


@pytest.mark.skipif(shutil.which("mbpoll") is None, reason="mbpoll not installed "
                    "(apt-get install mbpoll; .ci/run installs it)")
def test_mbpoll_reads_the_input_registers(procs, binding) -> None:
    _server, port = serve(procs, "--speed", "5")
    rm = binding.regmap
    f = rm.inputs.fields
    out = subprocess.run(["mbpoll", "-m", "tcp", "-a", str(rm.device_id), "-t", "3", "-0",
                          "-r", "0", "-c", "15", "-p", str(port), "-1", "-o", "2",
                          "127.0.0.1"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stdout + out.stderr
    values = {int(a): int(v) for a, v in re.findall(r"\[(\d+)\]:\s+(-?\d+)", out.stdout)}
    assert len(values) == 15
    assert values[f["interface_version"].address] == rm.map_version
    assert values[f["mode"].address] == rm.code("mode", "local")
    assert values[f["group_count"].address] == binding.group_count
    assert values[f["stage_count"].address] == binding.stage_count
    assert values[f["detector_count"].address] == binding.detector_count
    # and a holding register written by mbpoll is what the controller reads
    hb = rm.holding.fields["adapter_heartbeat"].address
    out = subprocess.run(["mbpoll", "-m", "tcp", "-a", "1", "-t", "4", "-0", "-r", str(hb),
                          "-p", str(port), "-1", "127.0.0.1", "4242"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stdout + out.stderr
    link = FieldLink(binding, LinkOptions(port=port))
    link.connect()
    assert link.read_holding("adapter_heartbeat") == 4242
    link.close()


def _openssl(tmp: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True, timeout=30)


def _make_certs(tmp: Path, name: str) -> TlsFiles:
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(tmp, "req", "-x509", *ec, "-keyout", f"{name}-ca.key", "-out", f"{name}-ca.pem",
             "-days", "2", "-subj", f"/CN={name} test CA")
    _openssl(tmp, "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", "/CN=localhost")
    (tmp / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl(tmp, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{name}-ca.pem", "-CAkey",
             f"{name}-ca.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
             "-extfile", "san.ext")
    return TlsFiles(cert=tmp / f"{name}.pem", key=tmp / f"{name}.key", ca=tmp / f"{name}-ca.pem")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_modbus_tcp_over_tls(procs, binding, tmp_path: Path) -> None:
    good = _make_certs(tmp_path, "server")
    other = _make_certs(tmp_path, "other")
    _server, port = serve(procs, "--speed", "5", "--tls-cert", str(good.cert), "--tls-key",
                          str(good.key))
    audit = tmp_path / "audit.jsonl"
    adapter = procs("hil", "deploy", "--target", f"127.0.0.1:{port}", "--controller",
                    "fixed-time", "--period", "0.05", "--tls-ca", str(good.ca),
                    "--audit", str(audit))
    assert wait_for(lambda: _adapter_active(audit), 15), adapter.stderr
    tls = FieldLink(binding, LinkOptions(port=port, sslctx=client_context(TlsFiles(ca=good.ca)),
                                         timeout_s=0.5))
    tls.connect()
    assert tls.read_status().mode == "external"
    tls.close()
    # a plain Modbus/TCP client and a client trusting another CA get nothing
    plain = FieldLink(binding, LinkOptions(port=port, timeout_s=0.3, retries=0))
    with pytest.raises(LinkError):
        plain.connect()
        plain.read_status()
    plain.close()
    wrong = FieldLink(binding, LinkOptions(port=port, sslctx=client_context(
        TlsFiles(ca=other.ca)), timeout_s=0.3, retries=0))
    with pytest.raises(LinkError):
        wrong.connect()
    assert adapter.stop() == 0 and "Traceback" not in adapter.stderr


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat not installed "
                    "(apt-get install socat; .ci/run installs it)")
def test_modbus_rtu_over_a_serial_line(procs, tmp_path: Path) -> None:
    a, b = tmp_path / "ttyA", tmp_path / "ttyB"
    socat = subprocess.Popen(["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: a.exists() and b.exists(), 10)
        serve(procs, "--speed", "5", "--serial", str(a), "--baudrate", "115200")
        audit = tmp_path / "audit.jsonl"
        adapter = procs("hil", "deploy", "--serial", str(b), "--baudrate", "115200",
                        "--controller", "fixed-time", "--period", "0.05", "--timeout", "0.2",
                        "--retries", "0", "--audit", str(audit))
        assert wait_for(lambda: _adapter_active(audit), 20), adapter.stderr
        time.sleep(1.0)
        assert adapter.stop() == 0 and "Traceback" not in adapter.stderr
        records = read_audit(audit)
        assert not [r for r in records if r["kind"] == "alarm"]
        assert "returned the controller to local mode on exit" in [r["event"] for r in records]
    finally:
        socat.terminate()
        socat.wait(5)
