"""The runner's per-tick shortcuts (issue 15) build the same objects as the slow path."""

from __future__ import annotations

import dataclasses

import pytest

from controllers.runner import observation
from scenarios.observation import LaneReading, Observation


def test_observation_equals_constructor() -> None:
    lanes = (LaneReading("a_0", 1, 2, 0.1, True, 0.0, 1.0),)
    args = ("J1", 12.0, None, 2, 3.0, (True, False), lanes)
    fast = observation(*args)
    slow = Observation(junction="J1", time_s=12.0, stage=None, target_stage=2,
                       time_in_stage_s=3.0, allowed=(True, False), lanes=lanes)
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert set(vars(fast)) == {f.name for f in dataclasses.fields(Observation)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.stage = 1  # type: ignore[misc]


class _Session:
    """What ``SignalledJunction.control_step`` of a fixed-time junction asks of SUMO."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    def set_signal_state(self, tls: str, state: str) -> None:
        self.shown.append(state)


@pytest.mark.parametrize("interval, offset, ticks", [(1.0, 0.0, 400), (2.0, 13.0, 397)])
def test_resting_fixed_time_equals_every_tick(westentor, interval, offset, ticks) -> None:
    """A junction whose plan holds its stage rests (no decision, sequencer tick or check of
    unchanged states) with the same states, counts and sequencer as doing every tick."""
    from controllers.fixed_time import FixedTimeController, FixedTimePlan
    from controllers.runner import SignalledJunction

    junction = westentor.junctions[0]
    greens = {"S1_north_south": 34, "S2_north_south_left": 10, "S3_west_east": 20,
              "S4_west_east_left": 8}
    runs = []
    for rest in (False, True):
        plan = FixedTimePlan.build(junction.layout.model, greens, offset_s=offset)
        ctl = FixedTimeController(plan, decision_interval_s=interval)
        decisions = []
        decide = ctl.decide
        ctl.decide = (lambda obs, decide=decide, seen=decisions:  # type: ignore[method-assign]
                      seen.append(obs.time_s) or decide(obs))
        sj = SignalledJunction.create(junction, ctl)
        if not rest:
            sj._held_until = None
        session = _Session()
        states = []
        for t in range(ticks):
            sj.control_step(session, float(t))  # type: ignore[arg-type]
            states.append(session.shown[-1] if session.shown else "")
        sj.catch_up()
        runs.append((states, sj.deferred_requests, sj.stage_changes, sj.next_decision_s,
                     sj.sequencer.time_s, sj.sequencer.time_in_stage_s, sj.sequencer.states,
                     sj.guard.time_s, sj.guard.violation_count, len(decisions)))
    every, rested = runs
    assert rested[:-1] == every[:-1]
    assert every[2] >= 8  # two cycles and more
    assert rested[-1] < every[-1] / 2  # most decisions were skipped


@pytest.mark.parametrize("seed, switch", [(1, 0.05), (2, 0.2), (3, 0.0)])
@pytest.mark.parametrize("controller", ["actuated", "max-pressure"])
def test_resting_batch_junction_equals_every_tick(westentor, seed, switch, controller) -> None:
    """A junction deciding in a batch rests while its requests repeat the stage shown,
    with the same states, decision states, counts, sequencer and guard as ticking; also
    one deciding every 2 s (max-pressure), whose steps without a decision do the work."""
    import random

    from controllers.base import StageRequest
    from controllers.builders import build_actuated, build_max_pressure
    from controllers.runner import SignalledJunction

    junction = westentor.junctions[0]
    n_stages = len(junction.layout.model.stages)
    runs = []
    for rest in (False, True):
        build = build_actuated if controller == "actuated" else build_max_pressure
        sj = SignalledJunction.create(junction, build(junction, westentor, {}))
        sj.rest_on_repeat = rest
        interval = round(sj.controller.decision_interval_s)
        rng = random.Random(seed)
        session = _Session()
        trace = []
        rested = 0
        for t in range(900):
            st = sj.decision_state()
            draw, other = rng.random(), rng.randrange(n_stages)
            if st.stage is None:
                stage = st.target_stage if st.target_stage is not None else 0
            else:
                stage = other if draw < switch else st.stage
            before = sj._rested
            decided = StageRequest(stage, "test") if t % interval == 0 else None
            sj.control_step(session, float(t), decided=decided)  # type: ignore[arg-type]
            rested += sj._rested > before
            trace.append((st, session.shown[-1] if session.shown else ""))
        sj.catch_up()
        seq = sj.sequencer
        runs.append((trace, sj.deferred_requests, sj.stage_changes, sj.next_decision_s,
                     seq.time_s, seq.time_in_stage_s, seq.states, seq.current_stage,
                     seq.target_stage, sj.guard.time_s, sj.guard.violation_count, rested))
    every, resting = runs
    assert resting[:-1] == every[:-1]
    assert every[-1] == 0 and resting[-1] > 300 // interval  # most decision steps rested
    if switch:
        assert every[2] >= 10  # many stage changes, a max green or two forced
