"""A run's time-of-day period: its demand and the signal plan that goes with it.

``ampel run`` and the experiment engine (its worker; ``scripts/compare_controllers.py``
runs through it) decide the same way through :func:`apply_period`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scenarios.profiles import BASIS_PERIOD

if TYPE_CHECKING:
    from scenarios.scenario import Scenario


def scenario_for_period(scenario: Scenario, period: str | None) -> Scenario:
    """``scenario`` with the demand of ``period``; unchanged for None (the basis period).

    Raises ``ConfigError`` for a period on an external (``.sumocfg``) scenario.
    """
    return scenario if period is None else scenario.for_period(period)


def period_plan(scenario: Scenario, period: str | None = None,
                plan: str | None = None) -> str | None:
    """The fixed-time plan name a run of ``period`` uses.

    An explicit ``plan`` wins. Otherwise the plan named after the period (None: the basis
    period, the morning peak) when every junction has one; else None, and each
    controller takes its own default (the junction's first plan).
    """
    if plan:
        return plan
    name = period or BASIS_PERIOD
    if all(any(p.name == name for p in j.plans) for j in scenario.junctions):
        return name
    return None


def run_period(scenario: Scenario, period: str | None) -> str | None:
    """The period recorded for a run: None for an external scenario (its own demand)."""
    return (period or BASIS_PERIOD) if scenario.external is None else None


def apply_period(scenario: Scenario, period: str | None, params: dict[str, Any],
                 plan: str | None = None) -> tuple[Scenario, dict[str, Any]]:
    """The scenario with the demand of ``period`` and a copy of the controller ``params``
    with the period's plan (:func:`period_plan`) under ``plan``, unless ``params`` names
    one already.

    Raises ``ConfigError`` for a period on an external (``.sumocfg``) scenario.
    """
    scenario = scenario_for_period(scenario, period)
    chosen = period_plan(scenario, period, plan)
    out = dict(params)
    if chosen:
        out.setdefault("plan", chosen)
    return scenario, out
