"""Scoring an exported policy exactly as ``ampel run --controller rl`` runs it.

Every run is one closed-loop simulation through the registered controller (for a
``residual`` policy: actuated control inside its envelope, the policy at decision points,
the runtime fallback on), built and run by the same calls as ``ampel run`` (period,
sensing profile, ``build_controllers``, ``run_closed_loop``), each in a fresh process
(:func:`controllers.rl.procs.fresh_map`). Selection on validation seeds, the test
evaluation and ``scripts/rollout_margins.py`` all score candidates this way, so the
number that selects a policy is the number ``ampel run`` reports for it.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: the metric candidates are selected on (mean delay incl. the insertion backlog)
SELECT_METRIC = "mean_total_delay_s"
#: per-seed fields kept from each run's summary
ROW_KEYS = ("mean_delay_s", SELECT_METRIC, "vehicles_departed", "vehicles_arrived",
            "vehicles_not_departed", "safety_violations", "teleports",
            "rl_fallback_share", "rl_deviation_share")


@dataclass(frozen=True)
class RunTask:
    """One run of ``ampel run`` (picklable).

    Attributes:
        scenario: registered scenario name or ``.sumocfg`` path.
        controller: controller name (``rl``).
        params: controller parameters (``policy`` = path of ``policy.onnx``).
        seed: demand and SUMO seed.
        duration_s: simulated seconds.
        sensing: sensing profile as text, options allowed (None: the scenario's own).
        demand_scale: demand factor.
    """

    scenario: str
    controller: str
    params: tuple[tuple[str, str], ...]
    seed: int
    duration_s: float
    sensing: str | None = None
    demand_scale: float = 1.0


def run_task(task: RunTask) -> dict[str, Any]:
    """Run one task as ``ampel run`` does; returns its summary fields (:data:`ROW_KEYS`)
    and the seed."""
    from controllers.registry import controller_factory
    from controllers.runner import build_controllers, run_closed_loop
    from scenarios.periods import apply_period
    from scenarios.scenario import load_scenario

    scenario, params = apply_period(load_scenario(task.scenario), None, dict(task.params))
    factory = controller_factory(task.controller, params or None)
    if task.sensing is not None:
        scenario = scenario.with_sensing(task.sensing)
    controllers = build_controllers(scenario, factory)
    with tempfile.TemporaryDirectory(prefix="ampel-eval-") as tmp:
        result = run_closed_loop(scenario, controllers, seed=task.seed,
                                 duration_s=task.duration_s, out_dir=Path(tmp),
                                 demand_scale=task.demand_scale)
    summary = {**result.metrics, "safety_violations": result.safety_violations}
    return {"seed": task.seed, **{k: summary[k] for k in ROW_KEYS if k in summary}}


def policy_tasks(policy: Path, scenario: str, seeds: tuple[int, ...], duration_s: float,
                 sensing: str | None, demand_scale: float = 1.0) -> list[RunTask]:
    """The runs of ``ampel run --controller rl --param policy=POLICY`` on each seed."""
    params = (("policy", str(policy)),)
    return [RunTask(scenario, "rl", params, int(s), float(duration_s), sensing, demand_scale)
            for s in seeds]


def evaluate_policy(policy: Path, scenario: str, seeds: tuple[int, ...], duration_s: float,
                    sensing: str | None, workers: int = 2) -> dict[str, Any]:
    """Score an exported policy on ``seeds`` through the ``rl`` controller, each run in a
    fresh process, ``workers`` at a time; means over the seeds plus per-seed rows."""
    from controllers.rl.procs import fresh_map

    tasks = policy_tasks(policy, scenario, seeds, duration_s, sensing)
    rows = dict(fresh_map(run_task, tasks, workers))
    return summarise_runs([rows[i] for i in range(len(tasks))])


def summarise_runs(rows: list[dict]) -> dict[str, Any]:
    """Means over the seeds plus the per-seed rows (the fields of ``ampel run``'s
    summary); ``deviation_share`` and ``fallback_share`` are means of the per-run
    shares."""

    def mean(key: str) -> float:
        return float(np.mean([r.get(key, 0.0) for r in rows])) if rows else float("nan")

    return {"seeds": [r["seed"] for r in rows],
            "mean_delay_s": mean("mean_delay_s"), SELECT_METRIC: mean(SELECT_METRIC),
            "deviation_share": mean("rl_deviation_share"),
            "fallback_share": mean("rl_fallback_share"),
            "vehicles_arrived": mean("vehicles_arrived"),
            "safety_violations": int(sum(r.get("safety_violations", 0) for r in rows)),
            "scored_by": "ampel run --controller rl, one fresh process per run",
            "per_seed": rows}
