"""Builders of the rule-based controllers for the registry: ``(junction, scenario, params)``.

``params`` is a dict (from a config, or ``--param key=value`` strings); unknown keys are
refused with a one-line ValueError naming the key. One dict is shared by all junctions
built by the same factory, which lets the junctions of a run share a queue board.
"""

from __future__ import annotations

from typing import Any

from controllers.actuated import ActuatedController, ActuatedParams, stage_green_bounds
from controllers.base import Controller
from controllers.bus_priority import BusPriorityController, BusPriorityParams
from controllers.common import GreenLimits, parse_params
from controllers.coordination import (
    CoordinatedActuatedController,
    CoordinationParams,
    green_wave,
)
from controllers.fixed_time import FixedTimeController
from controllers.max_pressure import MaxPressureController, MaxPressureParams, QueueBoard
from controllers.sotl import SotlController, SotlParams
from controllers.webster import WebsterParams, webster_plan
from scenarios.scenario import Junction, Scenario
from signals.errors import ParameterError

#: ``ampel run`` passes the period's plan name to every controller; adaptive ones ignore it
PLAN_KEY = frozenset({"plan"})


def green_limits(junction: Junction) -> GreenLimits:
    """The sequencer's green bounds per stage and predecessor, from the signal model."""
    model = junction.layout.model
    n = len(model.stages)
    mins, maxs = stage_green_bounds(junction.info, [st.green for st in model.stages])
    rows = tuple(tuple(maxs[s] - (model.interstage_duration(p, s) if p != s else 0.0) - 1.0
                       for s in range(n)) for p in range(n))
    return GreenLimits(mins, rows)


def check_keys(params: dict[str, Any], known: set[str], where: str) -> None:
    """Refuse parameters a builder does not know (one line naming the key)."""
    for key in params:
        if key not in known and not key.startswith("_"):
            raise ParameterError(f"{where}: unknown parameter {key!r} "
                                 f"(known: {', '.join(sorted(known))})")


