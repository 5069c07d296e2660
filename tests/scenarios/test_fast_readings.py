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


@pytest.mark.slow
def test_quiet_loops_skip_the_interval_query(tmp_path) -> None:
    """Most loops of a lightly used grid are quiet: the interval number (the dearest query)
    is asked for far fewer than once per loop and read (a regression of the shortcut would
    double the cost of detector reads; its exactness is checked in test_batched_reads)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_batched_reads import make_grid

    from scenarios.scenario import load_scenario

    scenario = load_scenario(str(make_grid(tmp_path / "grid")))
    detectors = [j.detectors for j in scenario.junctions]
    session = scenario.session(seed=1, duration_s=300, out_dir=tmp_path / "run")
    calls = reads = 0
    with session:
        domain = session._sim.inductionloop
        real = domain.getIntervalVehicleNumber

        def counted(loop_id: str) -> int:
            nonlocal calls
            calls += 1
            return real(loop_id)

        domain.getIntervalVehicleNumber = counted
        try:
            while not session.finished():
                session.step()
                for d in detectors:
                    session.read_lanes(d)
                    reads += 2 * len(d)
        finally:
            domain.getIntervalVehicleNumber = real
    assert reads > 10_000 and calls < 0.6 * reads


@pytest.mark.slow
def test_plain_readings_equal_the_general_path(tmp_path) -> None:
    """The inlined read of the default profile (direct libsumo calls, counters and readings
    built in one loop) gives readings equal to the general path's (subscriptions, one
    ``LaneReading`` constructor per lane), field by field, queue and buses included."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_batched_reads import make_grid

    from scenarios.scenario import load_scenario

    scenario = load_scenario(str(make_grid(tmp_path / "grid")))
    detectors = [j.detectors for j in scenario.junctions]
    runs = []
    for subscribe in (False, True):
        session = scenario.session(seed=1, duration_s=200, out_dir=tmp_path / f"run{subscribe}")
        session.subscribe_loops = subscribe
        readings = []
        with session:
            while not session.finished():
                session.step()
                readings.extend(r for d in detectors for r in session.read_lanes(d))
        runs.append(readings)
    plain, general = runs
    assert len(plain) == len(general) > 5_000
    assert plain == general
    assert sum(r.stopline_count for r in plain) > 50 and any(r.queue > 0 for r in plain)
