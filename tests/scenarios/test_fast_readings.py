"""The per-tick read path builds LaneReadings without the dataclass constructor and skips
SUMO queries it can infer (issue 15): the objects must equal the constructor's."""

from __future__ import annotations

import dataclasses

import pytest

from scenarios.observation import LaneReading
from scenarios.session import _loop_reading


@pytest.mark.parametrize("presence", [False, True])
def test_loop_reading_equals_constructor(presence: bool) -> None:
    args = ("e_0", 2, 3, 0.25, presence, 1.5, 1.0, 1, 0.5)
    fast = _loop_reading(*args)
    slow = LaneReading(lane="e_0", stopline_count=2, upstream_count=3, occupancy=0.25,
                       presence=presence, gap_s=1.5, queue=1.0, bus_count=1,
                       upstream_occupancy=0.5)
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    # every field is set on the instance (a field added to LaneReading must be added there)
    assert set(vars(fast)) == {f.name for f in dataclasses.fields(LaneReading)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.queue = 2.0  # type: ignore[misc]
    assert dataclasses.replace(fast, queue=4.0).queue == 4.0
