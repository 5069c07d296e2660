"""``ActuatedBatch`` and ``SotlBatch`` (issue 15) make the decisions of one controller
per junction, from arrays over all lanes instead of ``LaneReading`` objects."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest

from controllers.actuated import ActuatedController, ActuatedParams
from controllers.actuated_batch import ActuatedBatch
from controllers.batch import BatchLanes, JunctionState
from controllers.builders import actuated_limits
from controllers.max_pressure import MaxPressureController, MaxPressureParams, QueueBoard
from controllers.max_pressure_batch import MaxPressureBatch
from controllers.sotl import SotlController, SotlParams
from controllers.sotl_batch import SotlBatch
from scenarios.batchread import LaneArrays
from scenarios.observation import LaneReading, Observation
from signals import Sequencer

NAMES = ("westentor", "hauptbahnhof", "marker_allee")


@pytest.fixture(scope="module")
def junctions(ampel_cache):
    """Hamm junctions and ingolstadt7's (shared lanes, left arrows on them)."""
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from resco_nets import resco

    from scenarios.scenario import load_scenario

    hamm = [j for name in NAMES for j in load_scenario(name).junctions]
    return hamm + list(load_scenario(str(resco("ingolstadt7"))).junctions)


def _readings(rng: random.Random, lanes: tuple[str, ...], busy: float,
              standing: float = 0.0) -> list[LaneReading]:
    """Random readings; ``standing``: the chance that a vehicle stands on a lane's
    upstream loop (no upstream count, occupied)."""
    out = []
    for lane in lanes:
        presence = rng.random() < busy
        count = (0, 1, 2) if rng.random() < busy else (0,)
        up_count = rng.choice(count)
        if standing and rng.random() < standing:
            up_count, up_occupancy = 0, 1.0
        else:
            up_occupancy = 0.0
        out.append(LaneReading(lane=lane, stopline_count=rng.choice(count),
                               upstream_count=up_count,
                               occupancy=0.5 if presence else 0.0, presence=presence,
                               gap_s=0.0 if presence else rng.choice((0.5, 2.0, 4.0, 9.0)),
                               queue=0.0, bus_count=0, upstream_occupancy=up_occupancy))
    return out


def _arrays(readings: list[LaneReading]) -> LaneArrays:
    def col(name: str, dtype: type) -> np.ndarray:
        return np.array([getattr(r, name) for r in readings], dtype)

    return LaneArrays(col("stopline_count", np.int64), col("upstream_count", np.int64),
                      col("occupancy", float), col("presence", bool), col("gap_s", float),
                      col("queue", float), col("bus_count", np.int64),
                      col("upstream_occupancy", float))


