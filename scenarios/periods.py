"""A run's time-of-day period: its demand and the signal plan that goes with it.

``ampel run``, the experiment engine and ``scripts/compare_controllers.py`` decide the
same way through these two functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
