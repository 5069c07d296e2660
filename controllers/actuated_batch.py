"""Actuated control of many junctions at once, on arrays over all their lanes (issue 15).

:class:`ActuatedController` decides one junction from an ``Observation`` of
``LaneReading`` objects; run on a city that is one Python loop per lane and second in
each of its estimators. :class:`ActuatedBatch` makes the same decisions for every
junction of a run from one read of all their lanes as arrays
(:meth:`scenarios.session.SumoSession.read_lane_arrays`): the gap, discharge and queue
estimators, head blocking, activity and the (lane, stage) calls are numpy operations over
all lanes; per junction only the scalar decision remains (min green, next called stage,
max-out, gap-out). The arithmetic is the per-junction controller's, operation by
operation (``tests/controllers/test_actuated_batch.py`` compares the two on random
readings; the simulation runner uses the batch, HIL and the environments the
per-junction controller).

Covered: the plain loops profile and parameters without partial-only calls
(``arrow_call_s`` 0) or volume-density gaps (``min_gap_s`` 0); :meth:`supports` says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from controllers.actuated import ActuatedController
from controllers.base import StageRequest
from scenarios.batchread import LaneArrays


class JunctionState(NamedTuple):
    """What a decision needs of a junction's sequencer (an ``Observation`` without lanes)."""

    stage: int | None
    target_stage: int | None
    time_in_stage_s: float


