"""Decision logic of the rule-based controllers with hand-made observations (no SUMO)."""

from __future__ import annotations

import math

import pytest

from controllers.actuated import ActuatedController, ActuatedParams
from controllers.base import Controller, StageRequest
from controllers.bus_priority import BusPriorityController, BusPriorityParams
from controllers.common import GreenLimits, parse_params
from controllers.coordination import CoordinationParams, bandwidth
from controllers.estimators import QueueTracker
from controllers.max_pressure import MaxPressureController, MaxPressureParams, QueueBoard
from controllers.movement_flows import permissive_factor, shortest_path
from controllers.sotl import SotlController, SotlParams
from controllers.webster import WebsterParams
from scenarios.observation import ApproachLane, JunctionInfo, LaneReading, Observation
from signals.errors import ParameterError

# A two-approach junction: lanes a0/a1 (edge a) in stage 0, lane b0 (edge b) in stage 1,
# lane c0 in stage 2; outgoing lanes lead to x0 / y0 / z0.
INFO = JunctionInfo(
    junction="j", stage_names=("A", "B", "C"), group_names=("KA", "KB", "KC"),
    lanes=(ApproachLane("a_0", ("KA",), (0,), ("x_0",)),
           ApproachLane("a_1", ("KA",), (0,), ("x_0",)),
           ApproachLane("b_0", ("KB",), (1,), ("y_0",)),
           ApproachLane("c_0", ("KC",), (2,), ("z_0",))),
    min_green_s=(5.0, 5.0, 5.0), max_green_s=(60.0, 60.0, 60.0))


def reading(lane: str, up: int = 0, stop: int = 0, presence: bool = False, gap: float = 99.0,
            buses: int = 0) -> LaneReading:
    return LaneReading(lane=lane, stopline_count=stop, upstream_count=up, occupancy=0.0,
                       presence=presence, gap_s=gap, queue=0.0, bus_count=buses)


def obs(t: float, stage: int | None, in_stage: float, **per_lane: dict) -> Observation:
    lanes = tuple(reading(lane.lane, **per_lane.get(lane.lane.replace("_", ""), {}))
                  for lane in INFO.lanes)
    return Observation("j", t, stage, None, in_stage, (True, True, True), lanes)


# --------------------------------------------------------------------- parameters
def test_parameters_come_from_strings_and_unknown_keys_are_named() -> None:
    p = parse_params(ActuatedParams, {"max_gap_s": "2.5", "recall_undetected": "false"}, "act")
    assert p.max_gap_s == 2.5 and p.recall_undetected is False
    with pytest.raises(ValueError, match="unknown parameter 'max_gap'"):
        parse_params(ActuatedParams, {"max_gap": "2"}, "actuated")
    with pytest.raises(ParameterError, match=r"unknown parameter '_board' \(known: [a-z]"):
        parse_params(ActuatedParams, {"_board": "x"}, "actuated")  # never silently ignored
    with pytest.raises(ValueError, match="'theta': expected a number"):
        parse_params(SotlParams, {"theta": "many"}, "sotl")
    with pytest.raises(ValueError, match="'mu': expected an integer"):
        parse_params(SotlParams, {"mu": "2.5"}, "sotl")
    with pytest.raises(ValueError, match="max_green_s"):
        parse_params(ActuatedParams, {"max_green_s": "3", "min_green_s": "10"}, "actuated")
    with pytest.raises(ValueError, match="max_cycle_s"):
        WebsterParams(max_cycle_s=150)
    with pytest.raises(ValueError, match="direction"):
        CoordinationParams(direction="sideways")


# ----------------------------------------------------------------------- actuated
def _actuated(**kw) -> ActuatedController:
    return ActuatedController(INFO, ActuatedParams(**kw), GreenLimits.unbounded(3))


