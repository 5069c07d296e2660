"""Real SUMO through libsumo: detectors, signal states, metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.metrics import read_tripinfo, summarise
from scenarios.vclass import session_type_classes

pytestmark = pytest.mark.slow


def test_detectors_count_traffic_and_metrics_include_unfinished(westentor, tmp_path: Path) -> None:
    junction = westentor.junctions[0]
    layout = junction.layout
    green_ns = "".join("G" if layout.model.groups[g].name in {"K1", "K2", "R1", "R2"} else "r"
                       for g in layout.link_group)
    session = westentor.session(seed=3, duration_s=300, out_dir=tmp_path)
    totals: dict[str, int] = {}
    queues: dict[str, float] = {}
    with session:
        while not session.finished():
            session.set_signal_state(layout.tls, green_ns)
            session.step()
            if int(session.time_s) % 30 == 0:
                for r in session.read_lanes(junction.detectors):
                    totals[r.lane] = totals.get(r.lane, 0) + r.stopline_count
                    queues[r.lane] = r.queue
    north = [lane for lane in totals if lane.startswith("north_in_2")]
    west = [lane for lane in totals if lane.startswith("west_in_2")]
    assert sum(totals[x] for x in north) > 10  # green: traffic passes the stop line
    # red for 300 s: at most the first vehicle stands on the stop-line loop, a queue builds
    assert sum(totals[x] for x in west) <= 1
    assert sum(queues[x] for x in west) >= 3
    vehicles, persons = read_tripinfo(tmp_path / "tripinfo.xml")
    assert any(not v.arrived for v in vehicles)  # west approach stuck: unfinished written
    metrics = summarise(tmp_path / "tripinfo.xml", tmp_path / "statistics.xml",
                        session_type_classes(session))
    assert metrics["vehicles_departed"] > metrics["vehicles_arrived"] > 0
    assert metrics["co2_kg"] > 0 and metrics["max_waiting_s"] > 100


def test_delay_rate_and_time_equal_sumo_s(westentor, tmp_path: Path) -> None:
    """The reward's delay rate (libsumo's C functions directly) equals the sum computed
    through libsumo's lane methods, and the session's time (kept per step) SUMO's, step by
    step."""
    lanes = tuple(d.lane for d in westentor.junctions[0].detectors)
    session = westentor.session(seed=3, duration_s=200, out_dir=tmp_path)
    rates = []
    with session:
        lane = session._sim.lane
        assert session.time_s == float(session._sim.simulation.getTime())
        while not session.finished():
            session.step()
            assert session.time_s == float(session._sim.simulation.getTime())  # kept per step
            expected = 0.0
            for lane_id in lanes:
                n = lane.getLastStepVehicleNumber(lane_id)
                if n:
                    vmax = max(float(lane.getMaxSpeed(lane_id)), 0.1)
                    expected += n * (1.0 - min(lane.getLastStepMeanSpeed(lane_id), vmax) / vmax)
            rate = session.delay_rate(lanes)
            assert rate == expected
            rates.append(rate)
    assert max(rates) > 1.0  # vehicles were delayed, so the sums were not all zero


def test_step_calls_libsumo_directly_and_still_runs_step_listeners(westentor, tmp_path: Path
                                                                   ) -> None:
    """``step`` calls libsumo's C step (no Python wrapper frames) yet runs a registered
    step listener each step, as libsumo's ``simulationStep`` does."""
    import traci

    class Counter(traci.StepListener):
        def __init__(self) -> None:
            self.times: list[float] = []

        def step(self, t: float = 0.0) -> bool:
            self.times.append(float(session._sim.simulation.getTime()))
            return True

    session = westentor.session(seed=3, duration_s=5, out_dir=tmp_path)
    with session:
        assert session._direct_step is not None  # libsumo: the direct path is taken
        session.step()
        listener = Counter()
        listener_id = session._sim.addStepListener(listener)
        try:
            session.step()
            session.step()
        finally:
            session._sim.removeStepListener(listener_id)
        session.step()
        assert session.time_s == float(session._sim.simulation.getTime())
    assert listener.times == [session.begin_s + 2.0, session.begin_s + 3.0]
