"""Where the runs of a sweep execute: local worker processes (default) or a Ray cluster.

A backend takes run specs and yields their records as each run finishes, in completion
order. Both call :func:`experiments.worker.execute_run` in a fresh worker process for every
run: libsumo allows one simulation at a time per process, and it also keeps state across
``start``/``close`` in one process (a run's result then depends on which runs the same
process executed before it), so a worker never runs a second simulation.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import threading
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

from controllers.rl.procs import die_with_parent
from experiments.config import RunSpec
from experiments.results import RunRecord
from experiments.worker import execute_run, failed_record
from signals.errors import ConfigError

log = logging.getLogger(__name__)


class Backend(Protocol):
    """Anything that executes runs and yields their records as they finish."""

    name: str

    def run(self, specs: Sequence[RunSpec]) -> Iterator[RunRecord]:
        """Execute ``specs``; yield one record per spec, as each finishes."""
        ...


def available_cores() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Stop the pool's worker processes at once (the sweep was interrupted)."""
    for proc in list(getattr(pool, "_processes", {}).values()):
        if proc.is_alive():
            proc.kill()


@dataclass
class LocalBackend:
    """A pool of worker processes on this machine: a fresh interpreter (``spawn``) per run."""

    workers: int
    name: str = "local"

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {self.workers}")

    def run(self, specs: Sequence[RunSpec]) -> Iterator[RunRecord]:
        """Run on ``workers`` processes; a crashed worker's run is recorded as failed."""
        if not specs:
            return
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(specs)), mp_context=ctx,
                                   initializer=die_with_parent, initargs=(os.getpid(),),
                                   max_tasks_per_child=1)
        pending: dict[Future[RunRecord], RunSpec] = {}
        finished = False
        try:
            pending = {pool.submit(execute_run, s): s for s in specs}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    spec = pending.pop(fut)
                    try:
                        yield fut.result()
                    except Exception as exc:  # worker died (e.g. a crash)
                        yield failed_record(spec, f"worker failed: {type(exc).__name__}: {exc}",
                                            traceback.format_exc(limit=4))
            finished = True
        finally:
            for fut in pending:
                fut.cancel()
            if not finished:  # interrupted (Ctrl-C, SIGTERM): do not wait for running runs
                _kill_workers(pool)
            pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class RayBackend:
    """Runs as Ray tasks (one CPU each) on the cluster at ``address``.

    ``address`` is what ``ray.init`` accepts: ``auto`` (the cluster this machine belongs
    to), ``ray://HOST:10001`` or ``HOST:6379``, or ``local`` (start a private Ray on this
    machine). Every node needs ampel installed at the same revision.
    """

    address: str
    name: str = "ray"
    connect_timeout_s: float = 30.0
    owns_ray: bool = False  # set when connect() started Ray; run() then shuts it down

    def check_reachable(self) -> None:
        """Refuse (ValueError) an address that does not answer within the timeout.

        ``ray.init`` itself retries an unreachable head for minutes; a TCP connect with a
        timeout tells the user at once. ``auto`` and ``local`` are not checked here.
        """
        target = self.address.removeprefix("ray://")
        if self.address in ("auto", "local") or ":" not in target:
            return
        host, _, port_text = target.rpartition(":")
        try:
            port = int(port_text)
        except ValueError:
            raise ConfigError(f"--ray: expected HOST:PORT, got {self.address!r}") from None
        try:
            with socket.create_connection((host.strip("[]"), port),
                                          timeout=self.connect_timeout_s):
                pass
        except OSError as exc:
            raise ConfigError(f"cannot connect to Ray at {self.address!r} within "
                              f"{self.connect_timeout_s:g} s ({exc.strerror or exc}); is the "
                              "head node running? (--ray-timeout sets the wait)") from None

    def connect(self) -> bool:
        """Connect to the cluster, giving up after ``connect_timeout_s`` with a ValueError.

        Returns True when this call started Ray (then :meth:`run` shuts it down).
        """
        self.owns_ray = self.owns_ray or self._connect()
        return self.owns_ray

    def _connect(self) -> bool:
        ray = _import_ray()
        if ray.is_initialized():
            return False
        self.check_reachable()
        kwargs = {"address": self.address, "include_dashboard": False, "log_to_driver": False,
                  "logging_level": logging.ERROR}
        if self.address in ("auto", "local"):
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ConfigError(f"cannot connect to Ray at {self.address!r}: "
                                  f"{_first_line(exc)}") from None
            return True
        errors: list[BaseException] = []

        def init() -> None:
            try:
                ray.init(**kwargs)
            except BaseException as exc:  # reported below
                errors.append(exc)

        thread = threading.Thread(target=init, name="ray-connect", daemon=True)
        thread.start()
        thread.join(self.connect_timeout_s)
        if thread.is_alive():
            raise ConfigError(f"cannot connect to Ray at {self.address!r}: no answer within "
                              f"{self.connect_timeout_s:g} s; is the head node running? "
                              "(--ray-timeout sets the wait)")
        if errors:
            raise ConfigError(f"cannot connect to Ray at {self.address!r}: "
                              f"{_first_line(errors[0])}")
        return True

    def run(self, specs: Sequence[RunSpec]) -> Iterator[RunRecord]:
        """Submit every run as a task; yield records as tasks finish."""
        if not specs:
            return
        ray = _import_ray()
        self.connect()
        task = ray.remote(num_cpus=1, max_retries=1, max_calls=1)(execute_run)
        refs = {task.remote(s): s for s in specs}
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                for ref in done:
                    spec = refs.pop(ref)
                    try:
                        yield ray.get(ref)
                    except Exception as exc:  # task or node failure
                        yield failed_record(spec, f"Ray task failed: {type(exc).__name__}: "
                                            f"{str(exc).splitlines()[0] if str(exc) else ''}")
        finally:
            for ref in refs:
                ray.cancel(ref, force=True)
            if self.owns_ray:
                ray.shutdown()
                self.owns_ray = False


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'ampel[ray]'") from None
    return ray


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def make_backend(workers: int | None, ray_address: str | None,
                 ray_timeout_s: float = 30.0) -> Backend:
    """Ray when an address is given (checked to answer within ``ray_timeout_s``), else
    local processes (default: all cores)."""
    if ray_address:
        backend = RayBackend(ray_address, connect_timeout_s=ray_timeout_s)
        backend.connect()  # an unreachable head fails before any work
        return backend
    return LocalBackend(workers or available_cores())
