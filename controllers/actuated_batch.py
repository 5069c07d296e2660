"""Actuated control of many junctions at once (see :mod:`controllers.batch`).

:class:`ActuatedBatch` makes the decisions of one :class:`ActuatedController` per
junction: head blocking, lane activity and the (lane, stage) calls are numpy operations
over all lanes; per junction only the scalar decision remains (min green, next called
stage, max-out, gap-out). It reads neither occupancies nor bus counts.

Covered: the plain loops profile and parameters without partial-only calls
(``arrow_call_s`` 0) or volume-density gaps (``min_gap_s`` 0); :meth:`supports` says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from controllers.actuated import ActuatedController
from controllers.base import StageRequest
from controllers.batch import BatchLanes, JunctionState, Requests
from scenarios.batchread import LaneArrays


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
        self.lanes = lanes = BatchLanes([c.map for c in controllers],
                                       [c._queues for c in controllers])
        maps = lanes.maps
        # (lane, stage) calls: a lane's calling stages
        self._pair_lane, self._pair_cell = lanes.pairs(
            [[[i for i in range(len(m.lane_ids)) if s in m.calling_stages_of_lane[i]]
              for s in range(m.n_stages)] for m in maps])
        self._pair_junction = lanes.jol[self._pair_lane]
        self._pair_stage = self._pair_cell - self._pair_junction * lanes.width
        self._calls = np.zeros(len(self._pair_lane), bool)
        # gap-out: a stage's fully served lanes and its partly served ones
        self._full_lane, self._full_cell = lanes.pairs([[m.full(s) for s in range(m.n_stages)]
                                                        for m in maps])
        self._part_lane, self._part_cell = lanes.pairs(
            [[[i for i in m.lanes_of_stage[s] if i not in m.full_sets[s]]
              for s in range(m.n_stages)] for m in maps])
        params = [c.params for c in controllers]
        self._gap = lanes.per_lane([p.max_gap_s for p in params])
        self._blocked_s = lanes.per_lane([p.blocked_s for p in params])
        # per (junction, stage) cell, for the stages wanted: a stage without detected lanes
        # is wanted by ``recall_undetected``; a stage with them when called or starved
        # (``max_red_s`` > 0, not a partial-only stage, red that long)
        width = lanes.width
        undetected = np.zeros(lanes.cells, bool)
        recall = np.zeros(lanes.cells, bool)
        max_red = np.full(lanes.cells, math.inf)
        for j, (m, p) in enumerate(zip(maps, params, strict=True)):
            for st in range(m.n_stages):
                cell = j * width + st
                if not m.lanes_of_stage[st]:
                    undetected[cell], recall[cell] = True, bool(p.recall_undetected)
                elif p.max_red_s > 0 and not m.partial_only_stages[st]:
                    max_red[cell] = p.max_red_s
        self._undetected, self._recall, self._max_red = undetected, recall, max_red
        self._n_stages = [m.n_stages for m in maps]
        #: per junction: its next stage in cycle, maximum green, first cell and number of
        #: stages (looked up once, not per decision)
        self._junction = [(c.map.next_in_cycle, c.limits.max_for, j * width, c.map.n_stages)
                          for j, c in enumerate(controllers)]
        self._requests = requests = Requests()
        #: per (junction, stage) cell its minimum green and the request while it lasts
        self._min_green = lanes.min_green_cells([c.limits.min_green for c in controllers])
        self._min_green_request = requests.min_green_by_cell(maps, width)
        #: the last decision's per-lane activity and head blocking (for tests)
        self.active_full = self.active_partial = self.blocked = np.zeros(lanes.bounds[-1], bool)

    def decide(self, now: float, states: Sequence[JunctionState], lanes: LaneArrays
               ) -> list[StageRequest]:
        """Every junction's request at ``now`` (what each controller's ``decide`` would
        return for an observation of its state and its lanes' readings)."""
        batch = self.lanes
        up_gaps, since_count, queues = batch.observe(now, states, lanes)
        full_now, presence = batch.full_now, lanes.presence
        # HeadBlocking (no partial-only calls: arrow_call_s is 0)
        in_stage = batch.in_stage[batch.jol]
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
        calls, pl = self._calls, self._pair_lane
        pair_full = full_now[pl]
        pair_shown = self._pair_stage == batch.shown[self._pair_junction]
        calls[pair_full | (batch.green_now[pl] & pair_shown)] = False
        detected = ((lanes.upstream_count > 0) | (lanes.stopline_count > 0) | presence
                    | (queues >= 1.0))
        calls[~pair_full & detected[pl] & ~pair_shown] = True
        cells = batch.cells
        called = np.bincount(self._pair_cell[calls], minlength=cells) > 0
        busy_full = np.bincount(self._full_cell[active_full[self._full_lane]],
                                minlength=cells) > 0
        busy_part = np.bincount(self._part_cell[active_partial[self._part_lane]],
                                minlength=cells) > 0
        # StageHistory.red_s of every cell (now - last shown), compared as the controller does
        starved = (now - batch.last_shown) >= self._max_red
        wanted = np.where(self._undetected, self._recall, called | starved).tolist()
        busy = (busy_full | busy_part).tolist()
        # a junction in its minimum green requests the stage shown (the first rule of
        # _decide after a transition's hold): found for all at once
        at, in_min = batch.in_min_green(self._min_green)
        quick, decide = self._min_green_request, self._decide
        return [quick[c] if m else decide(j, st, wanted, busy)
                for j, (st, c, m) in enumerate(zip(states, at, in_min, strict=True))]

    def call_pairs(self) -> list[set[tuple[int, int]]]:
        """Per junction its (lane, stage) calls, as :class:`ActuatedController` keeps them."""
        out: list[set[tuple[int, int]]] = [set() for _ in self.controllers]
        for k in np.flatnonzero(self._calls).tolist():
            j = int(self._pair_junction[k])
            out[j].add((int(self._pair_lane[k]) - self.lanes.bounds[j],
                        int(self._pair_stage[k])))
        return out

    def _decide(self, j: int, st: JunctionState, wanted: list[bool], busy: list[bool]
                ) -> StageRequest:
        """:meth:`ActuatedController._decide` after its update, for junction ``j``
        (``wanted``: per (junction, stage) cell whether the stage is wanted; ``busy``:
        whether a lane of the stage is active). A junction in its minimum green never
        comes here: :meth:`decide` answers those for all at once."""
        stage = st.stage
        if stage is None:
            return self._requests.hold(st)
        t = st.time_in_stage_s
        next_in_cycle, max_for, base, n = self._junction[j]
        requests = self._requests
        nxt = next_in_cycle(stage, wanted[base:base + n])
        if nxt is None:
            return requests[stage, "rest: no call"]
        if t >= max_for(self.lanes.previous[j], stage):
            return requests[nxt, "max-out"]
        if not busy[base + stage]:
            return requests[nxt, "gap-out"]
        return requests[stage, "extend"]
