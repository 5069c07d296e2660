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
