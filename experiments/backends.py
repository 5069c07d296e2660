"""Where the runs of a sweep execute: local worker processes (default) or a Ray cluster.

A backend takes run specs and yields their records as each run finishes, in completion
order. Both call :func:`experiments.worker.execute_run`; one simulation per process, as
libsumo requires.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

from experiments.config import RunSpec
from experiments.worker import execute_run, failed_record

log = logging.getLogger(__name__)


class Backend(Protocol):
    """Anything that executes runs and yields their records as they finish."""

    name: str

    def run(self, specs: Sequence[RunSpec]) -> Iterator[dict[str, Any]]:
        """Execute ``specs``; yield one record per spec, as each finishes."""
        ...


def available_cores() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass
class LocalBackend:
    """A pool of worker processes on this machine (``spawn``: each a fresh interpreter)."""

    workers: int
    name: str = "local"

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")

    def run(self, specs: Sequence[RunSpec]) -> Iterator[dict[str, Any]]:
        """Run on ``workers`` processes; a crashed worker's run is recorded as failed."""
        if not specs:
            return
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(specs)), mp_context=ctx)
        pending: dict[Future[dict[str, Any]], RunSpec] = {}
        try:
            pending = {pool.submit(execute_run, s): s for s in specs}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    spec = pending.pop(fut)
                    try:
                        yield fut.result()
                    except Exception as exc:  # noqa: BLE001 - worker died (e.g. a crash)
                        yield failed_record(spec, f"worker failed: {type(exc).__name__}: {exc}",
                                            traceback.format_exc(limit=4))
        finally:
            for fut in pending:
                fut.cancel()
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

    def run(self, specs: Sequence[RunSpec]) -> Iterator[dict[str, Any]]:
        """Submit every run as a task; yield records as tasks finish."""
        try:
            import ray
        except ImportError:
            raise ValueError("--ray needs Ray: pip install 'ampel[ray]'") from None
        if not specs:
            return
        started_here = not ray.is_initialized()
        if started_here:
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ValueError(f"cannot connect to Ray at {self.address!r}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else exc}") from None
        task = ray.remote(num_cpus=1, max_retries=1)(execute_run)
        refs = {task.remote(s): s for s in specs}
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                for ref in done:
                    spec = refs.pop(ref)
                    try:
                        yield ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - task or node failure
                        yield failed_record(spec, f"Ray task failed: {type(exc).__name__}: "
                                            f"{str(exc).splitlines()[0] if str(exc) else ''}")
        finally:
            for ref in refs:
                ray.cancel(ref, force=True)
            if started_here:
                ray.shutdown()


def make_backend(workers: int | None, ray_address: str | None) -> Backend:
    """Ray when an address is given, else local processes (default: all cores)."""
    if ray_address:
        return RayBackend(ray_address)
    return LocalBackend(workers or available_cores())
