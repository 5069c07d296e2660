#!/usr/bin/env python
"""Compare controllers over held-out demand seeds: mean delay ± 95 % t-interval.

A thin use of the experiment engine (``experiments/``, as ``ampel experiment`` runs it):
the options become an experiment config, every (scenario, controller, seed) runs in the
engine's worker processes, all per-run records go to a JSON file (atomically) and a
Markdown table for the README is printed.

    python scripts/compare_controllers.py --seeds 2001-2006 --out runs/compare.json

Seeds 2001 and up were never used while choosing the controllers' defaults (tuning used
seeds 1-20; seeds 1001-1006 were looked at during development).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hil.argtypes import positive_int, seed_list

if TYPE_CHECKING:
    from experiments.report import Group

DEFAULT_CONTROLLERS = ("fixed-time", "webster", "actuated", "sotl", "max-pressure")
log = logging.getLogger("compare")

def table(groups: list[Group], controllers: list[str], names: dict[str, str],
          key: str = "mean_delay_s", failed: frozenset[tuple[str, str]] = frozenset()) -> str:
    """Markdown table: one row per scenario (``names``: its row title), mean ± 95 % CI
    half-width per controller over the seeds; ``error`` where a run (in ``failed``:
    scenario, controller) failed."""
    from experiments.stats import mean_ci

    head = "| scenario | " + " | ".join(controllers) + " |"
    lines = [head, "|" + "---|" * (len(controllers) + 1)]
    for g in groups:
        cells = []
        for ctl in controllers:
            vals = g.values(ctl, key)
            mean, half = mean_ci(vals)
            if (g.scenario, ctl) in failed:
                cells.append("error")
            else:
                cells.append(f"{mean:.1f} ± {half:.1f}" if vals else "–")
        means = [float(c.split(" ")[0]) if c not in ("–", "error") else float("inf")
                 for c in cells]
        best = min(range(len(controllers)), key=means.__getitem__)
        if means[best] < float("inf"):
            cells[best] = f"**{cells[best]}**"
        lines.append(f"| {names[g.scenario]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit 0, 1 (a safety violation or a failed run) or 2 (bad input)."""
    from experiments.cli.options import script_main

    return script_main("compare_controllers", _main, argv)


def _main(argv: list[str] | None) -> int:
    from experiments.backends import LocalBackend
    from experiments.config import label_entry, parse_config
    from experiments.report import group_records
    from experiments.results import RunRecord, code_revision
    from experiments.sweep import preflight, run_all
    from scenarios.files import write_json_atomic
    from scenarios.outpaths import writable_file
    from scenarios.profiles import BASIS_PERIOD, period_names
    from scenarios.registry import registered
    from signals.errors import ConfigError

    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[1])
    ap.add_argument("--scenarios", default=None, help="comma list (default: all registered)")
    ap.add_argument("--controllers", default=",".join(DEFAULT_CONTROLLERS),
                    help="comma list of NAME or NAME:KEY=VALUE;KEY=VALUE")
    ap.add_argument("--metric", default="mean_delay_s", help="summary key for the table")
    ap.add_argument("--seeds", type=seed_list, default=seed_list("2001-2006"))
    ap.add_argument("--duration", type=float, default=3600.0)
    ap.add_argument("--period", default=None, choices=period_names(),
                    help="time of day: its demand and plan, as 'ampel run --period' "
                    "(default: the morning peak)")
    ap.add_argument("--workers", type=positive_int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/compare_controllers.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    writable_file(args.out, "--out")
    scenarios = (args.scenarios.split(",") if args.scenarios
                 else [e.name for e in registered()])
    controllers = args.controllers.split(",")
    config = preflight(parse_config({
        "name": "compare-controllers", "scenarios": scenarios,
        "controllers": [label_entry(c) for c in controllers], "seeds": list(args.seeds),
        "duration_s": args.duration, "period": args.period}, Path.cwd()))
    specs = config.runs()

    def progress(k: int, rec: RunRecord) -> None:
        if not rec.ok:
            log.warning("%d/%d %s %s seed %d failed: %s", k, len(specs), rec.scenario,
                        rec.controller, rec.seed, rec.error)
            return
        if math.isnan(rec.value(args.metric)):  # not a metric or counter of the record
            raise ConfigError(f"--metric {args.metric!r} is not a metric of a run (known: "
                              f"{', '.join(sorted(rec.metrics))})")
        log.info("%d/%d %s %s seed %d: %s %.2f, violations %d", k, len(specs), rec.scenario,
                 rec.controller, rec.seed, args.metric, rec.value(args.metric),
                 rec.safety_violations)

    started = time.perf_counter()
    records = run_all(specs, LocalBackend(args.workers), progress)
    period = args.period or BASIS_PERIOD
    write_json_atomic({"code_revision": code_revision(), "seeds": args.seeds,
                       "duration_s": args.duration, "period": period,
                       "wall_s": round(time.perf_counter() - started, 1),
                       "runs": [r.row() for r in records]}, args.out)
    groups, failed = group_records(records, config.scenarios, [1.0], controllers)
    print(f"{args.metric}, mean ± 95 % t-interval over seeds "
          f"{args.seeds[0]}..{args.seeds[-1]} (n = {len(args.seeds)}), {args.duration:g} s "
          f"{period}:\n")
    print(table(groups, controllers, dict(zip(config.scenarios, scenarios, strict=True)),
                args.metric, frozenset((r.scenario, r.controller) for r in failed)))
    violations = sum(r.safety_violations for r in records)
    print(f"\nsafety violations in all {len(records)} runs: {violations}")
    for rec in failed:
        print(f"FAILED: {rec.scenario} {rec.controller} seed {rec.seed}: {rec.error}",
              file=sys.stderr)
    return 1 if violations or failed else 0


if __name__ == "__main__":
    sys.exit(main())
