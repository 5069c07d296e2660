"""SOTL control of many junctions at once (see :mod:`controllers.batch`).

:class:`SotlBatch` makes the decisions of one :class:`SotlController` per junction: the
demand per lane and its sums per stage (waiting on red, approaching the green) are numpy
operations over all lanes, added in the controller's order; per junction only the
counters and the scalar rules remain. It reads neither occupancies nor bus counts.

Covered: the plain loops profile and ``arrow_call_s`` 0 (no partial-only calls);
:meth:`supports` says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from controllers.base import StageRequest
from controllers.batch import BatchLanes, JunctionState, hold
from controllers.sotl import SotlController
from scenarios.batchread import LaneArrays


class SotlBatch:
    """:class:`SotlController` s of several junctions, deciding together.

    ``controllers`` are fresh (never asked to decide); their lanes are taken in order,
    junction after junction, as :meth:`decide` expects its arrays.
    """

    @staticmethod
    def supports(controllers: Sequence[object], step_s: float) -> bool:
        """Whether these controllers can decide as a batch: all SOTL, deciding every step,
        without partial-only calls."""
        return bool(controllers) and all(
            type(c) is SotlController and c.params.arrow_call_s == 0
            and c.decision_interval_s <= step_s for c in controllers)

    def __init__(self, controllers: Sequence[SotlController]) -> None:
        if not self.supports(controllers, math.inf):
            raise ValueError("SotlBatch needs SOTL controllers without arrow calls")
        self.controllers = tuple(controllers)
        self.lanes = lanes = BatchLanes([c.map for c in controllers],
                                       [c._queues for c in controllers])
        maps = lanes.maps
        # per (junction, stage): the lanes whose demand it waits for, in the controller's
        # order (called_by), and the lanes it serves fully (full set's iteration order)
        self._wait_lane, self._wait_cell = lanes.pairs(
            [[m.called_by(s) for s in range(m.n_stages)] for m in maps])
        self._full_lane, self._full_cell = lanes.pairs(
            [[list(m.full_sets[s]) for s in range(m.n_stages)] for m in maps])
        self._part_lane, self._part_cell = lanes.pairs(
            [[[i for i in m.lanes_of_stage[s] if i not in m.full_sets[s]]
              for s in range(m.n_stages)] for m in maps])
        self._approach_gap = lanes.per_lane([c.params.approach_gap_s for c in controllers])
        self._kappa = [0.0] * len(controllers)
        self._kappa_stage: list[int | None] = [None] * len(controllers)
        self._waiting = [[0.0] * m.n_stages for m in maps]

    def decide(self, now: float, states: Sequence[JunctionState], lanes: LaneArrays
               ) -> list[StageRequest]:
        """Every junction's request at ``now`` (what each controller's ``decide`` would
        return for an observation of its state and its lanes' readings)."""
        batch = self.lanes
        up_gaps, since_count, queues = batch.observe(now, states, lanes)
        green = batch.full_now
        demand = queues + np.where(lanes.presence, 1.0, 0.0)
        cells = batch.cells
        # sums over lanes (lanes not counted add 0.0, which changes no sum)
        red_demand = np.where(green, 0.0, demand)
        on_red = np.bincount(batch.jol, weights=red_demand, minlength=len(states))
        wait = np.bincount(self._wait_cell, weights=red_demand[self._wait_lane],
                           minlength=cells)
        gap = self._approach_gap
        ahead = np.maximum(demand, np.where(up_gaps < gap, 1.0, 0.0))
        approaching = np.bincount(self._full_cell, weights=ahead[self._full_lane],
                                  minlength=cells)
        flowing = np.bincount(self._part_cell, weights=np.where(
            since_count[self._part_lane] < gap[self._part_lane], 1.0, 0.0), minlength=cells)
        return [self._decide(j, st, now, float(on_red[j]), wait, approaching, flowing)
                for j, st in enumerate(states)]

    def _decide(self, j: int, st: JunctionState, now: float, on_red: float,
                wait: np.ndarray, approaching: np.ndarray, flowing: np.ndarray
                ) -> StageRequest:
        """:meth:`SotlController._decide` after its estimators, for junction ``j``."""
        stage = st.stage
        if stage is None:
            return hold(st)
        c = self.controllers[j]
        m, p = c.map, c.params
        if stage != self._kappa_stage[j]:
            self._kappa_stage[j] = stage
            self._kappa[j] = 0.0
            self._waiting[j] = [0.0] * m.n_stages
        waiting = self._waiting[j]
        base = j * self.lanes.width
        interval = c.decision_interval_s
        for s in range(m.n_stages):
            if s == stage:
                continue
            lanes = m.lanes_of_stage[s]
            partial = m.partial_only_stages[s]
            w = 0.0 if partial else float(wait[base + s])
            starved = p.max_red_s > 0 and self.lanes.red_s(j, s, now) >= p.max_red_s
            recall = 1.0 if (not lanes or (starved and w <= 0 and not partial)) else 0.0
            waiting[s] += (w + recall) * interval
            on_red += recall
        self._kappa[j] += on_red * interval
        t = st.time_in_stage_s
        if t < c.limits.min_green[stage] or on_red <= 0:
            return StageRequest(stage, "min green" if on_red > 0 else "no demand on red")
        target = m.next_in_cycle(stage, [w > 0 for w in waiting])
        if target is None:
            return StageRequest(stage, "no stage waits")
        if t >= c.limits.max_for(self.lanes.previous[j], stage):
            return StageRequest(target, "max green")
        ahead = float(approaching[base + stage]) + float(flowing[base + stage])
        if ahead <= 0:
            return StageRequest(target, "green empty")
        if self._kappa[j] >= p.theta:
            if 0 < ahead <= p.mu:
                return StageRequest(stage, "platoon protection")
            return StageRequest(target, "threshold")
        return StageRequest(stage, "counting")
