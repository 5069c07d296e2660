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
from controllers.batch import BatchLanes, JunctionState, Requests
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
        # per (junction, stage) cell: a stage of the junction, one without detected lanes
        # (always on recall), a partial-only one (waits for nothing: no arrow calls), the
        # red after which it is starved (``max_red_s`` > 0, else never), the interval
        width, cells = lanes.width, lanes.cells
        self._stage_cell = np.zeros(cells, bool)
        self._undetected = np.zeros(cells, bool)
        self._partial = np.zeros(cells, bool)
        self._max_red = np.full(cells, math.inf)
        for j, (m, c) in enumerate(zip(maps, controllers, strict=True)):
            for st in range(m.n_stages):
                cell = j * width + st
                self._stage_cell[cell] = True
                self._undetected[cell] = not m.lanes_of_stage[st]
                self._partial[cell] = m.partial_only_stages[st]
                if c.params.max_red_s > 0:
                    self._max_red[cell] = c.params.max_red_s
        self._interval = np.array([c.decision_interval_s for c in controllers], float)
        self._interval_cell = np.repeat(self._interval, width)
        self._column = np.tile(np.arange(width), len(controllers))
        # the controllers' counters: kappa per junction, the waiting time per cell, and
        # the stage they count for (width - 1: none yet)
        self._kappa_j = np.zeros(len(controllers))
        self._waiting_cell = np.zeros(cells)
        self._kappa_stage = np.full(len(controllers), width - 1, np.int64)
        self._n_stages = [m.n_stages for m in maps]
        #: per junction: its minimum greens, next stage in cycle, maximum green, first
        #: cell, number of stages, theta and mu (looked up once, not per decision)
        self._junction = [(c.limits.min_green, c.map.next_in_cycle, c.limits.max_for,
                           j * width, c.map.n_stages, c.params.theta, c.params.mu)
                          for j, c in enumerate(controllers)]
        self._requests = requests = Requests()
        #: per (junction, stage) cell its minimum green and the request while it lasts
        self._min_green = lanes.min_green_cells([c.limits.min_green for c in controllers])
        self._min_green_request = requests.min_green_by_cell(maps, width)

    @property
    def kappa(self) -> list[float]:
        """Each junction's kappa (:class:`SotlController`'s ``_kappa``)."""
        return self._kappa_j.tolist()

    @property
    def waiting(self) -> list[list[float]]:
        """Each junction's waiting time per stage (:class:`SotlController`'s ``_waiting``)."""
        width = self.lanes.width
        rows = self._waiting_cell.tolist()
        return [rows[j * width:j * width + n] for j, n in enumerate(self._n_stages)]

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
        red = self._count(now, batch.shown, on_red, wait)
        waits = (self._waiting_cell > 0).tolist()
        kappa = self._kappa_j.tolist()
        decide, approaching_, flowing_ = self._decide, approaching.tolist(), flowing.tolist()
        # a junction in its minimum green with demand on red requests the stage shown (the
        # first rule of _decide after a transition's hold): found for all at once
        at, in_min = batch.in_min_green(self._min_green)
        quick = self._min_green_request
        return [quick[c] if m and r > 0
                else decide(j, st, r, kappa[j], waits, approaching_, flowing_)
                for j, (st, c, m, r) in enumerate(zip(states, at, in_min, red, strict=True))]

    def _count(self, now: float, shown: np.ndarray, on_red: np.ndarray, wait: np.ndarray
               ) -> list[float]:
        """The controllers' counting for every junction showing a stage (restart on a new
        stage; waiting time and recalls of the other stages; kappa), cell by cell the
        controller's arithmetic with the recalls added to the demand on red in stage
        order; per junction the demand on red with its recalls."""
        width = self.lanes.width
        showing = shown < width - 1
        restart = showing & (shown != self._kappa_stage)
        if restart.any():
            self._kappa_stage[restart] = shown[restart]
            self._kappa_j[restart] = 0.0
            self._waiting_cell[np.repeat(restart, width)] = 0.0
        w = np.where(self._partial, 0.0, wait)
        starved = (now - self.lanes.last_shown) >= self._max_red
        recall = np.where(self._undetected | (starved & (w <= 0) & ~self._partial), 1.0, 0.0)
        counted = (self._stage_cell & np.repeat(showing, width)
                   & (self._column != np.repeat(shown, width)))
        self._waiting_cell[counted] += ((w + recall) * self._interval_cell)[counted]
        added = np.where(counted, recall, 0.0).reshape(-1, width)
        total = on_red.astype(float)  # a copy
        for col in range(width - 1):  # stage order; a stage not counted adds 0.0
            total += added[:, col]
        self._kappa_j[showing] += (total * self._interval)[showing]
        return total.tolist()

    def _decide(self, j: int, st: JunctionState, on_red: float, kappa: float,
                waits: list[bool], approaching: list[float], flowing: list[float]
                ) -> StageRequest:
        """:meth:`SotlController._decide` after its estimators and counting, for junction
        ``j`` (``waits``: per cell whether its waiting time is positive)."""
        stage = st.stage
        if stage is None:
            return self._requests.hold(st)
        min_green, next_in_cycle, max_for, base, n, theta, mu = self._junction[j]
        requests = self._requests
        t = st.time_in_stage_s
        if t < min_green[stage] or on_red <= 0:
            return requests[stage, "min green" if on_red > 0 else "no demand on red"]
        target = next_in_cycle(stage, waits[base:base + n])
        if target is None:
            return requests[stage, "no stage waits"]
        if t >= max_for(self.lanes.previous[j], stage):
            return requests[target, "max green"]
        ahead = approaching[base + stage] + flowing[base + stage]
        if ahead <= 0:
            return requests[target, "green empty"]
        if kappa >= theta:
            if 0 < ahead <= mu:
                return requests[stage, "platoon protection"]
            return requests[target, "threshold"]
        return requests[stage, "counting"]
