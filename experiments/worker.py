"""One run of a sweep, as a worker process (local or on a Ray node) executes it.

The worker builds its own scenario and controllers (libsumo runs one simulation per
process), simulates in a temporary folder, condenses the outputs into a JSON-ready record
and deletes the folder. It never raises for a failing run: the error goes into the record.
"""

from __future__ import annotations

import datetime as dt
import socket
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from experiments.config import RunSpec

#: keys of a run record that are not flat numbers for the results table
BULKY_KEYS = ("approaches", "queues", "delays_s", "traceback", "violation_messages", "notes")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def base_record(spec: RunSpec) -> dict[str, Any]:
    """The identifying part of a run record."""
    return {"run_id": spec.run_id, **spec.to_dict()}


def failed_record(spec: RunSpec, error: str, tb: str = "", wall_s: float = 0.0
                  ) -> dict[str, Any]:
    """The record of a run that did not finish."""
    return {**base_record(spec), "status": "failed", "error": error, "traceback": tb,
            "wall_s": round(wall_s, 3), "host": socket.gethostname(), "finished_at": _now()}


def execute_run(spec: RunSpec) -> dict[str, Any]:
    """Simulate one run and return its record (status 'ok' or 'failed')."""
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix=f"ampel-run-{spec.run_id}-") as tmp:
            return _simulate(spec, Path(tmp), started)
    except Exception as exc:  # a failing run is recorded, the sweep goes on
        return failed_record(spec, f"{type(exc).__name__}: {exc}",
                             traceback.format_exc(limit=8), time.perf_counter() - started)


def _simulate(spec: RunSpec, out: Path, started: float) -> dict[str, Any]:
    from controllers.registry import controller_factory
    from controllers.runner import approach_lanes, build_controllers, run_closed_loop
    from experiments.results import code_revision
    from scenarios.metrics import approach_delays, motor_trips, read_tripinfo
    from scenarios.scenario import load_scenario
    from scenarios.vclass import TypeClasses

    scenario = load_scenario(spec.scenario)
    if spec.sensing != scenario.sensing.name:
        scenario = scenario.with_sensing(spec.sensing)
    controllers = build_controllers(scenario, controller_factory(spec.controller_name,
                                                                 spec.params))
    result = run_closed_loop(scenario, controllers, seed=spec.seed, duration_s=spec.duration_s,
                             out_dir=out, demand_scale=spec.demand_scale,
                             queue_sample_s=spec.queue_sample_s)
    tripinfo = result.tripinfo or out / "tripinfo.xml"
    vehicles, _persons = read_tripinfo(tripinfo)
    lanes = approach_lanes(scenario)
    approach_of_edge = {edge: (j, edge) for j, edges in lanes.items() for edge in edges}
    queues = None
    if result.queues is not None:
        queues = {"interval_s": result.queues.interval_s, "times_s": result.queues.times_s,
                  "counts": result.queues.counts}
    return {
        **base_record(spec),
        "status": "ok",
        "scenario_name": scenario.name,
        "metrics": result.metrics,
        "safety_violations": result.safety_violations,
        "deferred_requests": result.deferred_requests,
        "stage_changes": result.stage_changes,
        "wall_s": round(time.perf_counter() - started, 3),
        "code_revision": code_revision(),
        "host": socket.gethostname(),
        "finished_at": _now(),
        "violation_messages": result.violation_messages,
        **result.record(),
        "approaches": approach_delays(vehicles, approach_of_edge, result.vehicle_types),
        "queues": queues,
        "delays_s": [round(v.time_loss_s, 1)
                     for v in motor_trips(vehicles, result.vehicle_types or TypeClasses())],
    }
