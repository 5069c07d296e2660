"""``Sequencer.allowed_stages`` keeps its mask until a state change or the first minimum
green that blocks a stage runs out (issue 15): it must always equal the mask computed
afresh from the sequencer's state."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from test_signals_properties import MODES, choose_request, signal_models

from signals import Sequencer, SignalModel


def fresh_mask(seq: Sequencer) -> tuple[bool, ...]:
    """The mask by its definition: during a transition only its target; else the current
    stage and every stage no leaving group's minimum green blocks at the next tick."""
    n = len(seq.model.stages)
    if seq.in_transition or seq.current_stage is None:
        return tuple(s == seq.target_stage for s in range(n))
    nxt = round(seq.time_s / seq.dt) + 1
    return tuple(s == seq.current_stage
                 or seq._min_green_blocker(seq.current_stage, s, nxt) is None
                 for s in range(n))


@settings(max_examples=100, deadline=None)
@given(model=signal_models(), dt=st.sampled_from([1.0, 0.5, 0.7]),
       mode=st.sampled_from(MODES), seed=st.integers(0, 2**32 - 1))
def test_allowed_stages_equal_the_fresh_mask(model: SignalModel, dt: float, mode: str,
                                             seed: int) -> None:
    rng = random.Random(seed)
    n = len(model.stages)
    seq = Sequencer(model, initial_stage=rng.randrange(n), dt=dt)
    changed = 0
    last = None
    for t in range(1, round(400 / dt)):
        mask = seq.allowed_stages()
        assert mask == fresh_mask(seq), t
        changed += mask != last
        last = mask
        stage = choose_request(mode, rng, seq, n, t)
        if stage is not None:
            seq.request(stage)
        seq.step()
    assert changed >= 1
