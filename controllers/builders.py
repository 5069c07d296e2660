"""The controller builders by name: ``(junction, scenario, params, ctx)``.

``params`` is a dict (from a config, or ``--param key=value`` strings); unknown keys are
refused with a one-line ValueError naming the key. ``ctx`` is the :class:`BuildContext`
shared by all junctions built by the same factory (the queue board, the green wave).
Builders never write into ``params``.

Each builder imports its controller's module when it runs, so a run imports only the
controller it uses (``ampel run --controller fixed-time`` loads no adaptive controller).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from controllers import sumo_native
from controllers.base import Controller
from controllers.common import GreenLimits, parse_params
from controllers.context import BuildContext
from controllers.fixed_time import MAX_CYCLE_S, FixedTimeController, FixedTimePlan
from scenarios.scenario import Junction, Scenario
from signals.errors import ParameterError

if TYPE_CHECKING:
    from controllers.actuated import ActuatedController, ActuatedParams
    from controllers.max_pressure import MaxPressureParams
    from controllers.sotl import SotlParams

#: ``ampel run`` passes the period's plan name to every controller; adaptive ones ignore it
PLAN_KEY = frozenset({"plan"})


def green_limits(junction: Junction) -> GreenLimits:
    """The sequencer's green bounds per stage and predecessor, from the signal model."""
    from controllers.actuated import stage_green_bounds

    model = junction.layout.model
    n = len(model.stages)
    mins, maxs = stage_green_bounds(junction.info, [st.green for st in model.stages])
    rows = tuple(tuple(maxs[s] - (model.interstage_duration(p, s) if p != s else 0.0) - 1.0
                       for s in range(n)) for p in range(n))
    return GreenLimits(mins, rows)


def check_keys(params: dict[str, Any], known: set[str], where: str) -> None:
    """Refuse parameters a builder does not know (one line naming the key)."""
    for key in params:
        if key not in known:
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


def build_webster(junction: Junction, scenario: Scenario, params: dict[str, Any],
                  ctx: BuildContext | None = None) -> Controller:
    """Fixed-time control running the Webster plan computed from the scenario's demand."""
    from controllers.webster import WebsterParams, webster_plan

    offset = float(params.get("offset_s", 0.0))
    p = parse_params(WebsterParams, params, "webster", extra=frozenset({"offset_s"}))
    ctl = FixedTimeController(webster_plan(junction, scenario, p, offset_s=offset).plan)
    ctl.name = "webster"
    return ctl


def build_actuated(junction: Junction, scenario: Scenario, params: dict[str, Any],
                   ctx: BuildContext | None = None) -> ActuatedController:
    """Gap-out / max-out actuated control."""
    from controllers.actuated import ActuatedController, ActuatedParams

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


def build_sotl(junction: Junction, scenario: Scenario, params: dict[str, Any],
               ctx: BuildContext | None = None) -> Controller:
    """Self-organising traffic light."""
    from controllers.sotl import SotlController, SotlParams

    p = parse_params(SotlParams, params, "sotl", extra=PLAN_KEY)
    return SotlController(junction.info, p, actuated_limits(junction, p, params))


def build_max_pressure(junction: Junction, scenario: Scenario, params: dict[str, Any],
                       ctx: BuildContext | None = None) -> Controller:
    """Max-pressure control; the junctions of one factory share a queue board."""
    from controllers.max_pressure import MaxPressureController, MaxPressureParams

    p = parse_params(MaxPressureParams, params, "max-pressure", extra=PLAN_KEY)
    board = (ctx or BuildContext()).board
    return MaxPressureController(junction.info, p, board, actuated_limits(junction, p, params))


COORDINATED_KEYS = frozenset({"plan", "control"})


