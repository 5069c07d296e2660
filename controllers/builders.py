"""Builders of the rule-based controllers for the registry: ``(junction, scenario, params)``.

``params`` is a dict (from a config, or ``--param key=value`` strings); unknown keys are
refused with a one-line ValueError naming the key. One dict is shared by all junctions
built by the same factory, which lets the junctions of a run share a queue board.
"""

from __future__ import annotations

from typing import Any

from controllers.actuated import ActuatedController, ActuatedParams, stage_green_bounds
from controllers.base import Controller
from controllers.common import GreenLimits, parse_params
from controllers.fixed_time import FixedTimeController
from controllers.max_pressure import MaxPressureController, MaxPressureParams, QueueBoard
from controllers.sotl import SotlController, SotlParams
from controllers.webster import WebsterParams, webster_plan
from scenarios.scenario import Junction, Scenario


def green_limits(junction: Junction) -> GreenLimits:
    """The sequencer's green bounds per stage and predecessor, from the signal model."""
    model = junction.layout.model
    n = len(model.stages)
    mins, maxs = stage_green_bounds(junction.info, [st.green for st in model.stages])
    rows = tuple(tuple(maxs[s] - (model.interstage_duration(p, s) if p != s else 0.0) - 1.0
                       for s in range(n)) for p in range(n))
    return GreenLimits(mins, rows)


def build_webster(junction: Junction, scenario: Scenario, params: dict[str, Any]
                  ) -> Controller:
    """Fixed-time control running the Webster plan computed from the scenario's demand."""
    offset = float(params.get("offset_s", 0.0))
    p = parse_params(WebsterParams, params, "webster", extra=frozenset({"offset_s"}))
    ctl = FixedTimeController(webster_plan(junction, scenario, p, offset_s=offset).plan)
    ctl.name = "webster"
    return ctl


def build_actuated(junction: Junction, scenario: Scenario, params: dict[str, Any]
                   ) -> Controller:
    """Gap-out / max-out actuated control."""
    p = parse_params(ActuatedParams, params, "actuated")
    return ActuatedController(junction.info, p, green_limits(junction))


def build_sotl(junction: Junction, scenario: Scenario, params: dict[str, Any]) -> Controller:
    """Self-organising traffic light."""
    p = parse_params(SotlParams, params, "sotl")
    return SotlController(junction.info, p, green_limits(junction))


def build_max_pressure(junction: Junction, scenario: Scenario, params: dict[str, Any]
                       ) -> Controller:
    """Max-pressure control; the junctions of one factory share a queue board."""
    p = parse_params(MaxPressureParams, params, "max-pressure")
    board = params.setdefault("_board", QueueBoard())
    return MaxPressureController(junction.info, p, board, green_limits(junction))
