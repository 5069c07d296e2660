"""``Sequencer.rest`` and ``SafetyGuard.hold`` (issue 15): resting over the ticks
``rest_ticks`` names is the same as requesting the shown stage and stepping tick by tick,
and nothing changes in those ticks."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from signals_junction import make_junction
from test_signals_properties import MODES, choose_request, signal_models

from signals import Colour, SafetyGuard, Sequencer, SignalModel


def snapshot(seq: Sequencer) -> tuple[object, ...]:
    """Everything that decides the sequencer's future."""
    return (seq.states, seq.current_stage, seq.target_stage, seq.time_s, seq.time_in_stage_s,
            seq.allowed_stages(), seq._pending, seq._forced_reason, tuple(seq._green_start),
            tuple(seq._green_end), seq._entered)


@settings(max_examples=100, deadline=None)
@given(model=signal_models(), dt=st.sampled_from([1.0, 0.5]), mode=st.sampled_from(MODES),
       seed=st.integers(0, 2**32 - 1))
def test_rest_equals_stepping(model: SignalModel, dt: float, mode: str, seed: int) -> None:
    rng = random.Random(seed)
    n = len(model.stages)
    stepped = Sequencer(model, dt=dt)
    rested = Sequencer(model, dt=dt)
    rests = 0
    for t in range(1, round(600 / dt)):
        quiet = rested.rest_ticks()
        assert quiet == stepped.rest_ticks()
        if quiet > 0 and rng.random() < 0.5:
            k = min(int(min(quiet, 50)), rng.randint(1, 50))
            states = stepped.states
            for _ in range(k):  # the shown stage requested, or nothing
                if rng.random() < 0.5:
                    assert stepped.request(stepped.current_stage).accepted
                assert stepped.step() == states
            rested.rest(k)
            rests += 1
        else:
            stage = choose_request(mode, rng, stepped, n, t)
            if stage is not None:
                stepped.request(stage)
                rested.request(stage)
            stepped.step()
            rested.step()
        assert snapshot(rested) == snapshot(stepped), t


def test_rest_refuses_ticks_that_could_change() -> None:
    seq = Sequencer(make_junction(k2_max_green=20.0))
    assert seq.rest_ticks() == 0  # switch-on transition
    with pytest.raises(ValueError, match="cannot rest"):
        seq.rest(1)
    while seq.in_transition:
        seq.step()
    seq.request(1)
    assert seq.rest_ticks() == 0  # a request waits for the minimum green
    while seq.current_stage != 1:
        seq.step()
    quiet = seq.rest_ticks()
    assert 0 < quiet < 20  # K2's maximum green forces a change
    seq.rest(int(quiet))
    assert seq.rest_ticks() == 0
    before = seq.states
    seq.step()
    assert seq.states != before  # the forced change begins


def test_guard_hold_equals_checking_the_same_states() -> None:
    model = make_junction()
    held, checked = SafetyGuard(model), SafetyGuard(model)
    with pytest.raises(ValueError, match="nothing to hold"):
        held.hold(1)
    seq = Sequencer(model)
    while seq.current_stage is None:
        states = seq.step()
        held.check(states)
        checked.check(states)
    held.hold(2)
    for _ in range(2):
        assert checked.check(states) == []
    assert held.time_s == checked.time_s
    # a green cut short after the hold is judged on the same clock
    cut = tuple(Colour.AMBER if c is Colour.GREEN else c for c in states)
    found = [v.message for v in held.check(cut)]
    assert found == [v.message for v in checked.check(cut)]
    assert any("minimum is" in m for m in found)


@settings(max_examples=50, deadline=None)
@given(model=signal_models(), dt=st.sampled_from([1.0, 0.5]), mode=st.sampled_from(MODES),
       seed=st.integers(0, 2**32 - 1))
def test_decision_state_foresees_rest(model: SignalModel, dt: float, mode: str,
                                      seed: int) -> None:
    """``decision_state(k)`` is the stage, target and time in stage after resting ``k``
    ticks (and the properties themselves with ``k`` = 0)."""
    rng = random.Random(seed)
    seq = Sequencer(model, dt=dt)
    for t in range(1, round(400 / dt)):
        assert seq.decision_state() == (seq.current_stage, seq.target_stage,
                                        seq.time_in_stage_s)
        quiet = seq.rest_ticks()
        if quiet > 0 and rng.random() < 0.3:
            k = min(int(min(quiet, 30)), rng.randint(1, 30))
            ahead = seq.decision_state(k)
            seq.rest(k)
            assert ahead == (seq.current_stage, seq.target_stage, seq.time_in_stage_s)
        else:
            stage = choose_request(mode, rng, seq, len(model.stages), t)
            if stage is not None:
                seq.request(stage)
            seq.step()
