"""One run of a sweep, as a worker process (local or on a Ray node) executes it.

The worker builds its own scenario and controllers (libsumo runs one simulation per
process), simulates in a temporary folder, condenses the outputs into a
:class:`~experiments.results.RunRecord` and deletes the folder. It never raises for a
failing run: the error goes into the record.

Besides the registered controllers it runs the rebuilt references
(``scenarios.rebuilt.REBUILT_REFERENCES``): SUMO's own control on a network rebuilt by
netconvert, for ``.sumocfg`` scenarios.
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
from experiments.results import RunRecord, code_revision
from scenarios.rebuilt import REBUILT_REFERENCES

#: how records name who is responsible for a rebuilt reference (it is not watched)
REBUILT_SOURCE = "SUMO's rebuilt program, not watched by ampel"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def base_record(spec: RunSpec, **fields: Any) -> RunRecord:
    """A record of ``spec`` (its identifying part) with ``fields`` set."""
    return RunRecord(**{"run_id": spec.run_id, **spec.to_dict(), "host": socket.gethostname(),
                        "finished_at": _now(), **fields})


def failed_record(spec: RunSpec, error: str, tb: str = "", wall_s: float = 0.0) -> RunRecord:
    """The record of a run that did not finish."""
    return base_record(spec, status="failed", error=error, traceback=tb,
                       wall_s=round(wall_s, 3))


def execute_run(spec: RunSpec) -> RunRecord:
    """Simulate one run and return its record (status 'ok' or 'failed')."""
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix=f"ampel-run-{spec.run_id}-") as tmp:
            if spec.controller_name in REBUILT_REFERENCES:
                return _rebuilt(spec, Path(tmp), started)
            return _simulate(spec, Path(tmp), started)
    except Exception as exc:  # a failing run is recorded, the sweep goes on
        return failed_record(spec, f"{type(exc).__name__}: {exc}",
                             traceback.format_exc(limit=8), time.perf_counter() - started)


def _simulate(spec: RunSpec, out: Path, started: float) -> RunRecord:
    from controllers.registry import controller_factory
    from controllers.runner import approach_lanes, build_controllers, run_closed_loop
    from scenarios.metrics import approach_delays, motor_trips, read_tripinfo, trip_totals
    from scenarios.periods import apply_period, run_period
    from scenarios.scenario import load_scenario
    from scenarios.sensing import parse_sensing
    from scenarios.vclass import TypeClasses

    scenario, params = apply_period(load_scenario(spec.scenario), spec.period, spec.params)
    if spec.sensing != scenario.sensing.name:
        scenario = scenario.with_sensing(parse_sensing(spec.sensing))
    duration = spec.duration_s if spec.duration_s is not None else scenario.default_duration_s
    controllers = build_controllers(scenario, controller_factory(spec.controller_name, params))
    result = run_closed_loop(scenario, controllers, seed=spec.seed, duration_s=duration,
                             out_dir=out, demand_scale=spec.demand_scale,
                             queue_sample_s=spec.queue_sample_s)
    tripinfo = result.tripinfo or out / "tripinfo.xml"
    vehicles, _persons = read_tripinfo(tripinfo)
    lanes = approach_lanes(scenario)
    approach_of_edge = {edge: (j, edge) for j, edges in lanes.items() for edge in edges}
    extra = result.record()
    return base_record(
        spec, duration_s=float(duration), period=run_period(scenario, spec.period),
        status="ok", scenario_name=scenario.name,
        metrics={**result.metrics, **trip_totals(tripinfo, out / "statistics.xml")},
        safety_violations=result.safety_violations,
        safety_violations_source=extra.get("safety_violations_source"),
        deferred_requests=result.deferred_requests, stage_changes=result.stage_changes,
        intergreens=extra["intergreens"], notes=extra.get("notes", []),
        wall_s=round(time.perf_counter() - started, 3), code_revision=code_revision(),
        violation_messages=result.violation_messages,
        approaches=approach_delays(vehicles, approach_of_edge, result.vehicle_types),
        queues=None if result.queues is None else {
            "interval_s": result.queues.interval_s, "times_s": result.queues.times_s,
            "counts": result.queues.counts},
        delays_s=[round(v.time_loss_s, 1)
                  for v in motor_trips(vehicles, result.vehicle_types or TypeClasses())])


def _rebuilt(spec: RunSpec, out: Path, started: float) -> RunRecord:
    from scenarios.metrics import motor_trips, read_tripinfo, summarise, trip_totals
    from scenarios.periods import run_period
    from scenarios.rebuilt import run_rebuilt
    from scenarios.scenario import load_scenario
    from scenarios.vclass import read_type_classes
    from signals.errors import ConfigError

    scenario = load_scenario(spec.scenario)
    if scenario.external is None:
        raise ConfigError(f"{spec.controller_name} runs .sumocfg scenarios only, not "
                          f"{scenario.name}")
    if spec.demand_scale != 1.0 or spec.sensing != "loops":
        raise ConfigError(f"{spec.controller_name} runs the .sumocfg as it is: demand scale "
                          "1 and loops only")
    run = run_rebuilt(scenario.external.config.path, REBUILT_REFERENCES[spec.controller_name],
                      spec.seed, out, spec.duration_s)
    types = read_type_classes(run.type_files)
    vehicles, _persons = read_tripinfo(run.tripinfo)
    return base_record(
        spec, status="ok", scenario_name=scenario.name,
        duration_s=spec.duration_s, period=run_period(scenario, None),
        metrics={**summarise(run.tripinfo, run.statistics, types),
                 **trip_totals(run.tripinfo, run.statistics)},
        safety_violations_source=REBUILT_SOURCE,
        wall_s=round(time.perf_counter() - started, 3), code_revision=code_revision(),
        delays_s=[round(v.time_loss_s, 1) for v in motor_trips(vehicles, types)])
