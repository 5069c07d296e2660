"""Controllers by name, as the CLI and experiment configs refer to them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controllers import builders as rule_based
from controllers.base import Controller
from controllers.fixed_time import FixedTimeController, FixedTimePlan
from scenarios.scenario import Junction, Scenario


def _fixed_time(junction: Junction, scenario: Scenario, params: dict[str, Any]) -> Controller:
    rule_based.check_keys(params, {"plan", "greens", "offset_s"}, "fixed-time")
    plan_spec = junction.plan(params.get("plan"))
    greens = rule_based.parse_greens(params.get("greens"), junction) or plan_spec.greens
    offset = float(params.get("offset_s", plan_spec.offset_s))
    return FixedTimeController(FixedTimePlan.build(junction.layout.model, greens, offset))


def _rl(junction: Junction, scenario: Scenario, params: dict[str, Any]) -> Controller:
    """Learned policy (ONNX, onnxruntime only); ``policy`` = path to policy.onnx."""
    from controllers.rl.policy import SHIPPED_POLICY, OnnxPolicy, RLController

    allow = str(params.get("allow_other_layout", "false")).lower() in ("1", "true", "yes")
    policy = OnnxPolicy.load(params.get("policy") or SHIPPED_POLICY)
    if policy.action_mode == "residual":
        from controllers.rl.policy import residual_controller

        return residual_controller(policy, junction, scenario, params, allow)
    return RLController(policy, junction.info, allow_other_layout=allow)


BUILDERS: dict[str, Callable[[Junction, Scenario, dict[str, Any]], Controller]] = {
    "fixed-time": _fixed_time,
    "webster": rule_based.build_webster,
    "actuated": rule_based.build_actuated,
    "sotl": rule_based.build_sotl,
    "max-pressure": rule_based.build_max_pressure,
    "coordinated": rule_based.build_coordinated,
    "bus-priority": rule_based.build_bus_priority,
    "rl": _rl,
}


def controller_names() -> list[str]:
    """Names accepted by ``--controller``."""
    return sorted(BUILDERS)


def controller_factory(name: str, params: dict[str, Any] | None = None
                       ) -> Callable[[Junction, Scenario], Controller]:
    """A factory that builds the named controller for each junction of a scenario."""
    if name not in BUILDERS:
        raise ValueError(f"unknown controller {name!r} (known: {', '.join(controller_names())})")
    builder = BUILDERS[name]
    params = dict(params or {})
    return lambda junction, scenario: builder(junction, scenario, params)
