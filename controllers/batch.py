"""Rule-based control of many junctions at once, on arrays over all their lanes (issue 15).

A rule-based controller decides one junction from an ``Observation`` of ``LaneReading``
objects; run on a city that is one Python loop per lane and second in each of its
estimators. A *batch* makes the same decisions for every junction of a run from one read
of all their lanes as arrays (:meth:`scenarios.session.SumoSession.read_lane_arrays`):
the estimators and the per-lane rules are numpy operations over all lanes, and only the
scalar decision remains per junction. The arithmetic is the per-junction controller's,
operation by operation and in its order (sums over lanes in the controller's iteration
order); ``tests/controllers/test_batch.py`` compares them on random readings. The
simulation runner uses a batch when one covers its controllers
(:func:`batch_for`); HIL and the environments keep the per-junction controllers.

:class:`BatchLanes` holds what every batch shares: the lanes' layout, the gap
(:class:`~controllers.estimators.GapTracker`), discharge
(:class:`~controllers.estimators.DischargeTracker`) and queue
(:class:`~controllers.estimators.QueueTracker`) estimators and the stage history
(:class:`~controllers.common.StageHistory`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import numpy as np

from controllers.base import JunctionState, StageRequest
from controllers.common import StageMap
from controllers.estimators import QueueTracker
from scenarios.batchread import LaneArrays


class BatchLanes:
    """The lanes of several junctions (junction after junction, each in its controller's
    lane order) and the estimators every rule-based controller keeps per lane.

    ``maps``: each junction's stage map; ``queues``: each junction's fresh queue tracker
    (its parameters are taken).
    """

    def __init__(self, maps: Sequence[StageMap], queues: Sequence[QueueTracker]) -> None:
        if not maps:
            raise ValueError("a batch needs at least one junction")
        sizes = [len(m.lane_ids) for m in maps]
        self.maps = tuple(maps)
        self.bounds: tuple[int, ...] = tuple(np.cumsum([0, *sizes]).tolist())
        n_lanes = self.bounds[-1]
        width = max(m.n_stages for m in maps) + 1  # the last column: no stage shown
        self.width = width
        self.cells = len(maps) * width  # one per (junction, stage)
        self._sizes = sizes
        self.jol = np.repeat(np.arange(len(maps)), sizes)  # junction of each lane
        self._lane_col = np.arange(n_lanes) * width
        full = np.zeros((n_lanes, width), bool)
        green = np.zeros((n_lanes, width), bool)
        self._siblings: list[list[tuple[int, ...]]] = []
        for m, start in zip(maps, self.bounds, strict=False):
            for s in range(m.n_stages):
                full[[start + i for i in m.full(s)], s] = True
                green[[start + i for i in m.lanes_of_stage[s]], s] = True
            edges: dict[str, list[int]] = {}
            for i, lane in enumerate(m.lane_ids):
                edges.setdefault(lane.rsplit("_", 1)[0], []).append(i)
            self._siblings.append([tuple(k for k in edges[lane.rsplit("_", 1)[0]] if k != i)
                                   for i, lane in enumerate(m.lane_ids)])
        self._full = full.ravel()
        self._green = green.ravel()
        io = [q._io for q in queues]
        self._idle_reset = self.per_lane([x._idle_reset_s for x in io])
        self._red_reset = self.per_lane([x._red_reset_s for x in io])
        self._cap = self.per_lane([x._cap for x in io])
        self._last_up = np.full(n_lanes, -math.inf)
        self._last_count = np.full(n_lanes, -math.inf)
        self.q = np.zeros(n_lanes)
        self._last_in = np.full(n_lanes, -math.inf)
        self.last_shown = np.zeros(self.cells)
        self._started = False
        self.current: list[int | None] = [None] * len(maps)
        self.previous: list[int | None] = [None] * len(maps)
        #: ``current`` as columns (width - 1: none yet), to find the junctions whose stage
        #: changed without a Python pass over all of them
        self._current_col = np.full(len(maps), width - 1, np.int64)
        self.first_cell = np.arange(len(maps)) * width  # each junction's first cell
        # this observation's stage shown (column) and time in stage per junction
        self.shown = np.zeros(len(maps), np.int64)
        self.in_stage = np.zeros(len(maps))
        self.full_now = self.green_now = np.zeros(n_lanes, bool)


    def per_lane(self, per_junction: Sequence[float]) -> np.ndarray:
        """One value per junction spread over that junction's lanes (float array)."""
        return np.repeat(np.asarray(per_junction, dtype=float), self._sizes)
    def pairs(self, per_junction: Sequence[Sequence[Sequence[int]]]
              ) -> tuple[np.ndarray, np.ndarray]:
        """Global (lane, junction-stage cell) index arrays of per junction, per stage,
        lane lists (in their order: a sum over a cell adds in this order)."""
        lanes: list[int] = []
        cells: list[int] = []
        for j, per_stage in enumerate(per_junction):
            for s, stage_lanes in enumerate(per_stage):
                for i in stage_lanes:
                    lanes.append(self.bounds[j] + i)
                    cells.append(j * self.width + s)
        return np.array(lanes, np.int64), np.array(cells, np.int64)

    def observe(self, now: float, states: Sequence[JunctionState], lanes: LaneArrays
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Update the shared estimators and the stage history from one observation of
        every junction; per lane the seconds since the upstream loop counted (0 while the
        stop line is occupied), since the stop line counted, and the queue."""
        if not self._started:  # StageHistory: red times count from the first observation
            self.last_shown[:] = now
            self._started = True
        width = self.width
        self.shown = shown = np.array(
            [width - 1 if st.stage is None else st.stage for st in states], np.int64)
        self.in_stage = np.fromiter(map(_time_in_stage, states), float, len(states))
        col = self._lane_col + shown[self.jol]
        self.full_now = self._full[col]
        self.green_now = self._green[col]
        presence = lanes.presence
        up_count = lanes.upstream_count
        stop_count = lanes.stopline_count
        self._last_up[up_count > 0] = now  # GapTracker
        up_gaps = np.where(presence, 0.0, now - self._last_up)
        self._last_count[stop_count > 0] = now  # DischargeTracker
        since_count = now - self._last_count
        queues = self._queue_update(now, up_count, stop_count, presence, lanes.gap_s,
                                    self.full_now)
        showing = shown < width - 1
        self.last_shown[(self.first_cell + shown)[showing]] = now
        changed = np.flatnonzero(showing & (shown != self._current_col))
        if len(changed):  # StageHistory: a new stage shown
            current, previous = self.current, self.previous
            for j in changed.tolist():
                previous[j], current[j] = current[j], states[j].stage
            self._current_col[changed] = shown[changed]
        return up_gaps, since_count, queues

    def _queue_update(self, now: float, entered: np.ndarray, left: np.ndarray,
                      presence: np.ndarray, idle: np.ndarray, green: np.ndarray
                      ) -> np.ndarray:
        """``QueueTracker.update`` (its ``_InOut``) of every lane, without cameras."""
        q = self.q
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
        self.q = v
        return v.copy()

    def _take_back(self, j: int) -> None:
        """A negative lane takes vehicles back from its siblings (``_InOut.update``)."""
        a, b = self.bounds[j], self.bounds[j + 1]
        q = self.q[a:b].tolist()
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
        self.q[a:b] = q

    def min_green_cells(self, limits: Sequence[tuple[float, ...]]) -> np.ndarray:
        """Per (junction, stage) cell the junctions' minimum greens (``limits``: each
        junction's per stage); -inf in the cells of no stage (never in minimum green)."""
        out = np.full(self.cells, -math.inf)
        for j, per_stage in enumerate(limits):
            out[j * self.width:j * self.width + len(per_stage)] = per_stage
        return out

    def in_min_green(self, min_green: np.ndarray) -> tuple[list[int], list[bool]]:
        """Of the last observation, per junction the cell of the stage shown and whether it
        shows it for less than its minimum green (``t < min_green[stage]``, as the
        controllers test it; False in a transition); ``min_green`` from
        :meth:`min_green_cells`."""
        cells = self.first_cell + self.shown
        return cells.tolist(), (self.in_stage < min_green[cells]).tolist()

    def red_s(self, j: int, stage: int, now: float) -> float:
        """``StageHistory.red_s`` of junction ``j``."""
        return now - float(self.last_shown[j * self.width + stage])


_time_in_stage = operator.itemgetter(2)  # JunctionState.time_in_stage_s


class Requests(dict[tuple[int, str], StageRequest]):
    """Shared :class:`StageRequest` objects of a batch by (stage, reason): a frozen
    request equals a new one with the same fields, and a batch asks for the same few
    every second (a fixed reason each, e.g. "min green"). ``requests[stage, reason]``
    makes one when first asked for."""

    def __missing__(self, key: tuple[int, str]) -> StageRequest:
        made = self[key] = StageRequest(*key)
        return made

    def hold(self, st: JunctionState) -> StageRequest:
        """The request of a controller during a transition (``common.hold``: the target
        stage), as a shared request."""
        return self[st.target_stage if st.target_stage is not None else 0, "transition"]

    def min_green_by_cell(self, maps: Sequence[StageMap], width: int) -> dict[int, StageRequest]:
        """Per (junction, stage) cell (``junction * width + stage``) the shared request to
        keep that stage while its minimum green lasts."""
        return {j * width + st: self[st, "min green"]
                for j, m in enumerate(maps) for st in range(m.n_stages)}
