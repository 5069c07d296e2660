"""Which demand and plan a period gives a run: one decision for the CLI and the scripts."""

from __future__ import annotations

from types import SimpleNamespace

from scenarios.periods import apply_period, period_plan, run_period, scenario_for_period


def _scenario(*plan_names_per_junction: tuple[str, ...], external: object = None):
    junctions = tuple(SimpleNamespace(plans=tuple(SimpleNamespace(name=n) for n in names))
                      for names in plan_names_per_junction)
    return SimpleNamespace(junctions=junctions, external=external,
                           for_period=lambda period: ("derived", period))


def test_the_plan_named_after_the_period_when_every_junction_has_it() -> None:
    scenario = _scenario(("morning_peak", "afternoon_peak"), ("afternoon_peak", "morning_peak"))
    assert period_plan(scenario, "afternoon_peak") == "afternoon_peak"
    assert period_plan(scenario, None) == "morning_peak"  # the basis period


def test_no_plan_when_one_junction_lacks_it() -> None:
    scenario = _scenario(("morning_peak", "midday"), ("morning_peak",))
    assert period_plan(scenario, "midday") is None
    assert period_plan(scenario, "morning_peak") == "morning_peak"


def test_an_explicit_plan_wins() -> None:
    scenario = _scenario(("morning_peak",))
    assert period_plan(scenario, "midday", plan="webster") == "webster"


def test_scenario_for_period_only_derives_for_a_period() -> None:
    scenario = _scenario(("morning_peak",))
    assert scenario_for_period(scenario, None) is scenario
    assert scenario_for_period(scenario, "midday") == ("derived", "midday")


def test_the_recorded_period() -> None:
    assert run_period(_scenario(("a",)), None) == "morning_peak"
    assert run_period(_scenario(("a",)), "midday") == "midday"
    assert run_period(_scenario(("a",), external=object()), None) is None


def test_apply_period_adds_the_plan_unless_params_name_one() -> None:
    scenario = _scenario(("morning_peak", "midday"))
    midday = _scenario(("morning_peak", "midday"))
    scenario.for_period = lambda period: midday if period == "midday" else None
    params = {"theta": "20"}
    derived, out = apply_period(scenario, "midday", params)
    assert derived is midday and out == {"theta": "20", "plan": "midday"}
    assert params == {"theta": "20"}  # not written
    assert apply_period(scenario, "midday", {"plan": "x"})[1] == {"plan": "x"}
    assert apply_period(scenario, None, {}, plan="webster") == (scenario, {"plan": "webster"})
    assert apply_period(scenario, None, {}) == (scenario, {"plan": "morning_peak"})
    lacking = _scenario(("a",))
    assert apply_period(lacking, None, {"theta": "3"}) == (lacking, {"theta": "3"})
