"""Fixed-time plans: validation and the schedule they produce through the sequencer."""

from __future__ import annotations

import pytest

from controllers.fixed_time import FixedTimeController, FixedTimePlan
from scenarios.observation import Observation
from signals import SafetyGuard, Sequencer

GREENS = {"S1_north_south": 34, "S2_north_south_left": 10, "S3_west_east": 20,
          "S4_west_east_left": 8}


@pytest.fixture(scope="module")
def model(westentor):
    return westentor.junctions[0].layout.model


def test_cycle_is_greens_plus_interstages(model) -> None:
    plan = FixedTimePlan.build(model, GREENS)
    assert plan.cycle_s == pytest.approx(sum(GREENS.values()) + sum(plan.interstages))
    assert all(i > 0 for i in plan.interstages)
    assert 60 <= plan.cycle_s <= 120


@pytest.mark.parametrize("greens, message", [
    ({"S1_north_south": 3, "S3_west_east": 20}, "below the minimum green"),
    ({"S9": 20}, "unknown stage 'S9'"),
    ({**GREENS, "S1_north_south": 100}, "maximum green|exceeds"),
    ({}, "at least one"),
])
def test_invalid_plans_are_refused(model, greens, message) -> None:
    with pytest.raises(ValueError, match=message):
        FixedTimePlan.build(model, greens)


def test_realised_greens_equal_the_plan(model) -> None:
    """Drive the sequencer with the controller for three cycles; measure stage greens."""
    plan = FixedTimePlan.build(model, GREENS)
    ctl = FixedTimeController(plan)
    seq, guard = Sequencer(model), SafetyGuard(model, strict=True)
    served: list[tuple[int, int]] = []  # (stage, ticks in stage)
    for t in range(int(plan.cycle_s * 4)):
        obs = Observation("j", float(t), seq.current_stage, seq.target_stage,
                          seq.time_in_stage_s, seq.allowed_stages(), ())
        seq.request(ctl.decide(obs).stage)
        before = seq.current_stage
        guard.check(seq.step())
        if before is not None:
            if served and served[-1][0] == before:
                served[-1] = (before, served[-1][1] + 1)
            else:
                served.append((before, 1))
    # skip the switch-on cycle and the last partial stage
    steady = served[len(plan.order):-1]
    assert steady, served
    greens = dict(zip(plan.order, plan.greens, strict=True))
    for stage, ticks in steady:
        assert ticks == pytest.approx(greens[stage], abs=1), (stage, ticks)
    assert guard.violation_count == 0


@pytest.mark.parametrize("offset", [0.0, 17.5])
def test_held_until_is_a_time_the_plan_keeps_its_stage(model, offset) -> None:
    plan = FixedTimePlan.build(model, {**GREENS, "S3_west_east": 20.5}, offset_s=offset)
    ctl = FixedTimeController(plan)
    ahead = []
    for k in range(int(plan.cycle_s * 8)):
        t = k * 0.25
        until = ctl.held_until(t)
        ahead.append(until - t)
        stage = ctl.stage_at(t)
        probe = t
        while probe < until:
            assert ctl.stage_at(probe) == stage, (t, probe, until)
            probe += 0.05
        assert ctl.stage_at(until + 2e-6) != stage or len(plan.order) == 1
    assert max(ahead) > 20.0  # a green is held for most of its length
