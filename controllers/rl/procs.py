"""Fresh worker processes for labelling episodes and evaluation runs.

libsumo runs one simulation per process and keeps state across ``start``/``close`` (a
run's result can depend on which runs the same process executed before), so every task
runs in a fresh interpreter (``spawn``, ``max_tasks_per_child=1``), as ``ampel
experiment`` does. Results come back in task order, whatever the scheduling.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

from signals.errors import ConfigError

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int) -> None:
    """Worker initializer: the worker is killed when its parent dies (Linux).

    Without it a SIGKILL or SIGTERM to the parent (``ampel experiment``, ``ampel train``)
    would leave its workers (and the multiprocessing resource tracker) running as orphans.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def fresh_map(fn: Callable[[T], R], tasks: Sequence[T], workers: int,
              keep_going: Callable[[], bool] | None = None) -> Iterator[tuple[int, R]]:
    """Run ``fn`` on every task, each in a fresh process, ``workers`` at a time.

    Yields ``(index, result)`` as tasks finish (completion order; sort by index for task
    order). ``keep_going`` is asked before each further task is started; once it says
    False no more tasks start (running ones finish). ``fn`` must be a module-level
    function and the tasks picklable.
    """
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if not tasks:
        return
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx,
                               initializer=die_with_parent, initargs=(os.getpid(),),
                               max_tasks_per_child=1)
    pending: dict[Future[Any], int] = {}
    nxt = 0
    try:
        while nxt < len(tasks) or pending:
            while nxt < len(tasks) and len(pending) < workers \
                    and (keep_going is None or keep_going()):
                pending[pool.submit(fn, tasks[nxt])] = nxt
                nxt += 1
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield pending.pop(fut), fut.result()
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