def test_actuated_extends_while_vehicles_arrive_and_gaps_out_on_an_empty_approach() -> None:
    ctl = _actuated(max_gap_s=3.0, min_green_s=5.0)
    # a vehicle waits for stage B: a call
    ctl.decide(obs(0, 0, 0, b0={"up": 1}))
    # vehicles keep crossing stage A's upstream loop: extend
    for t in range(1, 10):
        assert ctl.decide(obs(t, 0, t, a0={"up": 1})).stage == 0
    # the approach empties: after max-gap seconds without a vehicle the stage gaps out
    decisions = [ctl.decide(obs(t, 0, t)) for t in range(10, 16)]
    first_change = next(k for k, d in enumerate(decisions) if d.stage != 0)
    assert decisions[first_change].stage == 1 and decisions[first_change].reason == "gap-out"
    assert 10 + first_change - 9 >= 3  # not before max-gap seconds of silence


def test_actuated_skips_a_stage_without_call_and_rests_without_any() -> None:
    ctl = _actuated()
    # only stage C is called: B is skipped
    assert ctl.decide(obs(0, 0, 20, c0={"up": 1})).stage == 2
    ctl2 = _actuated()
    assert ctl2.decide(obs(0, 0, 20)).reason == "rest: no call"


def test_actuated_maxes_out_under_continuous_demand() -> None:
    ctl = _actuated(max_green_s=20.0)
    ctl.decide(obs(0, 0, 0, b0={"up": 1}))
    assert ctl.decide(obs(10, 0, 10, a0={"up": 1})).stage == 0
    d = ctl.decide(obs(20, 0, 20, a0={"up": 1}))
    assert (d.stage, d.reason) == (1, "max-out")


def test_actuated_holds_minimum_green_and_the_sequencer_bound() -> None:
    limits = GreenLimits((7.0, 5.0, 5.0), ((30.0,) * 3,) * 3)
    ctl = ActuatedController(INFO, ActuatedParams(max_green_s=45.0), limits)
    ctl.decide(obs(0, 0, 0, b0={"up": 1}))
    assert ctl.decide(obs(6, 0, 6)).reason == "min green"  # stage bound 7 s > param 5 s
    assert ctl.limits.max_for(1, 0) == 30.0  # param 45 s capped by the sequencer bound


# --------------------------------------------------------------------------- SOTL
def test_sotl_switches_at_the_threshold_and_protects_a_small_platoon() -> None:
    ctl = SotlController(INFO, SotlParams(theta=10, mu=2, min_green_s=5),
                         GreenLimits.unbounded(3))
    # vehicles accumulate on red (stage B) while a vehicle is still approaching on A
    ctl.decide(obs(0, 0, 0, b0={"up": 3}, a0={"up": 1}))
    for t in range(1, 5):
        assert ctl.decide(obs(t, 0, t)).stage == 0  # counting / min green
    # threshold reached, one vehicle of A between the loops: platoon protection
    assert ctl.decide(obs(5, 0, 5)).reason == "platoon protection"
    # the vehicle crosses the stop line: nothing approaches the green any more -> switch
    d = ctl.decide(obs(8, 0, 8, a0={"stop": 1}))
    assert d.stage == 1


def test_sotl_does_not_switch_without_demand_on_red() -> None:
    ctl = SotlController(INFO, SotlParams(), GreenLimits.unbounded(3))
    assert ctl.decide(obs(30, 0, 30)).reason == "no demand on red"


def test_sotl_counts_from_the_loops_also_under_camera() -> None:
    """A camera's halting vehicles (here 8 on B's lane, where the loops count 3) made
    SOTL reach theta sooner and switch too often on every Hamm scenario: it counts from
    the loops, so the camera readings change none of its decisions."""
    import dataclasses

    def with_camera(o: Observation) -> Observation:
        lanes = tuple(dataclasses.replace(r, camera_queue=8.0, camera_approaching=2.0)
                      for r in o.lanes)
        return dataclasses.replace(o, lanes=lanes)

    plain = SotlController(INFO, SotlParams(theta=20, mu=2, min_green_s=5),
                           GreenLimits.unbounded(3))
    camera = SotlController(INFO, SotlParams(theta=20, mu=2, min_green_s=5),
                            GreenLimits.unbounded(3))
    stream = [obs(0, 0, 0, b0={"up": 3})] + [obs(t, 0, t) for t in range(1, 12)]
    got = [(camera.decide(with_camera(o)), plain.decide(o)) for o in stream]
    assert all(c == p for c, p in got)
    assert any(p.stage == 1 for _, p in got)  # the stream does switch


