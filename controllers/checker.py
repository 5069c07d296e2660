"""A conformance check for controllers, like Gymnasium's ``check_env``.

A third-party controller runs :func:`check_controller` before it is trusted with a junction:
the protocol, answers to hand-made observations, a closed-loop run in real SUMO under the
safety guard, determinism for a fixed seed, and (optionally) the refusal of unknown
parameters. A failed check raises :class:`ControllerCheckError` naming what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controllers.base import Controller, StageRequest
from controllers.runner import ControllerFactory, build_controllers, run_closed_loop
from scenarios.observation import LaneReading, Observation
from scenarios.scenario import Junction, Scenario

#: metrics that legitimately differ between two identical runs
_VOLATILE = frozenset({"wall_s", "code_revision"})


class ControllerCheckError(Exception):
    """A controller does not meet the Controller contract; the message says how."""


def _check_protocol(ctl: Any, junction: Junction) -> None:
    where = f"controller for junction {junction.tls!r}"
    if not isinstance(ctl, Controller):
        raise ControllerCheckError(f"{where} does not implement the Controller protocol "
                                   "(name, decision_interval_s, needs_detectors, decide)")
    if not isinstance(ctl.name, str) or not ctl.name:
        raise ControllerCheckError(f"{where}: 'name' must be a non-empty string")
    interval = ctl.decision_interval_s
    if not isinstance(interval, int | float) or not math.isfinite(interval) or interval <= 0:
        raise ControllerCheckError(f"{where}: decision_interval_s must be a finite number "
                                   f"> 0, got {interval!r}")
    if not isinstance(ctl.needs_detectors, bool):
        raise ControllerCheckError(f"{where}: needs_detectors must be a bool")


def _synthetic_observations(junction: Junction) -> list[Observation]:
    """An empty junction, then every lane loaded, at a few stages and times."""
    info = junction.info
    n = len(info.stage_names)
    empty = tuple(LaneReading(lane.lane, 0, 0, 0.0, False, 99.0, 0.0) for lane in info.lanes)
    busy = tuple(LaneReading(lane.lane, 1, 2, 0.6, True, 0.0, 4.0) for lane in info.lanes)
    out = []
    for t, stage, lanes in ((0.0, 0, empty), (30.0, 0, busy), (61.0, n - 1, busy),
                            (90.0, None, empty)):
        out.append(Observation(junction=info.junction, time_s=t, stage=stage,
                               target_stage=stage if stage is not None else 0,
                               time_in_stage_s=0.0 if stage is None else 10.0,
                               allowed=(True,) * n, lanes=lanes))
    return out


def _check_answers(make: ControllerFactory, scenario: Scenario) -> None:
    for junction in scenario.junctions:
        ctl = make(junction, scenario)
        n = len(junction.info.stage_names)
        for obs in _synthetic_observations(junction):
            request = ctl.decide(obs)
            if not isinstance(request, StageRequest):
                raise ControllerCheckError(f"decide() must return a StageRequest, got "
                                           f"{type(request).__name__}")
            if not isinstance(request.stage, int) or not 0 <= request.stage < n:
                raise ControllerCheckError(f"decide() asked for stage {request.stage!r} at "
                                           f"junction {junction.tls!r}, which has stages "
                                           f"0..{n - 1}")


def check_controller(make: ControllerFactory, scenario: Scenario, out_dir: Path, *,
                     seed: int = 1, duration_s: float = 300.0,
                     make_with_params: Callable[[dict[str, Any]], ControllerFactory] | None
                     = None) -> dict[str, float | int]:
    """Check a controller factory on ``scenario``; return the metrics of the checked run.

    Args:
        make: builds the controller of one junction (as ``controller_factory`` returns).
        scenario: a loaded scenario to run on (short runs: ``duration_s`` simulated seconds).
        out_dir: folder for the SUMO outputs of the two runs.
        seed: demand and SUMO seed of both runs.
        make_with_params: if given, ``make_with_params({"no_such_parameter": 1})`` must
            refuse the unknown key with a ValueError when the controllers are built.
    """
    for junction in scenario.junctions:
        _check_protocol(make(junction, scenario), junction)
    _check_answers(make, scenario)
    runs = []
    for k in range(2):
        result = run_closed_loop(scenario, build_controllers(scenario, make), seed=seed,
                                 duration_s=duration_s, out_dir=out_dir / f"run{k}")
        if result.safety_violations:
            raise ControllerCheckError(f"{result.safety_violations} safety violations in "
                                       f"closed loop: {result.violation_messages[:3]}")
        runs.append({k: v for k, v in result.metrics.items() if k not in _VOLATILE})
    if runs[0] != runs[1]:
        diff = sorted(k for k in runs[0] if runs[0][k] != runs[1].get(k))
        raise ControllerCheckError(f"two runs with seed {seed} differ in {', '.join(diff)}: "
                                   "the controller is not deterministic (seed any randomness "
                                   "it uses)")
    if make_with_params is not None:
        try:
            build_controllers(scenario, make_with_params({"no_such_parameter": 1}))
        except ValueError:
            pass
        else:
            raise ControllerCheckError("an unknown parameter 'no_such_parameter' was accepted "
                                       "silently; refuse unknown keys with a ValueError")
    return runs[0]
