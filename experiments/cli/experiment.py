"""``ampel experiment``: a sweep of scenarios x controllers x seeds from a YAML config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hil.argtypes import bounded_float, positive_int

_positive_int = positive_int


def print_outcome(outcome, report_hint: bool = True) -> int:
    print(f"{outcome.planned} runs planned: {outcome.finished} run now, {outcome.reused} "
          f"already finished, {len(outcome.failed)} failed")
    print(f"results: {outcome.root / 'runs'}/<run_id>.json, table {outcome.table}")
    for rec in outcome.failed:
        print(f"  FAILED {rec.run_id} {rec.scenario} {rec.controller} seed "
              f"{rec.seed}: {rec.error}", file=sys.stderr)
    for rec in outcome.unsafe:
        print(f"  SAFETY: run {rec.run_id} ({rec.controller}, seed {rec.seed}) "
              f"recorded {rec.safety_violations} violation(s)", file=sys.stderr)
    if report_hint:
        print(f"report: ampel report {outcome.root} -o {outcome.root / 'report.html'}")
    return 1 if outcome.failed or outcome.unsafe else 0


def _cmd_experiment(args: argparse.Namespace) -> int:
    from experiments.backends import make_backend
    from experiments.config import load_config
    from experiments.sweep import preflight, run_sweep
    from scenarios.outpaths import writable_dir

    config = load_config(Path(args.config))
    root = writable_dir(args.out if args.out is not None else config.output,
                        "results folder")
    backend = make_backend(args.workers, args.ray, args.ray_timeout)
    config = preflight(config)
    try:
        outcome = run_sweep(config, root, backend, resume=args.resume, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"ampel: interrupted; finished runs are stored in {root}; continue with "
              f"'ampel experiment {args.config} --resume'", file=sys.stderr)
        return 130
    return print_outcome(outcome)


def add_sweep_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="local worker processes (default: all cores)")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="run on a Ray cluster instead: 'auto' (the cluster of this machine), "
                        "HOST:PORT or ray://HOST:PORT, or 'local' (a private Ray here); needs "
                        "pip install 'ampel[ray]'")
    p.add_argument("--ray-timeout", type=bounded_float(0.0, 3600.0, low_open=True),
                   default=30.0, metavar="S",
                   help="seconds to wait for the Ray head to answer (default: 30)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``ampel experiment``."""
    p = sub.add_parser(
        "experiment", help="run a sweep of scenarios x controllers x seeds from a YAML config",
        description="Run every combination of scenarios, controllers, seeds and demand scales "
                    "listed in CONFIG.yaml, in parallel. Each run's result is stored as soon "
                    "as it finishes (OUT/runs/<run_id>.json) and collected in OUT/results.csv; "
                    "a failing run is recorded with its error and the sweep goes on. Exit code "
                    "1 when a run failed or recorded a safety violation.")
    p.add_argument("config", metavar="CONFIG.yaml", help="experiment config (see "
                   "experiments/configs/example.yaml)")
    add_sweep_options(p)
    p.add_argument("--resume", action="store_true",
                   help="continue a sweep in the same folder: keep finished runs, redo failed "
                        "and missing ones")
    p.add_argument("--out", default=None, help="results folder (default: the config's "
                   "'output', or runs/<name>)")
    p.set_defaults(handler=_cmd_experiment)
