"""Processes and probes for the HIL tests: real `ampel hil` processes on loopback sockets."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hil.codec import JunctionBinding
from hil.link import FieldLink, LinkError, LinkOptions
from hil.registermap import DecodeError, load_register_map

_LISTEN = re.compile(r"on (?:modbus(?:\+tls)?://\S+:(\d+)|serial )")


class Proc:
    """A running ``ampel`` sub-command with its output collected in the background."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.args = args
        self.popen = subprocess.Popen([sys.executable, "-m", "experiments.cli", *args],
                                      cwd=cwd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [threading.Thread(target=self._drain, args=(s, b), daemon=True)
                         for s, b in ((self.popen.stdout, self.out),
                                      (self.popen.stderr, self.err))]
        for t in self._threads:
            t.start()

    @staticmethod
    def _drain(stream, sink: list[str]) -> None:
        for line in stream:
            sink.append(line)

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def wait_line(self, pattern: re.Pattern[str], timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.out):
                m = pattern.search(line)
                if m:
                    return m
            if self.popen.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no line matching {pattern.pattern!r}; stdout={self.stdout!r} "
                             f"stderr={self.stderr[-2000:]!r}")

    def send(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGCONT)
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        for t in self._threads:
            t.join(5)
        return self.popen.returncode


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """Start ``ampel`` sub-commands; every one is stopped at teardown."""
    started: list[Proc] = []

    def start(*args: str) -> Proc:
        proc = Proc([str(a) for a in args], tmp_path)
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        proc.stop(signal.SIGKILL if proc.popen.poll() is None else signal.SIGINT)


def serve(start: Callable[..., Proc], *extra: str, port: int = 0) -> tuple[Proc, int]:
    """Start ``ampel hil serve`` for Westentor; returns the process and its TCP port."""
    proc = start("hil", "serve", "--scenario", "westentor", "--port", str(port), *extra)
    m = proc.wait_line(_LISTEN)
    return proc, int(m.group(1)) if m.group(1) else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.02):
    """Poll until ``predicate()`` is truthy; returns it, or None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


class Probe:
    """Reads the virtual controller's status directly (not through any fault proxy)."""

    def __init__(self, binding: JunctionBinding, port: int) -> None:
        self.link = FieldLink(binding, LinkOptions(port=port, timeout_s=0.5, retries=0))

    def status(self):
        try:
            if not self.link.connected:
                self.link.connect()
            return self.link.read_status()
        except (LinkError, DecodeError):
            self.link.close()
            return None

    def mode(self) -> str | None:
        snap = self.status()
        return snap.mode if snap else None

    def close(self) -> None:
        self.link.close()


@pytest.fixture(scope="session")
def binding(westentor) -> JunctionBinding:
    return JunctionBinding.for_junction(load_register_map(), westentor.junctions[0])
