from __future__ import annotations

import pytest
from signals_junction import make_junction

from signals import Colour, RequestOutcome, SafetyGuard, Sequencer, SignalModel

# Group order K1 K2 P1 F1.
SWITCH_ON = ["rrrr", "urGu", "GrGG"]  # t = 0, 1, 2: S1 reached at t=2


def run(seq: Sequencer, until: int, requests: dict[int, int] | None = None) -> list[str]:
    """Step to tick ``until``, guarded; ``requests[t]`` is issued while tick t is shown.

    Returns the state strings of the ticks after the current one up to ``until``.
    """
    guard = SafetyGuard(seq.model, dt=seq.dt, strict=True)
    guard.check(seq.states)
    requests = requests or {}
    out = []
    for _ in range(until - round(seq.time_s / seq.dt)):
        tick = round(seq.time_s / seq.dt)
        if tick in requests:
            seq.request(requests[tick])
        guard.check(seq.step())
        out.append(seq.state_string())
    return out


def test_switch_on_starts_all_red_and_enters_initial_stage(junction: SignalModel) -> None:
    seq = Sequencer(junction)
    assert seq.states == (Colour.RED,) * 4
    assert seq.time_s == 0.0 and seq.time_in_stage_s == 0.0
    assert seq.in_transition and seq.current_stage is None and seq.target_stage == 0
    assert seq.allowed_stages() == (True, False)
    assert run(seq, 2) == SWITCH_ON[1:]
    assert seq.current_stage == 0 and not seq.in_transition and seq.target_stage is None
    assert seq.last_event == "stage 'S1' reached"


def test_switch_on_to_other_initial_stage(junction: SignalModel) -> None:
    seq = Sequencer(junction, initial_stage=1)
    assert run(seq, 2) == ["rurr", "rGrr"]
    assert seq.current_stage == 1


def test_exact_transition_s1_to_s2(junction: SignalModel) -> None:
    seq = Sequencer(junction)
    run(seq, 6)  # S1 green since t=2, min green 5 s served at t=7
    assert seq.allowed_stages() == (True, True)
    assert seq.request(1) == RequestOutcome(True, "")
    states = run(seq, 15)
    # t=7: K1 amber (3 s), F1 amber (2 s), P1 straight to red (no amber).
    # K2 green at t=15: P1 -> K2 intergreen 8 s dominates (K1 5 s, F1 6 s);
    # red-amber exactly 1 s before, i.e. at t=14.
    assert states == [
        "yrry",  # 7
        "yrry",  # 8
        "yrrr",  # 9
        "rrrr",  # 10
        "rrrr",  # 11
        "rrrr",  # 12
        "rrrr",  # 13
        "rurr",  # 14
        "rGrr",  # 15
    ]
    assert seq.current_stage == 1 and seq.time_in_stage_s == 0.0


def test_exact_transition_s2_to_s1(junction: SignalModel) -> None:
    seq = Sequencer(junction, initial_stage=1)
    states = run(seq, 13, {2: 0})  # K2 green at t=2, may end at t=7
    assert states[6:] == [
        "ryrr",  # 7: K2 amber 3 s
        "ryrr",  # 8
        "ryrr",  # 9
        "urru",  # 10: K1 and F1 red-amber (intergreen 4 s from t=7 -> green at 11)
        "GrrG",  # 11: P1 waits for its 5 s intergreen
        "GrGG",  # 12: pedestrians green straight from red
        "GrGG",  # 13
    ]
    assert seq.current_stage == 0


def test_transition_lengths_equal_interstage_duration(junction: SignalModel) -> None:
    for src, dst in ((0, 1), (1, 0)):
        seq = Sequencer(junction, initial_stage=src)
        run(seq, 20)
        seq.request(dst)
        seq.step()
        start = seq.time_s
        assert seq.in_transition
        while seq.in_transition:
            seq.step()
        assert seq.current_stage == dst
        assert seq.time_s - start == junction.interstage_duration(src, dst)
        assert seq.interstage_duration(src, dst) == junction.interstage_duration(src, dst)


def test_min_green_holds_and_request_is_deferred_then_served(junction: SignalModel) -> None:
    seq = Sequencer(junction)
    run(seq, 2)
    assert seq.allowed_stages() == (True, False)
    outcome = seq.request(1)
    assert not outcome.accepted
    assert outcome.reason == "deferred: minimum green of K1 runs until t=7"
    assert seq.target_stage == 1 and seq.current_stage == 0
    states = run(seq, 7)
    assert states == ["GrGG"] * 4 + ["yrry"]  # green exactly 5 s (t=2..6)
    assert "transition 'S1' -> 'S2' started" in seq.last_event


def test_latest_minimum_green_binds(junction: SignalModel) -> None:
    # Back in S1, K1 and F1 turn green at t=11 and P1 at t=12: P1's minimum green binds.
    seq = Sequencer(junction, initial_stage=1)
    run(seq, 12, {2: 0})
    assert seq.current_stage == 0
    outcome = seq.request(1)
    assert outcome.reason == "deferred: minimum green of P1 runs until t=17"
    states = run(seq, 17)
    assert states == ["GrGG"] * 4 + ["yrry"]


