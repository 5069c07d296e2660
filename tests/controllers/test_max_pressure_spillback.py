"""Max-pressure and spill-back: a movement into a lane whose queue reaches its upstream
loop cannot discharge, and the spilling lane's queue includes the vehicles heading into it.

Unit tests with hand-made readings; one slow test on ingolstadt21 (RESCO), where two
traffic lights 12 m apart gridlocked in the box under plain max-pressure.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from controllers.common import GreenLimits
from controllers.max_pressure import MaxPressureController, MaxPressureParams, QueueBoard
from scenarios.observation import ApproachLane, JunctionInfo, LaneReading, Observation

# Upstream junction U: lane a_0 (stage 0) leads into x_0, lane b_0 (stage 1) into y_0.
UP = JunctionInfo(
    junction="u", stage_names=("A", "B"), group_names=("KA", "KB"),
    lanes=(ApproachLane("a_0", ("KA",), (0,), ("x_0",)),
           ApproachLane("b_0", ("KB",), (1,), ("y_0",))),
    min_green_s=(5.0, 5.0), max_green_s=(60.0, 60.0))
# Downstream junction D: its approach x_0 (stage 0) is the lane U's stage A feeds.
DOWN = JunctionInfo(
    junction="d", stage_names=("X", "W"), group_names=("KX", "KW"),
    lanes=(ApproachLane("x_0", ("KX",), (0,), ("e_0",)),
           ApproachLane("w_0", ("KW",), (1,), ("f_0",))),
    min_green_s=(5.0, 5.0), max_green_s=(60.0, 60.0))


def _reading(lane: str, up: int = 0, stop: int = 0, presence: bool = False,
             gap: float = 99.0, up_occupancy: float = 0.0) -> LaneReading:
    return LaneReading(lane=lane, stopline_count=stop, upstream_count=up, occupancy=0.0,
                       presence=presence, gap_s=gap, queue=0.0,
                       upstream_occupancy=up_occupancy)


def _obs(info: JunctionInfo, t: float, stage: int, in_stage: float,
         **per_lane: dict) -> Observation:
    lanes = tuple(_reading(lane.lane, **per_lane.get(lane.lane.replace("_", ""), {}))
                  for lane in info.lanes)
    return Observation(info.junction, t, stage, None, in_stage, (True, True), lanes)


def _pair(spillback_s: float = 4.0, feed: bool = False
          ) -> tuple[MaxPressureController, MaxPressureController]:
    board = QueueBoard()
    params = MaxPressureParams(spillback_s=spillback_s, spillback_feed=feed)
    return (MaxPressureController(UP, params, board, GreenLimits.unbounded(2)),
            MaxPressureController(DOWN, params, board, GreenLimits.unbounded(2)))


def _spill_x(down: MaxPressureController, t0: float, seconds: int,
             first: bool = True) -> None:
    """D shows W; a vehicle stands on x_0's upstream loop from ``t0`` (``first``: the one
    before it crossed the loop at ``t0``, then no counts)."""
    for t in range(int(t0), int(t0) + seconds + 1):
        crossed = 1 if first and t == t0 else 0
        down.pressures(_obs(DOWN, t, 1, t, x0={"up": crossed, "up_occupancy": 1.0,
                                                "presence": True}))


def test_a_movement_into_a_spilling_lane_has_no_pressure() -> None:
    up, down = _pair()
    up.pressures(_obs(UP, 0, 1, 0, a0={"up": 4}, b0={"up": 1}))
    _spill_x(down, 0, 3)  # standing 3 s: not yet spilling
    free = up.pressures(_obs(UP, 3, 1, 3))
    assert not down.spilling[0] and free[0] > 1.0
    _spill_x(down, 4, 1, first=False)  # standing 5 s: the queue reaches the loop
    assert down.spilling == [True, False]
    blocked = up.pressures(_obs(UP, 5, 1, 5))
    assert up.blocked == [1.0, 0.0]
    assert blocked[0] == 0.0 and blocked[1] > 0.0


def test_a_green_into_a_spilling_lane_is_not_held_as_discharging() -> None:
    up, down = _pair()
    up.decide(_obs(UP, 0, 0, 0, a0={"up": 3}, b0={"up": 3}))
    # A is green, a vehicle is on a_0's stop-line loop (gap 0): it would be held ...
    held = up.decide(_obs(UP, 10, 0, 10, a0={"presence": True, "gap": 0.0}))
    assert held.stage == 0 and held.reason == "queue discharging"
    # ... but not while x_0, the lane it enters, spills back: B waits with pressure
    _spill_x(down, 11, 5)
    d = up.decide(_obs(UP, 16, 0, 16, a0={"presence": True, "gap": 0.0}))
    assert d.stage == 1 and d.reason.startswith("pressure")


@pytest.mark.parametrize("feed", [True, False])
def test_a_spilling_lane_adds_the_queues_heading_into_it(feed: bool) -> None:
    """Only with ``spillback_feed`` (off by default)."""
    up, down = _pair(feed=feed)
    up.pressures(_obs(UP, 0, 1, 0, a0={"up": 6}))  # 6 vehicles on a_0 head into x_0
    _spill_x(down, 0, 2)
    before = down.pressures(_obs(DOWN, 3, 1, 3, x0={"up_occupancy": 1.0, "presence": True}))
    assert not down.spilling[0]  # standing 3 s
    up.pressures(_obs(UP, 5, 1, 5))
    after = down.pressures(_obs(DOWN, 5, 1, 5, x0={"up_occupancy": 1.0, "presence": True}))
    assert down.spilling[0]
    if feed:
        assert after[0] - before[0] == pytest.approx(up._queues._est[0], abs=0.5)
        assert after[0] >= 6.0
    else:
        assert after[0] - before[0] == pytest.approx(0.0, abs=0.5)


def test_spillback_off_changes_nothing() -> None:
    up, down = _pair(spillback_s=0.0)
    up.pressures(_obs(UP, 0, 1, 0, a0={"up": 4}))
    _spill_x(down, 0, 10)
    p = up.pressures(_obs(UP, 10, 1, 10))
    assert down.spilling == [False, False] and up.blocked == [0.0, 0.0] and p[0] > 1.0


@pytest.mark.slow
def test_no_gridlock_between_two_close_traffic_lights(tmp_path, ampel_cache) -> None:
    """ingolstadt21, seed 1, the first 1100 s: traffic lights 243641585 and gneJ257 are
    12 m apart; without the spill-back rules vehicles stood in both boxes from t ~ 670 s
    (a straight vehicle waiting for room on the 12 m link, a left turner yielding to it)
    until SUMO teleported them at t ~ 960 s. With downstream blocking they do not (on this
    seed; see docs/results/2026-12-02.md for seeds where it still happens)."""
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from resco_nets import resco

    from controllers.registry import controller_factory
    from controllers.runner import build_controllers, run_closed_loop
    from scenarios.scenario import load_scenario

    scenario = load_scenario(str(resco("ingolstadt21")))
    out = {}
    for spill in (0.0, 4.0):
        controllers = build_controllers(scenario, controller_factory(
            "max-pressure", {"spillback_s": spill}))
        result = run_closed_loop(scenario, controllers, seed=1, duration_s=1100,
                                 out_dir=tmp_path / f"s{spill:g}")
        assert result.safety_violations == 0
        out[spill] = result.metrics
    assert out[0.0]["teleports"] > 0 and out[4.0]["teleports"] == 0
    assert out[4.0]["mean_waiting_s"] < out[0.0]["mean_waiting_s"]
