#!/usr/bin/env python
"""Compare controllers over held-out demand seeds: mean delay ± 95 % t-interval.

Runs every (scenario, controller, seed) in a process pool (libsumo: one simulation per
process), writes all per-run metrics to a JSON file atomically and prints a Markdown
table for the README.

    python scripts/compare_controllers.py --seeds 2001-2006 --out runs/compare.json

Seeds 2001 and up were never used while choosing the controllers' defaults (tuning used
seeds 1-20; seeds 1001-1006 were looked at during development).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from hil.argtypes import seed_list

DEFAULT_CONTROLLERS = ("fixed-time", "webster", "actuated", "sotl", "max-pressure")
log = logging.getLogger("compare")


def _params(scenario: Any, controller: str, period: str | None) -> tuple[str, dict[str, Any]]:
    """Name and parameters of a ``NAME[:KEY=VALUE;...]`` label, plus the period's plan
    as ``ampel run`` passes it (``scenarios.periods.period_plan``)."""
    from scenarios.periods import period_plan

    name, _, rest = controller.partition(":")
    params: dict[str, Any] = dict(kv.split("=", 1) for kv in rest.split(";") if kv)
    plan = period_plan(scenario, period)
    if plan:
        params.setdefault("plan", plan)
    return name, params


def run_one(task: tuple[str, str, int, float, str | None]) -> dict[str, Any]:
    """One closed-loop run in this worker process; returns its metrics."""
    from controllers.registry import controller_factory
    from controllers.runner import build_controllers, run_closed_loop
    from scenarios.periods import scenario_for_period
    from scenarios.scenario import load_scenario

    scenario_name, controller, seed, duration, period = task
    scenario = scenario_for_period(load_scenario(scenario_name), period)
    factory = controller_factory(*_params(scenario, controller, period))
    controllers = build_controllers(scenario, factory)
    with tempfile.TemporaryDirectory(prefix="ampel-compare-") as tmp:
        result = run_closed_loop(scenario, controllers, seed=seed, duration_s=duration,
                                 out_dir=Path(tmp))
    return {"scenario": scenario_name, "controller": controller, "seed": seed,
            "duration_s": duration, **result.metrics,
            "safety_violations": result.safety_violations,
            "stage_changes": result.stage_changes, "wall_s": round(result.wall_s, 2)}


def table(records: list[dict[str, Any]], controllers: list[str], scenarios: list[str],
          key: str = "mean_delay_s") -> str:
    """Markdown table: one row per scenario, mean ± 95 % CI half-width per controller."""
    from experiments.stats import mean_ci

    head = "| scenario | " + " | ".join(controllers) + " |"
    lines = [head, "|" + "---|" * (len(controllers) + 1)]
    for sc in scenarios:
        cells = []
        for ctl in controllers:
            vals = [r[key] for r in records if r["scenario"] == sc and r["controller"] == ctl]
            mean, half = mean_ci(vals)
            cells.append(f"{mean:.1f} ± {half:.1f}" if vals else "–")
        best = min(range(len(controllers)), key=lambda k: float(cells[k].split(" ")[0])
                   if cells[k] != "–" else float("inf"))
        cells[best] = f"**{cells[best]}**"
        lines.append(f"| {sc} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    from experiments.results import code_revision, write_json_atomic
    from scenarios.profiles import BASIS_PERIOD
    from scenarios.registry import registered

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--scenarios", default=None, help="comma list (default: all registered)")
    ap.add_argument("--controllers", default=",".join(DEFAULT_CONTROLLERS),
                    help="comma list of NAME or NAME:KEY=VALUE;KEY=VALUE")
    ap.add_argument("--metric", default="mean_delay_s", help="summary key for the table")
    ap.add_argument("--seeds", type=seed_list, default=seed_list("2001-2006"))
    ap.add_argument("--duration", type=float, default=3600.0)
    ap.add_argument("--period", default=None,
                    help="time of day: its demand and plan, as 'ampel run --period' "
                    "(default: the morning peak)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/compare_controllers.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    scenarios = (args.scenarios.split(",") if args.scenarios
                 else [e.name for e in registered()])
    controllers = args.controllers.split(",")
    tasks = [(sc, ctl, seed, args.duration, args.period)
             for sc in scenarios for ctl in controllers for seed in args.seeds]
    started = time.perf_counter()
    records = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for k, rec in enumerate(pool.map(run_one, tasks), 1):
            records.append(rec)
            log.info("%d/%d %s %s seed %d: %s %.2f, violations %d", k, len(tasks),
                     rec["scenario"], rec["controller"], rec["seed"], args.metric,
                     rec[args.metric], rec["safety_violations"])
    period = args.period or BASIS_PERIOD
    write_json_atomic({"code_revision": code_revision(), "seeds": args.seeds,
                       "duration_s": args.duration, "period": period,
                       "wall_s": round(time.perf_counter() - started, 1),
                       "runs": records}, args.out)
    print(f"{args.metric}, mean ± 95 % t-interval over seeds "
          f"{args.seeds[0]}..{args.seeds[-1]} (n = {len(args.seeds)}), {args.duration:g} s "
          f"{period}:\n")
    print(table(records, controllers, scenarios, args.metric))
    violations = sum(r["safety_violations"] for r in records)
    print(f"\nsafety violations in all {len(records)} runs: {violations}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