def build_coordinated(junction: Junction, scenario: Scenario, params: dict[str, Any],
                      ctx: BuildContext | None = None) -> Controller:
    """Green-wave coordination; ``control`` = ``fixed-time`` (default) or ``actuated``.

    The green wave is computed once per factory and scenario (the junctions of a run share
    it).
    """
    from controllers.actuated import ActuatedController, ActuatedParams
    from controllers.coordination import (
        CoordinatedActuatedController,
        CoordinationParams,
        green_wave,
    )

    control = str(params.get("control", "fixed-time"))
    if control not in ("fixed-time", "actuated"):
        raise ParameterError(f"coordinated: parameter 'control' must be fixed-time or actuated, "
                             f"got {control!r}")
    p = parse_params(CoordinationParams, params, "coordinated", extra=COORDINATED_KEYS)
    key = (scenario.name, str(scenario.net_path), tuple(j.tls for j in scenario.junctions))
    waves = (ctx or BuildContext()).waves
    if key not in waves:
        waves[key] = green_wave(scenario, p, params.get("plan") if p.base == "plan" else None)
    wave = waves[key]
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


def build_bus_priority(junction: Junction, scenario: Scenario, params: dict[str, Any],
                       ctx: BuildContext | None = None) -> Controller:
    """Bus priority around a base controller: ``base`` (default fixed-time); parameters
    ``base.KEY`` go to the base controller (``plan`` too)."""
    from controllers.bus_priority import BusPriorityController, BusPriorityParams

    base = str(params.get("base", "fixed-time"))
    if base not in BASES:
        raise ParameterError(f"bus-priority: parameter 'base' must be one of {', '.join(BASES)}, "
                             f"got {base!r}")
    own = {k: v for k, v in params.items()
           if not k.startswith("base.") and k not in ("base", "plan")}
    p = parse_params(BusPriorityParams, own, "bus-priority")
    base_params = {**({"plan": params["plan"]} if "plan" in params else {}),
                   **{k[len("base."):]: v for k, v in params.items() if k.startswith("base.")}}
    return BusPriorityController(BUILDERS[base](junction, scenario, base_params, ctx),
                                 junction.info, p)


def build_fixed_time(junction: Junction, scenario: Scenario, params: dict[str, Any],
                     ctx: BuildContext | None = None) -> Controller:
    """Fixed-time control: the scenario's plan (for a .sumocfg, the program SUMO runs)."""
    check_keys(params, {"plan", "greens", "offset_s"}, "fixed-time")
    plan_spec = junction.plan(params.get("plan"))
    own = parse_greens(params.get("greens"), junction)
    offset = float(params.get("offset_s", plan_spec.offset_s))
    # the scenario's own plan (for an external scenario: the program SUMO runs) keeps its
    # cycle; greens given by the user stay within the RiLSA bound
    bound = MAX_CYCLE_S if own else math.inf
    return FixedTimeController(FixedTimePlan.build(junction.layout.model, own or plan_spec.greens,
                                                   offset, max_cycle_s=bound))


def build_rl(junction: Junction, scenario: Scenario, params: dict[str, Any],
             ctx: BuildContext | None = None) -> Controller:
    """Learned policy (ONNX, onnxruntime only); ``policy`` = path to policy.onnx."""
    from controllers.rl.policy import SHIPPED_POLICY, OnnxPolicy, RLController

    allow = str(params.get("allow_other_layout", "false")).lower() in ("1", "true", "yes")
    policy = OnnxPolicy.load(params.get("policy") or SHIPPED_POLICY)
    if policy.action_mode == "residual":
        from controllers.rl.policy import residual_controller

        plan = {"plan": params["plan"]} if "plan" in params else {}
        return residual_controller(policy, junction, build_actuated(junction, scenario, plan),
                                   green_limits(junction), params, allow,
                                   sensing=scenario.sensing)
    return RLController(policy, junction.info, allow_other_layout=allow)


#: a builder: (junction, scenario, params, shared build context) -> controller
Builder = Callable[[Junction, Scenario, dict[str, Any], BuildContext | None], Controller]

BUILDERS: dict[str, Builder] = {
    "fixed-time": build_fixed_time,
    "webster": build_webster,
    "actuated": build_actuated,
    "sotl": build_sotl,
    "max-pressure": build_max_pressure,
    "coordinated": build_coordinated,
    "bus-priority": build_bus_priority,
    "rl": build_rl,
    **{name: sumo_native.make_builder(name) for name in sumo_native.SUMO_TYPES},
}