# ------------------------------------------------------------------- max-pressure
def test_max_pressure_serves_the_loaded_approach() -> None:
    ctl = MaxPressureController(INFO, MaxPressureParams(min_green_s=5, hysteresis=0.5),
                                QueueBoard(), GreenLimits.unbounded(3))
    # C loads up; A is empty and idle
    d = ctl.decide(obs(10, 0, 10, c0={"up": 4}, b0={"up": 1}))
    assert d.stage == 2
    assert ctl.pressures(obs(11, 0, 11))[2] > ctl.pressures(obs(12, 0, 12))[1]


@pytest.mark.parametrize("age_s, served", [(0.0, 0), (30.0, 1)])
def test_max_pressure_ages_the_pressure_of_a_long_waiting_stage(age_s: float,
                                                                 served: int) -> None:
    """B (one lane, 3 vehicles) has waited 60 s, A (two lanes, 2 + 2) 30 s: plain
    max-pressure serves A again, with aging B goes first."""
    ctl = MaxPressureController(INFO, MaxPressureParams(age_s=age_s), QueueBoard(),
                                GreenLimits.unbounded(3))
    ctl.decide(obs(0, 1, 0))
    ctl.decide(obs(30, 0, 0))
    for t in range(31, 59):
        ctl.decide(obs(t, 2, t - 31))
    ctl.decide(obs(59, 2, 28, a0={"up": 2}, a1={"up": 2}, b0={"up": 3}))
    d = ctl.decide(obs(60, 2, 29))
    assert d.stage == served and d.reason.startswith("pressure")


def test_max_pressure_serves_a_stage_without_pressure_after_max_red() -> None:
    """Vehicles the loops cannot see (ingolstadt7: standing in the junction before a
    0.9 m lane) gave their stage no pressure; it was never served and they teleported."""
    ctl = MaxPressureController(INFO, MaxPressureParams(max_red_s=180.0), QueueBoard(),
                                GreenLimits.unbounded(3))
    for t in range(0, 180):  # A discharges all the time; B and C detect nothing
        d = ctl.decide(obs(t, 0, t, a0={"stop": 1, "gap": 0.0}))
        assert d.stage == 0
    d = ctl.decide(obs(180, 0, 180, a0={"stop": 1, "gap": 0.0}))
    assert d.stage in (1, 2) and d.reason == "max red"


def test_max_pressure_subtracts_downstream_queues_from_the_board() -> None:
    board = QueueBoard()
    ctl = MaxPressureController(INFO, MaxPressureParams(), board, GreenLimits.unbounded(3))
    free = ctl.pressures(obs(1, 0, 1, c0={"up": 3}))[2]
    board.publish(2, {"z_0": 3.0})  # the lane C feeds is full
    blocked = ctl.pressures(obs(2, 0, 2))[2]
    assert free == pytest.approx(3.0) and blocked == pytest.approx(0.0, abs=0.05)
    assert board.queue("z_0", 100.0) == 0.0  # stale entries are ignored