def parse_greens(value: Any, junction: Junction) -> tuple[tuple[str, float], ...] | None:
    """Stage greens from a config mapping or a CLI string ``S1=30,S2=12``.

    For a scenario with several junctions the string form takes ``TLS:STAGE=SECONDS``
    items; items of other junctions are ignored, and a junction named by none keeps its
    plan (None is returned).
    """
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        return tuple((str(k), float(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple((str(k), float(v)) for k, v in value)
    out = []
    for item in str(value).split(","):
        key, sep, seconds = item.strip().partition("=")
        if not sep:
            raise ParameterError(f"greens: expected STAGE=SECONDS items, got {item.strip()!r}")
        tls, colon, stage = key.rpartition(":")
        if colon and tls != junction.tls:
            continue
        try:
            out.append((stage.strip(), float(seconds)))
        except ValueError:
            raise ParameterError(f"greens: {item.strip()!r} needs seconds as a number") from None
    return tuple(out) or None


def build_webster(junction: Junction, scenario: Scenario, params: dict[str, Any]
                  ) -> Controller:
    """Fixed-time control running the Webster plan computed from the scenario's demand."""
    offset = float(params.get("offset_s", 0.0))
    p = parse_params(WebsterParams, params, "webster", extra=frozenset({"offset_s"}))
    ctl = FixedTimeController(webster_plan(junction, scenario, p, offset_s=offset).plan)
    ctl.name = "webster"
    return ctl


def build_actuated(junction: Junction, scenario: Scenario, params: dict[str, Any]
                   ) -> ActuatedController:
    """Gap-out / max-out actuated control."""
    p = parse_params(ActuatedParams, params, "actuated", extra=PLAN_KEY)
    return ActuatedController(junction.info, p, actuated_limits(junction, p, params))


def actuated_limits(junction: Junction, p: ActuatedParams | SotlParams | MaxPressureParams,
                    params: dict[str, Any]) -> GreenLimits:
    """Sequencer bounds, capped at ``max_green_factor`` x the junction's plan greens."""
    limits = green_limits(junction)
    if p.max_green_factor <= 0 or not junction.plans:
        return limits
    model = junction.layout.model
    spec = junction.plan(params.get("plan") if any(
        pl.name == params.get("plan") for pl in junction.plans) else None)
    return limits.capped({model.stage_index(name): p.max_green_factor * green
                          for name, green in spec.greens})


def build_sotl(junction: Junction, scenario: Scenario, params: dict[str, Any]) -> Controller:
    """Self-organising traffic light."""
    p = parse_params(SotlParams, params, "sotl", extra=PLAN_KEY)
    return SotlController(junction.info, p, actuated_limits(junction, p, params))


def build_max_pressure(junction: Junction, scenario: Scenario, params: dict[str, Any]
                       ) -> Controller:
    """Max-pressure control; the junctions of one factory share a queue board."""
    p = parse_params(MaxPressureParams, params, "max-pressure", extra=PLAN_KEY)
    board = params.setdefault("_board", QueueBoard())
    return MaxPressureController(junction.info, p, board, actuated_limits(junction, p, params))


COORDINATED_KEYS = frozenset({"plan", "control"})


def build_coordinated(junction: Junction, scenario: Scenario, params: dict[str, Any]
                      ) -> Controller:
    """Green-wave coordination; ``control`` = ``fixed-time`` (default) or ``actuated``.

    The green wave is computed once per factory and scenario (the junctions of a run share
    it).
    """
    control = str(params.get("control", "fixed-time"))
    if control not in ("fixed-time", "actuated"):
        raise ParameterError(f"coordinated: parameter 'control' must be fixed-time or actuated, "
                             f"got {control!r}")
    p = parse_params(CoordinationParams, params, "coordinated", extra=COORDINATED_KEYS)
    key = (scenario.name, str(scenario.net_path), tuple(j.tls for j in scenario.junctions))
    cached = params.get("_wave")
    if cached is None or cached[0] != key:
        cached = (key, green_wave(scenario, p, params.get("plan") if p.base == "plan"
                                  else None))
        params["_wave"] = cached
    wave = cached[1]
    plan = wave.plans[junction.tls]
    if control == "fixed-time":
        ctl = FixedTimeController(plan)
        ctl.name = "coordinated"
        return ctl
    model = junction.layout.model
    actuated = ActuatedController(junction.info, ActuatedParams(),
                                  green_limits(junction).capped(
                                      {k: 1.5 * g for k, g in zip(plan.order, plan.greens,
                                                                  strict=True)}))
    return CoordinatedActuatedController(plan, wave.coordinated_stage[junction.tls], actuated,
                                         model.interstage_duration)


BASES = ("fixed-time", "webster", "actuated", "sotl", "max-pressure", "coordinated")


def build_bus_priority(junction: Junction, scenario: Scenario, params: dict[str, Any]
                       ) -> Controller:
    """Bus priority around a base controller: ``base`` (default fixed-time); parameters
    ``base.KEY`` go to the base controller (``plan`` too)."""
    from controllers.registry import BUILDERS

    base = str(params.get("base", "fixed-time"))
    if base not in BASES:
        raise ParameterError(f"bus-priority: parameter 'base' must be one of {', '.join(BASES)}, "
                             f"got {base!r}")
    own = {k: v for k, v in params.items()
           if not k.startswith("base.") and k not in ("base", "plan") and not k.startswith("_")}
    p = parse_params(BusPriorityParams, own, "bus-priority")
    base_params = params.setdefault("_base_params", {
        **({"plan": params["plan"]} if "plan" in params else {}),
        **{k[len("base."):]: v for k, v in params.items() if k.startswith("base.")}})
    return BusPriorityController(BUILDERS[base](junction, scenario, base_params),
                                 junction.info, p)