class ActuatedBatch:
    """:class:`ActuatedController` s of several junctions, deciding together.

    ``controllers`` are fresh (never asked to decide); their lanes are taken in order,
    junction after junction, as :meth:`decide` expects its arrays.
    """

    @staticmethod
    def supports(controllers: Sequence[object], step_s: float) -> bool:
        """Whether these controllers can decide as a batch: all actuated, deciding every
        step, without partial-only calls or volume-density gaps."""
        return bool(controllers) and all(
            type(c) is ActuatedController and c.params.arrow_call_s == 0
            and not 0 < c.params.min_gap_s < c.params.max_gap_s
            and c.decision_interval_s <= step_s for c in controllers)

    def __init__(self, controllers: Sequence[ActuatedController]) -> None:
        if not self.supports(controllers, math.inf):
            raise ValueError("ActuatedBatch needs actuated controllers without arrow calls "
                             "or volume-density gaps")
        self.controllers = tuple(controllers)
        maps = [c.map for c in controllers]
        sizes = [len(m.lane_ids) for m in maps]
        self.bounds = tuple(np.cumsum([0, *sizes]).tolist())
        n_lanes = self.bounds[-1]
        width = max(m.n_stages for m in maps) + 1  # the last column: no stage shown
        self._width = width
        self._jol = np.repeat(np.arange(len(maps)), sizes)  # junction of each lane
        # per (lane, column): the lane is fully served / served by that junction's stage
        full = np.zeros((n_lanes, width), bool)
        green = np.zeros((n_lanes, width), bool)
        pair_lane: list[int] = []
        pair_stage: list[int] = []
        pair_js: list[int] = []
        full_lane: list[int] = []
        full_js: list[int] = []
        part_lane: list[int] = []
        part_js: list[int] = []
        self._siblings: list[list[tuple[int, ...]]] = []
        for j, (m, start) in enumerate(zip(maps, self.bounds, strict=False)):
            for s in range(m.n_stages):
                for i in m.full(s):
                    full[start + i, s] = True
                    full_lane.append(start + i)
                    full_js.append(j * width + s)
                for i in m.lanes_of_stage[s]:
                    green[start + i, s] = True
                    if i not in m.full_sets[s]:
                        part_lane.append(start + i)
                        part_js.append(j * width + s)
            for i, calling in enumerate(m.calling_stages_of_lane):
                for s in calling:
                    pair_lane.append(start + i)
                    pair_stage.append(s)
                    pair_js.append(j * width + s)
            edges: dict[str, list[int]] = {}
            for i, lane in enumerate(m.lane_ids):
                edges.setdefault(lane.rsplit("_", 1)[0], []).append(i)
            self._siblings.append([tuple(k for k in edges[lane.rsplit("_", 1)[0]] if k != i)
                                   for i, lane in enumerate(m.lane_ids)])
        self._full = full.ravel()
        self._green = green.ravel()
        self._pair_lane = np.array(pair_lane, np.int64)
        self._pair_stage = np.array(pair_stage, np.int64)
        self._pair_js = np.array(pair_js, np.int64)
        self._pair_junction = self._jol[self._pair_lane]
        self._full_lane = np.array(full_lane, np.int64)
        self._full_js = np.array(full_js, np.int64)
        self._part_lane = np.array(part_lane, np.int64)
        self._part_js = np.array(part_js, np.int64)
        self._lane_range = np.arange(n_lanes) * width
        self._calls = np.zeros(len(pair_lane), bool)
        #: the last decision's per-lane activity and head blocking (for tests)
        self.active_full = self.active_partial = self.blocked = np.zeros(n_lanes, bool)
        self._cells = len(maps) * width
        params = [c.params for c in controllers]
        self._gap = np.repeat([p.max_gap_s for p in params], sizes).astype(float)
        self._blocked_s = np.repeat([p.blocked_s for p in params], sizes).astype(float)
        io = [c._queues._io for c in controllers]
        self._idle_reset = np.repeat([x._idle_reset_s for x in io], sizes).astype(float)
        self._red_reset = np.repeat([x._red_reset_s for x in io], sizes).astype(float)
        self._cap = np.repeat([x._cap for x in io], sizes).astype(float)
        # estimator state: upstream / stop-line count times, queue, last entry
        self._last_up = np.full(n_lanes, -math.inf)
        self._last_count = np.full(n_lanes, -math.inf)
        self._q = np.zeros(n_lanes)
        self._last_in = np.full(n_lanes, -math.inf)
        # stage history: per (junction, stage) when last shown; per junction its stages
        self._last_shown = np.zeros(self._cells)
        self._started = False
        self._current: list[int | None] = [None] * len(maps)
        self._previous: list[int | None] = [None] * len(maps)

    def decide(self, now: float, states: Sequence[JunctionState], lanes: LaneArrays
               ) -> list[StageRequest]:
        """Every junction's request at ``now`` (what each controller's ``decide`` would
        return for an observation of its state and its lanes' readings)."""
        if not self._started:  # StageHistory: red times count from the first observation
            self._last_shown[:] = now
            self._started = True
        width = self._width
        shown = np.array([width - 1 if st.stage is None else st.stage for st in states],
                         np.int64)
        col = self._lane_range + shown[self._jol]
        full_now = self._full[col]
        green_now = self._green[col]
        presence = lanes.presence
        up_count = lanes.upstream_count
        stop_count = lanes.stopline_count
        # GapTracker, DischargeTracker
        self._last_up[up_count > 0] = now
        up_gaps = np.where(presence, 0.0, now - self._last_up)
        self._last_count[stop_count > 0] = now
        since_count = now - self._last_count
        queues = self._queue_update(now, up_count, stop_count, presence, lanes.gap_s, full_now)
        # HeadBlocking (no partial-only calls: arrow_call_s is 0)
        in_stage = np.array([st.time_in_stage_s for st in states])[self._jol]
        standing = np.where(presence & full_now, np.minimum(in_stage, since_count), 0.0)
        blocked = standing >= self._blocked_s
        gap = self._gap
        active_full = ((presence & ~blocked) | (up_gaps < gap)
                       | ((queues >= 1.0) & (lanes.gap_s < gap) & ~blocked))
        active_partial = since_count < gap
        self.active_full, self.active_partial, self.blocked = (active_full, active_partial,
                                                               blocked)
        # calls per (lane, stage): cleared on fully green lanes and for the stage shown on
        # green lanes; set by a detection for the other stages
        calls = self._calls
        pl, pjs = self._pair_lane, self._pair_js
        pair_full = full_now[pl]
        pair_shown = self._pair_stage == shown[self._pair_junction]
        calls[pair_full | (green_now[pl] & pair_shown)] = False
        detected = (up_count > 0) | (stop_count > 0) | presence | (queues >= 1.0)
        calls[~pair_full & detected[pl] & ~pair_shown] = True
        called = np.bincount(pjs[calls], minlength=self._cells) > 0
        busy_full = np.bincount(self._full_js[active_full[self._full_lane]],
                                minlength=self._cells) > 0
        busy_part = np.bincount(self._part_js[active_partial[self._part_lane]],
                                minlength=self._cells) > 0
        # StageHistory
        last_shown = self._last_shown
        showing = shown < width - 1
        last_shown[(np.arange(len(states)) * width + shown)[showing]] = now
        return [self._decide(j, st, now, called, busy_full, busy_part)
                for j, st in enumerate(states)]

    def call_pairs(self) -> list[set[tuple[int, int]]]:
        """Per junction its (lane, stage) calls, as :class:`ActuatedController` keeps them."""
        out: list[set[tuple[int, int]]] = [set() for _ in self.controllers]
        for k in np.flatnonzero(self._calls).tolist():
            lane, j = int(self._pair_lane[k]), int(self._pair_junction[k])
            out[j].add((lane - self.bounds[j], int(self._pair_stage[k])))
        return out

    def _decide(self, j: int, st: JunctionState, now: float, called: np.ndarray,
                busy_full: np.ndarray, busy_part: np.ndarray) -> StageRequest:
        """:meth:`ActuatedController._decide` after its update, for junction ``j``."""
        stage = st.stage
        if stage is not None and stage != self._current[j]:
            self._previous[j], self._current[j] = self._current[j], stage
        if stage is None:
            hold = st.target_stage if st.target_stage is not None else 0
            return StageRequest(hold, "transition")
        c = self.controllers[j]
        t = st.time_in_stage_s
        if t < c.limits.min_green[stage]:
            return StageRequest(stage, "min green")
        m, p = c.map, c.params
        base = j * self._width
        wanted = []
        for s in range(m.n_stages):
            if not m.lanes_of_stage[s]:
                wanted.append(p.recall_undetected)
                continue
            starved = (p.max_red_s > 0 and not m.partial_only_stages[s]
                       and now - self._last_shown[base + s] >= p.max_red_s)
            wanted.append(bool(called[base + s]) or starved)
        nxt = m.next_in_cycle(stage, wanted)
        if nxt is None:
            return StageRequest(stage, "rest: no call")
        if t >= c.limits.max_for(self._previous[j], stage):
            return StageRequest(nxt, "max-out")
        if not busy_full[base + stage] and not busy_part[base + stage]:
            return StageRequest(nxt, "gap-out")
        return StageRequest(stage, "extend")

    def _queue_update(self, now: float, entered: np.ndarray, left: np.ndarray,
                      presence: np.ndarray, idle: np.ndarray, green: np.ndarray
                      ) -> np.ndarray:
        """``QueueTracker.update`` (its ``_InOut``) of every lane."""
        q = self._q
        q += entered - left
        self._last_in[entered > 0] = now
        negative = np.flatnonzero(q < 0)
        if len(negative):  # lane changes between the loops, junction by junction
            for j in np.unique(np.searchsorted(self.bounds, negative, side="right") - 1):
                self._take_back(int(j))
        quiet = now - self._last_in
        zero = ~presence & np.where(green, (idle >= self._idle_reset)
                                    & (quiet >= self._idle_reset), quiet >= self._red_reset)
        v = np.where(zero, 0.0, q)
        v = np.where(v < 0.0, 0.0, v)
        v = np.where(self._cap < v, self._cap, v)
        self._q = v
        return v.copy()

    def _take_back(self, j: int) -> None:
        """A negative lane takes vehicles back from its siblings (``_InOut.update``)."""
        a, b = self.bounds[j], self.bounds[j + 1]
        q = self._q[a:b].tolist()
        siblings = self._siblings[j]
        for i in range(len(q)):
            if q[i] >= 0:
                continue
            for k in sorted(siblings[i], key=lambda x: -q[x]):
                if q[i] >= 0:
                    break
                take = min(-q[i], max(q[k], 0.0))
                q[i] += take
                q[k] -= take
        self._q[a:b] = q