def test_request_during_transition_is_deferred_and_served_afterwards(
    junction: SignalModel,
) -> None:
    seq = Sequencer(junction)
    run(seq, 8, {6: 1})
    assert seq.in_transition and seq.target_stage == 1
    assert seq.allowed_stages() == (False, True)
    outcome = seq.request(0)
    assert outcome == RequestOutcome(False, "deferred: transition to 'S2' in progress")
    assert seq.target_stage == 1
    run(seq, 15)
    assert seq.current_stage == 1 and seq.target_stage == 0  # stored, min green of K2 first
    run(seq, 26)
    assert seq.current_stage == 0


def test_request_for_transition_target_cancels_a_stored_request(junction: SignalModel) -> None:
    seq = Sequencer(junction)
    run(seq, 8, {6: 1})
    seq.request(0)
    assert seq.request(1) == RequestOutcome(True, "")
    run(seq, 40)
    assert seq.current_stage == 1


def test_request_current_stage_keeps_it(junction: SignalModel) -> None:
    seq = Sequencer(junction)
    run(seq, 3)
    seq.request(1)
    assert seq.request(0) == RequestOutcome(True, "")  # also withdraws the stored request
    assert seq.target_stage is None
    assert set(run(seq, 30)) == {"GrGG"}


def test_max_green_forces_next_stage(junction: SignalModel) -> None:
    seq = Sequencer(make_junction(k2_max_green=10.0), initial_stage=1)
    states = run(seq, 12)
    assert states[1:11] == ["rGrr"] * 10  # K2 green from t=2 to t=11, exactly 10 s
    assert states[11] == "ryrr"
    assert "forced change at max green of K2" in seq.last_event
    assert seq.in_transition and seq.target_stage == 0


def test_max_green_does_not_override_a_stored_request() -> None:
    seq = Sequencer(make_junction(k2_max_green=10.0), initial_stage=1)
    run(seq, 5)
    seq.request(0)
    run(seq, 7)
    assert seq.in_transition
    assert "forced" not in seq.last_event


def test_single_stage_model_never_forces(junction: SignalModel) -> None:
    from signals import SignalGroup, Stage

    model = SignalModel(
        (SignalGroup("K1", "vehicle", 3, 1, 5, 5),),
        frozenset(),
        {},
        (Stage("only", frozenset({"K1"})),),
    )
    seq = Sequencer(model)
    assert run(seq, 20)[1:] == ["G"] * 19


def test_out_of_range_and_bad_requests(junction: SignalModel) -> None:
    seq = Sequencer(junction)
    for bad in (2, -1, True, 1.0, "S1"):
        with pytest.raises(ValueError):
            seq.request(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Sequencer(junction, initial_stage=5)
    with pytest.raises(ValueError):
        Sequencer(junction, dt=0)


def test_numpy_integer_request_is_accepted(junction: SignalModel) -> None:
    import numpy as np

    seq = Sequencer(junction)
    run(seq, 7)
    assert seq.request(np.int64(1)).accepted


def test_half_second_ticks_double_the_tick_counts(junction: SignalModel) -> None:
    seq = Sequencer(junction, dt=0.5)
    run(seq, 12, {3: 1})  # S1 reached at tick 3 (t=1.5); min green until tick 13 (t=6.5)
    states = run(seq, 29)
    assert states.count("yrry") == 4  # F1 amber 2 s = 4 ticks
    assert states.count("yrrr") == 2
    assert states.count("rurr") == 2  # red-amber 1 s
    assert seq.current_stage == 1 and seq.time_s == 14.5  # 6.5 + 8 s intergreen


def test_durations_that_are_not_tick_multiples_round_up(junction: SignalModel) -> None:
    seq = Sequencer(junction, dt=0.7)
    guard = SafetyGuard(junction, dt=0.7, strict=True)
    guard.check(seq.states)
    for _ in range(400):
        for stage in (0, 1):
            seq.request(stage)
            for _ in range(7):
                guard.check(seq.step())
    assert guard.violation_count == 0


def test_state_string_and_states_agree(junction: SignalModel) -> None:
    seq = Sequencer(junction)
    returned = seq.step()
    assert returned == seq.states
    assert seq.state_string() == "".join(c.value for c in returned) == "urGu"


def test_step_returns_the_same_tuple_while_nothing_changes(junction: SignalModel) -> None:
    """Unchanged ticks return the identical object (the runner skips encoding them); a
    colour change returns a new tuple equal to ``states``."""
    seq = Sequencer(junction)
    seen = [seq.step() for _ in range(6)]
    for before, after in zip(seen, seen[1:], strict=False):
        assert (before is after) == (before == after)
        assert after == seq.states or after is seen[-1]
    assert seen[-1] == seq.states
    seq.request(1)
    changes = [seq.step() for _ in range(20)]
    assert any(a is not b for a, b in zip(changes, changes[1:], strict=False))
    assert changes[-1] == seq.states and seq.current_stage == 1


def test_max_green_forces_after_exactly_max_green_on_every_visit() -> None:
    """The cached earliest forcing tick is recomputed whenever the stage is re-entered:
    K2 (max green 10 s) is green for exactly 10 s on each visit of its stage."""
    seq = Sequencer(make_junction(k2_max_green=10.0), initial_stage=1)
    states = run(seq, 120, {t: 1 for t in range(0, 120, 3)})
    k2 = "".join(s[1] for s in states)
    greens = [len(run_) for run_ in k2.replace("y", " ").replace("r", " ").replace("u", " ")
              .split() if run_]
    assert k2.endswith("G")  # the last visit is cut off by the end of the run
    assert len(greens) >= 4 and set(greens[:-1]) == {10}