def test_queue_tracker_moves_lane_changers_back_and_zeroes_idle_green_lanes() -> None:
    qt = QueueTracker(("a_0", "a_1", "b_0", "c_0"))
    # counted upstream on a_0, crossed the stop line on a_1: one vehicle, not +1 / -1
    q = qt.update(obs(1, 1, 1, a0={"up": 1}, a1={"stop": 1}), frozenset())
    assert q[:2] == [0.0, 0.0]
    q = qt.update(obs(2, 1, 2, b0={"up": 2}), frozenset())
    assert q[2] == 2.0
    q = qt.update(obs(4, 1, 4, b0={"gap": 10.0}), frozenset({2}))
    assert q[2] == 2.0  # a vehicle entered 2 s ago: it may still be between the loops
    q = qt.update(obs(9, 1, 9, b0={"gap": 10.0}), frozenset({2}))
    assert q[2] == 0.0


# ------------------------------------------------------------------- bus priority
class _Plan:
    """A fake base controller that always wants ``stage``."""

    name = "fake"
    decision_interval_s = 1.0
    needs_detectors = False

    def __init__(self, stage: int) -> None:
        self.stage = stage

    def decide(self, obs: Observation) -> StageRequest:
        return StageRequest(self.stage, "plan")


def test_bus_priority_extends_the_green_for_a_detected_bus_within_the_cap() -> None:
    base = _Plan(1)  # the plan wants to leave stage A
    ctl = BusPriorityController(base, INFO, BusPriorityParams(max_extension_s=6,
                                                              request_s=20))
    assert isinstance(ctl, Controller)
    assert ctl.decide(obs(0, 0, 10, a0={"buses": 1})).reason.endswith("green extension")
    held = [ctl.decide(obs(t, 0, 10 + t)).stage for t in range(1, 10)]
    assert held[:5] == [0] * 5 and held[-1] == 1  # held, but no longer than the cap


def test_bus_priority_gives_early_green_but_not_before_the_cross_green_floor() -> None:
    base = _Plan(0)
    ctl = BusPriorityController(base, INFO, BusPriorityParams(min_cross_green_s=8))
    assert ctl.decide(obs(0, 0, 3, c0={"buses": 1})).stage == 0  # cross green too short
    d = ctl.decide(obs(5, 0, 8))
    assert (d.stage, d.reason) == (2, "bus priority: early green")
    assert ctl.interventions == 1


def test_bus_priority_limits_interventions_per_interval() -> None:
    ctl = BusPriorityController(_Plan(0), INFO, BusPriorityParams(min_interval_s=60,
                                                                  request_s=5))
    assert ctl.decide(obs(0, 0, 20, c0={"buses": 1})).stage == 2
    assert ctl.decide(obs(30, 0, 20, b0={"buses": 1})).stage == 0  # too soon: plan rules
    assert ctl.decide(obs(70, 0, 20, b0={"buses": 1})).stage == 1


# ------------------------------------------------------------- coordination, Webster
def test_bandwidth_of_aligned_and_misaligned_windows() -> None:
    # two junctions 20 s apart, 30 s greens in a 60 s cycle
    assert bandwidth([0.0, 20.0], [30.0, 30.0], [0.0, 20.0], 60.0) == pytest.approx(30.0)
    assert bandwidth([0.0, 50.0], [30.0, 30.0], [0.0, 20.0], 60.0) == pytest.approx(0.0,
                                                                                  abs=0.11)
    assert bandwidth([0.0, 30.0], [30.0, 30.0], [0.0, 20.0], 60.0) == pytest.approx(20.0,
                                                                                  abs=0.11)


def test_permissive_factor_falls_with_opposing_flow() -> None:
    free, light, heavy = (permissive_factor(q) for q in (0.0, 100.0, 600.0))
    assert free == pytest.approx(3600 / 2.5 / 1800)
    assert free > light > heavy > 0.05


def test_shortest_path_follows_connections() -> None:
    succ = {"a": {"b", "c"}, "b": {"d"}, "c": {"d"}}
    lengths = {"a": 1.0, "b": 5.0, "c": 1.0, "d": 1.0}
    assert shortest_path(succ, lengths, "a", "d") == ["a", "c", "d"]
    assert shortest_path(succ, lengths, "d", "a") is None
    assert math.isfinite(lengths["a"])