def _drive(junctions, make, batch_of, ticks: int, check=None, every: int = 1,
           standing: float = 0.0) -> set[str]:
    """Random readings into one controller per junction and into the batch; equal
    requests at every ``every``-th tick (and ``check(batch, singles)``); the reasons.
    ``standing``: see :func:`_readings` (in the rush spells only)."""
    rng = random.Random(7)
    singles = make(junctions)
    batch = batch_of(make(junctions))
    sequencers = [Sequencer(j.layout.model) for j in junctions]
    reasons = set()
    for tick in range(ticks):
        if tick % every:
            for seq in sequencers:
                seq.step()
            continue
        busy = 0.5 if (tick // 120) % 2 else 0.05  # rush and quiet spells
        states, readings, expected = [], [], []
        for j, c, seq in zip(junctions, singles, sequencers, strict=True):
            lanes = _readings(rng, tuple(lane.lane for lane in j.info.lanes), busy,
                              standing if busy > 0.1 else 0.0)
            obs = Observation(j.tls, float(tick), seq.current_stage, seq.target_stage,
                              seq.time_in_stage_s, seq.allowed_stages(), tuple(lanes))
            states.append(JunctionState(seq.current_stage, seq.target_stage,
                                        seq.time_in_stage_s))
            readings += lanes
            expected.append(c.decide(obs))
        got = batch.decide(float(tick), states, _arrays(readings))
        assert got == expected, tick
        # the estimators' state, lane by lane
        trackers = [getattr(c._queues, "_between", c._queues) for c in singles]
        assert batch.lanes.q.tolist() == [q for t in trackers for q in t._io.q], tick
        if check is not None:
            check(batch, singles)
        reasons.update(r.reason for r in got)
        for seq, request in zip(sequencers, expected, strict=True):
            seq.request(request.stage)
            seq.step()
    return reasons


def _actuated_state(batch: ActuatedBatch, singles: list[ActuatedController]) -> None:
    assert batch.active_full.tolist() == [a for c in singles for a in c._active_full]
    assert batch.active_partial.tolist() == [a for c in singles for a in c._active_partial]
    assert batch.blocked.tolist() == [b for c in singles for b in c._blocking.blocked]
    assert batch.call_pairs() == [c._calls for c in singles]


@pytest.mark.parametrize("params", [
    ActuatedParams(),
    ActuatedParams(max_gap_s=2.0, max_red_s=30.0, recall_undetected=False, blocked_s=3.0),
    ActuatedParams(max_green_factor=0.0, max_green_s=20.0),
])
def test_actuated_batch_decides_as_each_controller(junctions, params) -> None:
    reasons = _drive(junctions, lambda js: [
        ActuatedController(j.info, params, actuated_limits(j, params, {})) for j in js],
        ActuatedBatch, 900, _actuated_state)
    assert {"gap-out", "extend", "min green", "transition"} <= reasons, reasons


def _sotl_state(batch: SotlBatch, singles: list[SotlController]) -> None:
    assert batch.kappa == [c._kappa for c in singles]
    assert batch.waiting == [c._waiting for c in singles]


@pytest.mark.parametrize("params", [
    SotlParams(),
    SotlParams(theta=150.0, mu=3, max_red_s=40.0, approach_gap_s=3.0),
    SotlParams(max_green_factor=0.0, max_green_s=25.0, theta=60.0),
])
def test_sotl_batch_decides_as_each_controller(junctions, params) -> None:
    reasons = _drive(junctions, lambda js: [
        SotlController(j.info, params, actuated_limits(j, params, {})) for j in js],
        SotlBatch, 900, _sotl_state)
    assert {"counting", "min green", "transition"} <= reasons, reasons
    assert reasons & {"threshold", "green empty", "max green"}, reasons


def _max_pressure_state(batch: MaxPressureBatch, singles: list[MaxPressureController]) -> None:
    assert batch.down.tolist() == [d for c in singles for d in c._down]
    assert batch.upstream.tolist() == [e for c in singles for e in c._queues._est]
    assert batch.spilling.tolist() == [s for c in singles for s in c.spilling]
    assert batch.blocked.tolist() == [b for c in singles for b in c.blocked]


@pytest.mark.parametrize(("params", "every", "standing"), [
    (MaxPressureParams(), 2, 0.3),
    (MaxPressureParams(decision_interval_s=1.0, hysteresis=0.0, max_red_s=60.0, age_s=0.0,
                       spillback_s=0.0), 1, 0.3),
    (MaxPressureParams(max_green_factor=0.0, max_green_s=20.0, discharge_gap_s=0.0,
                       blocked_s=2.0, spillback_s=1.0), 3, 0.5),
    (MaxPressureParams(spillback_feed=True), 2, 0.3),
])
def test_max_pressure_batch_decides_as_each_controller(junctions, params, every,
                                                       standing) -> None:
    def make(js):
        board = QueueBoard()
        return [MaxPressureController(j.info, params, board, actuated_limits(j, params, {}))
                for j in js]

    spills = []

    def check(batch: MaxPressureBatch, singles: list[MaxPressureController]) -> None:
        _max_pressure_state(batch, singles)
        spills.append(int(batch.spilling.sum()) + int((batch.blocked > 0).sum()))

    reasons = _drive(junctions, make, MaxPressureBatch, 900, check, every, standing)
    # the spill-back rules were exercised (or, switched off, never)
    assert (sum(spills) > 0) == (params.spillback_s > 0)
    assert {"min green", "transition", "highest pressure"} <= reasons, reasons
    assert any(r.startswith("pressure ") for r in reasons), reasons
    assert reasons & {"max red", "max green", "queue discharging"}, reasons


def test_batch_refuses_what_it_does_not_cover(junctions) -> None:
    info = junctions[0].info
    assert not ActuatedBatch.supports([ActuatedController(info, ActuatedParams(
        arrow_call_s=5.0))], 1.0)
    assert not ActuatedBatch.supports([ActuatedController(info, ActuatedParams(
        min_gap_s=1.5))], 1.0)
    assert not ActuatedBatch.supports([ActuatedController(info, ActuatedParams(
        decision_interval_s=2.0))], 1.0)
    assert not SotlBatch.supports([SotlController(info, SotlParams(arrow_call_s=5.0))], 1.0)
    assert not SotlBatch.supports([ActuatedController(info)], 1.0)
    with pytest.raises(ValueError, match="ActuatedBatch"):
        ActuatedBatch([])
    with pytest.raises(ValueError, match="SotlBatch"):
        SotlBatch([])
    one, two = QueueBoard(), QueueBoard()
    assert not MaxPressureBatch.supports([MaxPressureController(info, board=one),
                                          MaxPressureController(info, board=two)], 1.0)
    assert not MaxPressureBatch.supports([MaxPressureController(info, MaxPressureParams(
        arrow_call_s=4.0), board=one)], 1.0)
    assert MaxPressureBatch.supports([MaxPressureController(info, board=one)], 1.0)
    with pytest.raises(ValueError, match="at least one junction"):
        BatchLanes([], [])
