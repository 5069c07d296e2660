"""Max-pressure control of many junctions at once (see :mod:`controllers.batch`).

:class:`MaxPressureBatch` makes the decisions of one :class:`MaxPressureController` per
junction sharing one :class:`~controllers.max_pressure.QueueBoard`: the demand estimate
(:class:`~controllers.estimators.DemandEstimator`), the downstream queues, the lane and
stage pressures and the discharge test are numpy operations over all lanes; per junction
only the scalar choice remains. The board is read as the junctions read it one after
another: an outgoing lane of a junction that decided earlier in the same step has its
new queue (spill-back flag, feeding queues), of one that decides later its previous one.
Of the occupancies it uses only the upstream loops' (spill-back, when
``spillback_s`` > 0: :attr:`reads_upstream_occupancy` asks the runner to read them); no bus
counts.

Covered: the plain loops profile, ``arrow_call_s`` 0 (no partial-only calls), one board
shared by all the junctions and nobody else, the same decision interval everywhere;
:meth:`supports` says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from controllers.base import StageRequest
from controllers.batch import BatchLanes, JunctionState, Requests
from controllers.max_pressure import SPILLBACK_VEH, MaxPressureController
from scenarios.batchread import LaneArrays


class MaxPressureBatch:
    """:class:`MaxPressureController` s of several junctions, deciding together.

    ``controllers`` are fresh (never asked to decide) and share one board; their lanes are
    taken in order, junction after junction, as :meth:`decide` expects its arrays.
    """

    @staticmethod
    def supports(controllers: Sequence[object], step_s: float) -> bool:
        """Whether these controllers can decide as a batch: all max-pressure with one
        board and one decision interval, without partial-only calls."""
        mp = [c for c in controllers if type(c) is MaxPressureController]
        if not mp or len(mp) != len(controllers):
            return False
        return all(c.params.arrow_call_s == 0 and c.board is mp[0].board
                   and c.decision_interval_s == mp[0].decision_interval_s for c in mp)

    def __init__(self, controllers: Sequence[MaxPressureController]) -> None:
        if not self.supports(controllers, math.inf):
            raise ValueError("MaxPressureBatch needs max-pressure controllers with one board "
                             "and one decision interval, without arrow calls")
        self.controllers = tuple(controllers)
        self.lanes = lanes = BatchLanes([c.map for c in controllers],
                                       [c._queues._between for c in controllers])
        maps = lanes.maps
        n_lanes = lanes.bounds[-1]
        index = {lane: k for k, lane in enumerate(lane for m in maps for lane in m.lane_ids)}
        # downstream: per lane its outgoing lanes (in order) that some junction publishes
        out_lane, out_of, out_count = [], [], []
        for k, lane in enumerate(lane for c in controllers for lane in c.info.lanes):
            outs = lane.outgoing or ("",)
            out_count.append(len(outs))
            for o in outs:
                if o and o in index:
                    out_lane.append(k)
                    out_of.append(index[o])
        self._out_lane = np.array(out_lane, np.int64)
        self._out_of = np.array(out_of, np.int64)
        self._out_later = lanes.jol[self._out_of] > lanes.jol[self._out_lane]
        self._out_count = np.array(out_count, float)
        self._board = np.zeros(n_lanes)  # the previous decision's published queues
        self._board_spill = np.zeros(n_lanes, bool)  # ... and spill-back flags
        self._board_s = np.full(n_lanes, -math.inf)
        # feeds: a lane's queue heads into its detected outgoing lanes (same pairs); the
        # reader (the outgoing lane's junction) sees it new unless the feeder decides later
        self._feed_later = lanes.jol[self._out_lane] > lanes.jol[self._out_of]
        self._max_age = controllers[0].board.max_age_s
        # stage pressure: a stage's lanes weighted by their share (0 for partial-only)
        self._stage_lane, self._stage_cell = lanes.pairs(
            [[m.lanes_of_stage[s] for s in range(m.n_stages)] for m in maps])
        self._share = np.array([
            (m.share[s] if m.share else {}).get(i, 1.0)
            for m in maps for s in range(m.n_stages) for i in m.lanes_of_stage[s]], float)
        self._full_lane, self._full_cell = lanes.pairs([[m.full(s) for s in range(m.n_stages)]
                                                        for m in maps])
        self._part_lane, self._part_cell = lanes.pairs(
            [[[i for i in m.lanes_of_stage[s] if i not in m.full_sets[s]]
              for s in range(m.n_stages)] for m in maps])
        est = [c._queues for c in controllers]
        self._rate = np.zeros(n_lanes)
        self._est = np.zeros(n_lanes)
        self._last_t: float | None = None
        self._window = est[0]._window
        self._est_idle = lanes.per_lane([e._idle_reset_s for e in est])
        self._est_cap = lanes.per_lane([e._cap for e in est])
        if len({e._window for e in est}) != 1:
            raise ValueError("MaxPressureBatch needs one demand rate window")
        params = [c.params for c in controllers]
        self._gap = lanes.per_lane([p.discharge_gap_s for p in params])
        self._stuck = lanes.per_lane([2.0 * p.blocked_s for p in params])
        self._spill_s = lanes.per_lane([p.spillback_s for p in params])
        self._spill_on = self._spill_s > 0
        self._feed_on = self._spill_on & (lanes.per_lane([p.spillback_feed for p in params]) > 0)
        self._up_count_s = np.full(n_lanes, -math.inf)
        width = lanes.width
        self._requests = requests = Requests()
        #: per (junction, stage) cell its minimum green and the request while it lasts
        self._min_green = lanes.min_green_cells([c.limits.min_green for c in controllers])
        self._min_green_request = requests.min_green_by_cell(maps, width)
        #: per junction, looked up once: its first cell, stage count, the stages other
        #: than each, the stages whose pressure is fixed (no detected lane: the recall
        #: pressure; partial-only: 0.0), partial-only flags, maximum green and parameters
        self._junction = [
            (j * width, m.n_stages,
             tuple([s for s in range(m.n_stages) if s != shown] for shown in range(m.n_stages)),
             tuple((s, c.params.recall_pressure if not m.lanes_of_stage[s] else 0.0)
                   for s in range(m.n_stages)
                   if not m.lanes_of_stage[s] or m.partial_only_stages[s]),
             m.partial_only_stages, c.limits.max_for, c.params)
            for j, (m, c) in enumerate(zip(maps, controllers, strict=True))]
        #: whether the upstream loops' occupancies must be read (spill-back)
        self.reads_upstream_occupancy = bool(self._spill_on.any())
        #: the last decision's per-lane demand, downstream queue, spill-back flag and share
        #: of outgoing lanes spilling back (for tests)
        self.upstream = self.down = self.blocked = np.zeros(n_lanes)
        self.spilling = np.zeros(n_lanes, bool)

    def decide(self, now: float, states: Sequence[JunctionState], lanes: LaneArrays
               ) -> list[StageRequest]:
        """Every junction's request at ``now`` (what each controller's ``decide`` would
        return for an observation of its state and its lanes' readings)."""
        batch = self.lanes
        _, since_count, between = batch.observe(now, states, lanes)
        green = batch.full_now
        upstream = self._demand(now, between, lanes, green)
        n = len(upstream)
        # spill-back: the upstream loop occupied, no vehicle counted for spillback_s
        self._up_count_s[lanes.upstream_count > 0] = now
        spilling = (self._spill_on & (lanes.upstream_occupancy > 0)
                    & (now - self._up_count_s >= self._spill_s))
        # the board: this step's queue for junctions up to the reader, else the previous
        fresh = (now - self._board_s >= 0) & (now - self._board_s <= self._max_age)
        old = np.where(fresh, self._board, 0.0)
        seen = np.where(self._out_later, old[self._out_of], upstream[self._out_of])
        down = np.bincount(self._out_lane, weights=seen, minlength=n)
        down = down / self._out_count
        old_spill = fresh & self._board_spill
        seen_spill = np.where(self._out_later, old_spill[self._out_of],
                              spilling[self._out_of])
        spilled: np.ndarray = np.bincount(self._out_lane, weights=seen_spill, minlength=n)
        blocked: np.ndarray = np.where(self._spill_on, spilled / self._out_count, 0.0)
        # a spilling lane adds the queues heading into it (spillback_feed on both sides)
        share = np.where(self._feed_later, old[self._out_lane], upstream[self._out_lane])
        share = np.where(self._feed_on[self._out_lane],
                         share / self._out_count[self._out_lane], 0.0)
        feed = np.bincount(self._out_of, weights=share, minlength=n)
        self._board, self._board_s = upstream, np.full(n, now)
        self._board_spill = spilling
        self.upstream, self.down, self.blocked, self.spilling = upstream, down, blocked, spilling
        fed = np.where(spilling & self._feed_on, upstream + feed, upstream)
        lane_pressure = (fed - down) * (1.0 - blocked)
        cells = batch.cells
        pressure = np.bincount(self._stage_cell,
                               weights=self._share * lane_pressure[self._stage_lane],
                               minlength=cells)
        in_stage = batch.in_stage[batch.jol]
        gap = self._gap
        flowing = (lanes.gap_s < gap) & (blocked < 1.0) & ((down < SPILLBACK_VEH)
                                         | (np.minimum(in_stage, since_count) < self._stuck))
        discharging = ((np.bincount(self._full_cell, weights=flowing[self._full_lane],
                                    minlength=cells) > 0)
                       | (np.bincount(self._part_cell,
                                      weights=(since_count < gap)[self._part_lane],
                                      minlength=cells) > 0))
        # per cell as Python lists (the values the per-junction reads would give): the
        # pressures, whether discharging, the red time (StageHistory.red_s)
        pressures, flows = pressure.tolist(), discharging.tolist()
        red = (now - batch.last_shown).tolist()
        at, in_min = batch.in_min_green(self._min_green)
        quick, decide = self._min_green_request, self._decide
        return [quick[c] if m else decide(j, st, pressures, flows, red)
                for j, (st, c, m) in enumerate(zip(states, at, in_min, strict=True))]

    def _demand(self, now: float, between: np.ndarray, lanes: LaneArrays, green: np.ndarray
                ) -> np.ndarray:
        """``DemandEstimator.update`` of every lane (loops only)."""
        dt = 1.0 if self._last_t is None else max(now - self._last_t, 0.0)
        self._last_t = now
        alpha = min(1.0, dt / self._window) if dt > 0 else 0.0
        if dt > 0:
            self._rate += alpha * (lanes.upstream_count / dt - self._rate)
        presence = lanes.presence
        est = np.where(green, self._est - lanes.stopline_count, self._est + self._rate * dt)
        est = np.where(green & (lanes.gap_s >= self._est_idle) & ~presence, 0.0, est)
        floor = between + np.where(presence, 1.0, 0.0)
        self._est = np.minimum(np.maximum(est, floor), self._est_cap)
        return self._est.copy()

    def _decide(self, j: int, st: JunctionState, pressure: list[float],
                discharging: list[bool], red: list[float]) -> StageRequest:
        """:meth:`MaxPressureController.decide` after its estimators, for junction ``j``
        (per (junction, stage) cell: ``pressure`` from the lanes, whether ``discharging``,
        the ``red`` time). A junction in its minimum green never comes here: :meth:`decide`
        answers those for all at once."""
        stage = st.stage
        if stage is None:
            return self._requests.hold(st)
        base, n, others_of, fixed, partial_only, max_for, p = self._junction[j]
        others = others_of[stage]
        if not others:
            return self._requests[stage, "single stage"]
        pressures = pressure[base:base + n]
        for s, value in fixed:  # stages without detected lanes, partial-only stages
            pressures[s] = value
        red_j = red[base:base + n]
        if p.age_s > 0:
            pressures = [q * (1.0 + red_j[s] / p.age_s) if s != stage and q > 0 else q
                         for s, q in enumerate(pressures)]
        best = max(others, key=lambda s: (pressures[s], -((s - stage) % n)))
        if p.max_red_s > 0:
            starved = [s for s in others if (pressures[s] > 0 or not partial_only[s])
                       and red_j[s] >= p.max_red_s]
            if starved:
                return StageRequest(max(starved, key=red_j.__getitem__), "max red")
        t = st.time_in_stage_s
        if t >= max_for(self.lanes.previous[j], stage) and pressures[best] > 0:
            return StageRequest(best, "max green")
        if discharging[base + stage]:
            return self._requests[stage, "queue discharging"]
        if pressures[best] > pressures[stage] + p.hysteresis:
            return StageRequest(best, f"pressure {pressures[best]:.1f} > {pressures[stage]:.1f}")
        return self._requests[stage, "highest pressure"]
