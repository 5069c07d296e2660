"""Sweep speed-up: the same sweep on 1 and on 2 local worker processes, in one invocation.

Each sweep runs every (controller, seed) of Westentor's fixed-time plan for the given
duration, into a fresh results folder, through the same code path as ``ampel experiment``
(spawned workers, per-run JSON, results table). Prints both wall times and the ratio.
Target: 2 workers at least 1.7x faster than 1.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from experiments.backends import LocalBackend
from experiments.config import parse_config
from experiments.sweep import preflight, run_sweep


def sweep_seconds(workers: int, seeds: int, duration: float, root: Path) -> float:
    """Wall seconds of one complete sweep on ``workers`` processes."""
    config = preflight(parse_config({
        "name": f"bench-{workers}", "scenarios": ["westentor"], "controllers": ["fixed-time"],
        "seeds": list(range(1, seeds + 1)), "duration_s": duration}))
    started = time.perf_counter()
    outcome = run_sweep(config, root, LocalBackend(workers), progress=False)
    wall = time.perf_counter() - started
    if outcome.failed or outcome.finished != seeds:
        raise RuntimeError(f"sweep on {workers} worker(s) did not finish cleanly")
    return wall


def main() -> None:
    """Run the 1-worker and the 2-worker sweep and print the speed-up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12, help="runs per sweep (default 12)")
    parser.add_argument("--duration", type=float, default=3600.0,
                        help="simulated seconds per run (default 3600)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="ampel-bench-sweep-") as tmp:
        one = sweep_seconds(1, args.seeds, args.duration, Path(tmp) / "w1")
        two = sweep_seconds(2, args.seeds, args.duration, Path(tmp) / "w2")
    print(f"sweep of {args.seeds} runs x {args.duration:g} s (Westentor, fixed-time)")
    print(f"  1 worker : {one:6.1f} s")
    print(f"  2 workers: {two:6.1f} s")
    print(f"  speed-up : {one / two:.2f}x (target >= 1.7x)")


if __name__ == "__main__":
    main()
