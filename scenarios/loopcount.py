"""Induction-loop readings for a session: running counts, occupancy, gaps, buses.

SUMO's interval vehicle number of a loop counts the vehicles that entered it since the
interval began, less those that left it early (lane change, teleport, arrival) or vanished
from it. Asking for it costs time proportional to every vehicle of the interval, so ampel
writes its loops with a short period (:data:`scenarios.detectors.LOOP_PERIOD_S`) and
:class:`LoopBank` chains the intervals into one running count per loop, exactly equal to
what a whole-run interval would give:

- at the last step of each interval it notes the running count, which becomes the loop's
  base once SUMO has started the next interval;
- a vehicle still on the loop at that moment (entered in the old interval) is watched step
  by step until it has left, because an early leave takes it off the running count while
  the new interval never counted it.

A controller's read asks libsumo once per value, and only when it decides
(:meth:`LoopBank.values`). With ``subscribe=True`` the values come instead from one
subscription per loop, fetched with one libsumo call per step in which somebody reads;
measured slower with libsumo (1.3x the CPU time of direct reads for actuated control of a
100-junction grid), because SUMO evaluates every subscription in every step, read or not.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# induction-loop variables (``traci.constants``)
_VEHICLE_NUMBER = 0x10  # LAST_STEP_VEHICLE_NUMBER
_OCCUPANCY = 0x13  # LAST_STEP_OCCUPANCY (%)
_TIME_SINCE_DETECTION = 0x16  # LAST_STEP_TIME_SINCE_DETECTION
_INTERVAL_NUMBER = 0x25  # VAR_INTERVAL_NUMBER
#: what every tracked loop reports; ``full`` loops also report presence and gap
COUNT_VARS = (_INTERVAL_NUMBER, _OCCUPANCY)
FULL_VARS = (_INTERVAL_NUMBER, _VEHICLE_NUMBER, _OCCUPANCY, _TIME_SINCE_DETECTION)

#: one loop after the last step: (running count since tracking began, buses among them
#: (loops tracked with ``buses``), occupancy 0..1, presence, seconds since the last
#: vehicle); presence and gap are False and 0.0 unless the loop is tracked ``full``
LoopValue = tuple[int, int, float, bool, float]
#: one lane's stop-line and upstream loop (:meth:`LoopBank.lane_values`)
LanePairValue = tuple[int, float, bool, float, int, int, float]
#: positions in per-loop (or per-lane) arrays: an index array, or a slice when contiguous
Positions = np.ndarray | slice


def positions(index: np.ndarray) -> Positions:
    """``index`` as a slice when it is a contiguous ascending run (numpy then reads views
    and writes in place, without fancy indexing: the same values), else unchanged."""
    n = len(index)
    if n and int(index[-1]) - int(index[0]) == n - 1 and bool((np.diff(index) == 1).all()):
        return slice(int(index[0]), int(index[0]) + n)
    return index


def direct_call(domain: Any, name: str, prefix: str = "inductionloop") -> Callable[..., Any]:
    """``domain.name``, or for libsumo's ``prefix`` domain (induction loops, lanes) the C
    function behind that static method (libsumo's Python method only passes its argument
    on: the same call without one Python frame, a quarter of the cost of the cheapest
    query)."""
    method = getattr(domain, name)
    if (getattr(method, "__module__", None) != "libsumo.libsumo"
            or getattr(method, "__qualname__", None) != f"{prefix}.{name}"):
        return method  # TraCI, or a wrapped method
    raw = getattr(sys.modules.get("libsumo._libsumo"), f"{prefix}_{name}", None)
    return raw if callable(raw) else method


@dataclass
class LoopState:
    """The running-count state of one tracked loop."""

    base: int = 0  # running count at the start of the current interval
    gone: int = 0  # carried-over vehicles taken off the count in the current interval
    carried: dict[str, float] = field(default_factory=dict)  # id -> entry time, still on
    buses: int = 0
    count_buses: bool = False
    bus_ids_seen: set[str] = field(default_factory=set)
    last_interval: int = 0  # interval number when its bus ids were last looked at
    full: bool = False
    next_base: int | None = None  # base of the next interval (set in an interval's last step)
    next_carried: dict[str, float] = field(default_factory=dict)
    # the fused read's last look (lane_values): time, seconds since the last vehicle then
    # (-1: unknown, e.g. a new interval began since) and the interval number then
    seen_s: float = 0.0
    seen_since: float = -1.0
    seen_number: int = 0
    index: int = -1  # position in the bank's arrays (:class:`LoopArrays`)


class LoopArrays:
    """Per tracked loop, in tracking order, the numbers a batched read needs as numpy
    arrays: ``base - gone``, buses, the interval number of the last bus look, whether it
    counts buses; and the batched read's own last look (time, seconds since the last
    vehicle, interval number; see :meth:`LoopBank.lane_values` for their use).

    :class:`LoopState` stays the record: the bank writes each array entry where it
    changes the loop's field (tracking, interval start, a carried vehicle gone, a bus look).
    """

    def __init__(self) -> None:
        self.offset = np.zeros(0, np.int64)
        self.buses = np.zeros(0, np.int64)
        self.last_interval = np.zeros(0, np.int64)
        self.count_buses = np.zeros(0, bool)
        self.seen_s = np.zeros(0)
        self.seen_since = np.zeros(0)
        self.seen_number = np.zeros(0, np.int64)

    def grow(self, loops: list[LoopState]) -> None:
        """Append newly tracked loops (their ``index`` is set to their position)."""
        start = len(self.offset)
        for k, loop in enumerate(loops):
            loop.index = start + k
        n = len(loops)
        self.offset = np.concatenate([self.offset, [lp.base - lp.gone for lp in loops]]
                                     ).astype(np.int64)
        self.buses = np.concatenate([self.buses, [lp.buses for lp in loops]]).astype(np.int64)
        self.last_interval = np.concatenate([self.last_interval,
                                             [lp.last_interval for lp in loops]]).astype(np.int64)
        self.count_buses = np.concatenate([self.count_buses,
                                           [lp.count_buses for lp in loops]]).astype(bool)
        self.seen_s = np.concatenate([self.seen_s, np.zeros(n)])
        self.seen_since = np.concatenate([self.seen_since, np.full(n, -1.0)])
        self.seen_number = np.concatenate([self.seen_number, np.zeros(n, np.int64)])


class LoopBank:
    """The tracked induction loops of one running simulation (see module docstring).

    ``sim`` is the libsumo module or a TraCI connection; ``begin_s``, ``period_s`` and
    ``step_s`` locate the loops' interval ends (SUMO resets a loop's interval in the step
    that ends at ``begin + k * period``).
    """

    def __init__(self, sim: Any, begin_s: float, period_s: float, step_s: float,
                 subscribe: bool = False) -> None:
        self._subscribe = subscribe
        self._sim = sim
        self._domain = sim.inductionloop
        self._begin = begin_s
        self._period = period_s
        self._step = step_s
        self._steps_per_period = round(period_s / step_s)
        self._loops: dict[str, LoopState] = {}
        self._watch: list[str] = []  # loops with carried-over vehicles
        self._closing = False  # the last step ended an interval
        self._results: dict[str, dict[int, Any]] = {}
        self._results_time: float | None = None
        self._bus_class: dict[str, bool] = {}
        #: whether any loop is tracked with ``buses`` (else no bus looks at all)
        self._bus_loops = False
        self.arrays = LoopArrays()
        #: interval number, occupancy, vehicles on the loop, seconds since detection
        self._direct = tuple(direct_call(self._domain, name) for name in (
            "getIntervalVehicleNumber", "getLastStepOccupancy", "getLastStepVehicleNumber",
            "getTimeSinceDetection"))
        #: a loop's vehicle data (carried-over vehicles) and interval ids (bus looks)
        self._vehicle_data = direct_call(self._domain, "getVehicleData")
        self._interval_ids = direct_call(self._domain, "getIntervalVehicleIDs")
        errors = getattr(sim, "TraCIException", None)
        self._errors: type[Exception] = errors if isinstance(errors, type) else Exception

    def __len__(self) -> int:
        return len(self._loops)

    def track(self, loop_ids: tuple[str, ...], now_s: float, buses: bool = False,
              full: bool = True) -> None:
        """Start tracking loops at ``now_s`` (their running counts begin with their current
        interval); ``buses`` also counts the buses that pass them; ``full`` also reports
        presence and gap."""
        closing = self._is_last_step(now_s)
        new: list[LoopState] = []
        for loop_id in loop_ids:
            loop = self._loops.get(loop_id)
            if loop is not None and full and not loop.full:
                loop.full = True
                if self._subscribe:  # adds the variables to the subscription
                    self._domain.subscribe(loop_id, FULL_VARS)
                    self._results_time = None
            if loop is None:
                if self._subscribe:
                    self._domain.subscribe(loop_id, FULL_VARS if full else COUNT_VARS)
                loop = self._loops[loop_id] = LoopState(full=full)
                self._results_time = None
                if closing:  # tracked in the last step of an interval
                    self._closing = True
                    loop.next_base = self._domain.getIntervalVehicleNumber(loop_id)
                    loop.next_carried = {vid: entry for vid, _len, entry, leave, _type
                                         in self._domain.getVehicleData(loop_id) if leave < 0}
            loop.count_buses = loop.count_buses or buses
            self._bus_loops = self._bus_loops or buses
            if loop.index >= 0:
                self.arrays.count_buses[loop.index] = loop.count_buses
            elif loop.index == -1:  # new: appended to the arrays below
                loop.index = -2
                new.append(loop)
        if new:
            self.arrays.grow(new)

    def after_step(self, now_s: float) -> None:
        """Account for the step that ended at ``now_s`` (call after every step; nothing
        to do while no loop is tracked)."""
        if self._closing:
            self._start_interval()
        if self._watch:
            self._follow_carried(now_s)
        if self._loops and self._is_last_step(now_s):
            self._close_interval(now_s)

    def _is_last_step(self, now_s: float) -> bool:
        """True if SUMO ends the loops' interval with the next step."""
        per = self._steps_per_period
        return round((now_s - self._begin) / self._step) % per == per - 1

    def values(self, loop_ids: tuple[str, ...], now_s: float) -> list[LoopValue]:
        """The loops' readings after the last step (tracked loops only)."""
        if self._subscribe:
            return self._subscribed_values(loop_ids, now_s)
        loops = self._loops
        d = self._domain
        interval, occupancy = d.getIntervalVehicleNumber, d.getLastStepOccupancy
        on_loop, since = d.getLastStepVehicleNumber, d.getTimeSinceDetection
        out: list[LoopValue] = []
        for loop_id in loop_ids:
            loop = loops[loop_id]
            number = interval(loop_id)
            if loop.count_buses and number != loop.last_interval:
                self._count_buses(loop_id, loop, number)
            if loop.full:
                out.append((loop.base + number - loop.gone, loop.buses,
                            occupancy(loop_id) / 100.0, on_loop(loop_id) > 0,
                            float(since(loop_id))))
            else:
                out.append((loop.base + number - loop.gone, loop.buses,
                            occupancy(loop_id) / 100.0, False, 0.0))
        return out

    def loops(self, loop_ids: tuple[str, ...]) -> tuple[LoopState, ...]:
        """Handles of tracked loops for :meth:`lane_values` (valid while this bank lives)."""
        return tuple(self._loops[loop_id] for loop_id in loop_ids)

    def lane_values(self, stop_ids: tuple[str, ...], stops: tuple[LoopState, ...],
                    up_ids: tuple[str, ...], ups: tuple[LoopState, ...], now_s: float
                    ) -> list[LanePairValue]:
        """:meth:`values` of each lane's stop-line and upstream loop in one pass (direct
        reads; ``stops``/``ups`` from :meth:`loops`): per lane (stop-line running count,
        occupancy 0..1, presence, seconds since the last vehicle, upstream running count,
        buses, upstream occupancy 0..1).

        Quiet loops are asked only for the seconds since their last vehicle, the cheapest
        libsumo query (the interval number walks the interval's vehicles):

        - a loop whose last vehicle left two steps ago or earlier was touched by nobody
          in the last step: its presence is False and its occupancy 0 (SUMO's last-step
          values cover the vehicles on the loop or leaving it in the last step);
        - its interval number is unchanged since the previous read if the loop was quiet
          then too, no vehicle has left it since (the seconds since the last vehicle grew
          by exactly the time between the reads) and no new interval began: a vehicle
          entering after the previous read would be on the loop now or have left it.
        """
        interval, occupancy, on_loop, since = self._direct
        count_buses = self._count_buses
        quiet_s = 2.0 * self._step
        out: list[LanePairValue] = []
        append = out.append
        # the cheapest query first, for every loop at once (no Python frame per call)
        stop_gaps = list(map(since, stop_ids))
        up_gaps = list(map(since, up_ids))
        for stop_id, s, up_id, u, gap_s, up_gap in zip(stop_ids, stops, up_ids, ups, stop_gaps,
                                                      up_gaps, strict=True):
            if gap_s >= quiet_s:
                stop_occupancy, presence = 0.0, False
                if (s.seen_since >= quiet_s
                        and abs(gap_s - s.seen_since - (now_s - s.seen_s)) < 1e-6):
                    n = s.seen_number
                else:
                    n = interval(stop_id)
            else:
                stop_occupancy, presence = occupancy(stop_id) / 100.0, on_loop(stop_id) > 0
                n = interval(stop_id)
            s.seen_s, s.seen_since, s.seen_number = now_s, gap_s, n
            if s.count_buses and n != s.last_interval:
                count_buses(stop_id, s, n)
            if up_gap >= quiet_s:
                up_occupancy = 0.0
                if (u.seen_since >= quiet_s
                        and abs(up_gap - u.seen_since - (now_s - u.seen_s)) < 1e-6):
                    m = u.seen_number
                else:
                    m = interval(up_id)
            else:
                up_occupancy = occupancy(up_id) / 100.0
                m = interval(up_id)
            u.seen_s, u.seen_since, u.seen_number = now_s, up_gap, m
            if u.count_buses and m != u.last_interval:
                count_buses(up_id, u, m)
            append((s.base + n - s.gone, stop_occupancy, presence, gap_s, u.base + m - u.gone,
                    u.buses, up_occupancy))
        return out

    def batch_values(self, stop_ids: list[str], stop_index: Positions, up_ids: list[str],
                     up_index: Positions, now_s: float, occupancy: bool = True,
                     upstream_occupancy: bool = False) -> tuple[np.ndarray, ...]:
        """:meth:`lane_values` for many lanes at once (all junctions that decide in a step),
        as arrays: stop-line running counts, occupancies 0..1, presence, seconds since the
        last vehicle, upstream running counts, buses, upstream occupancies 0..1.

        The same libsumo queries for the same loops as :meth:`lane_values` (a quiet loop
        whose interval number is known is not asked for it), one ``map`` per query, and
        the same arithmetic on numpy arrays; ``*_index`` are the loops' ``LoopState.index``
        (unique within each of the two; :func:`positions` of them). Without ``occupancy``
        the occupancies are not read (zeros); ``upstream_occupancy`` reads the upstream
        loops' all the same.
        """
        quiet_s = 2.0 * self._step
        a = self.arrays
        stop_n, stop_occupancy, presence, gaps = self._batch_side(stop_ids, stop_index, now_s,
                                                                  quiet_s, True, occupancy)
        stop_total = a.offset[stop_index] + stop_n  # before the next side's read
        up_n, up_occupancy, _, _ = self._batch_side(up_ids, up_index, now_s, quiet_s, False,
                                                    occupancy or upstream_occupancy)
        return (stop_total, stop_occupancy, presence, gaps, a.offset[up_index] + up_n,
                a.buses[up_index].copy(), up_occupancy)

    def _batch_side(self, ids: list[str], index: Positions, now_s: float, quiet_s: float,
                    presence: bool, occupancy_too: bool = True
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Interval numbers, occupancies (if asked), presence (if asked) and gaps of one kind
        of loop (``index``: their positions, a slice when contiguous: then the arrays are
        read as views and written in place; the numbers returned may be such a view, to be
        used before the next read)."""
        interval, occupancy, on_loop, since = self._direct
        a = self.arrays
        gaps = np.fromiter(map(since, ids), float, len(ids))
        seen_since = a.seen_since[index]
        quiet = gaps >= quiet_s
        known = quiet & (seen_since >= quiet_s) & (
            np.abs(gaps - seen_since - (now_s - a.seen_s[index])) < 1e-6)
        numbers = a.seen_number[index]
        ask = np.flatnonzero(~known).tolist()
        if ask:
            numbers[ask] = list(map(interval, [ids[k] for k in ask]))
        occupancies = np.zeros(len(ids))
        on = np.zeros(len(ids), bool)
        if presence or occupancy_too:
            busy = np.flatnonzero(~quiet).tolist()
            if busy:
                busy_ids = [ids[k] for k in busy]
                if occupancy_too:
                    occupancies[busy] = np.fromiter(map(occupancy, busy_ids), float,
                                                    len(busy)) / 100.0
                if presence:
                    on[busy] = np.fromiter(map(on_loop, busy_ids), np.int64, len(busy)) > 0
        a.seen_s[index] = now_s
        a.seen_since[index] = gaps
        a.seen_number[index] = numbers  # (a view written in place already: the same)
        if self._bus_loops:  # only loops tracked with buses are looked at
            looks = np.flatnonzero(a.count_buses[index] & (numbers != a.last_interval[index]))
            for k in looks.tolist():
                self._count_buses(ids[k], self._loops[ids[k]], int(numbers[k]))
        return numbers, occupancies, on, gaps

    def _subscribed_values(self, loop_ids: tuple[str, ...], now_s: float) -> list[LoopValue]:
        results = self._fetch(now_s)
        loops = self._loops
        out: list[LoopValue] = []
        for loop_id in loop_ids:
            r, loop = results[loop_id], loops[loop_id]
            number = r[_INTERVAL_NUMBER]
            if loop.count_buses and number != loop.last_interval:
                self._count_buses(loop_id, loop, number)
            if loop.full:
                out.append((loop.base + number - loop.gone, loop.buses, r[_OCCUPANCY] / 100.0,
                            r[_VEHICLE_NUMBER] > 0, float(r[_TIME_SINCE_DETECTION])))
            else:
                out.append((loop.base + number - loop.gone, loop.buses, r[_OCCUPANCY] / 100.0,
                            False, 0.0))
        return out

    def _fetch(self, now_s: float) -> dict[str, dict[int, Any]]:
        """The step's subscription results (one libsumo call per step)."""
        if self._results_time != now_s:
            self._results = self._domain.getAllSubscriptionResults()
            self._results_time = now_s
        return self._results

    def _close_interval(self, now_s: float) -> None:
        """Last step of an interval: note the running count and who stays on the loop
        (they take effect with the next step, when SUMO has started the next interval)."""
        interval, _, on_loop, _ = self._direct
        vehicle_data = self._vehicle_data
        ids = list(self._loops)  # read-only queries of one step: one map per query
        numbers = list(map(interval, ids))
        occupied = list(map(on_loop, ids))
        for (loop_id, loop), number, on in zip(self._loops.items(), numbers, occupied,
                                               strict=True):
            if loop.count_buses:
                self._count_buses(loop_id, loop, number)
            loop.next_base = loop.base + number - loop.gone
            loop.next_carried = {}
            if on:
                loop.next_carried = {vid: entry for vid, _len, entry, leave, _type
                                     in vehicle_data(loop_id) if leave < 0}
        self._closing = True

    def _start_interval(self) -> None:
        self._watch = []
        arrays = self.arrays
        for loop_id, loop in self._loops.items():
            loop.base, loop.gone, loop.carried = loop.next_base or 0, 0, loop.next_carried
            loop.next_base, loop.next_carried = None, {}
            loop.bus_ids_seen = set()
            loop.last_interval = 0
            loop.seen_since = -1.0  # the interval number restarted
            arrays.offset[loop.index] = loop.base
            if loop.carried:
                self._watch.append(loop_id)
        arrays.last_interval[:] = 0
        arrays.seen_since[:] = -1.0
        self._closing = False

    def _follow_carried(self, now_s: float) -> None:
        """Carried-over vehicles that left early or vanished come off the running count."""
        vehicle_data = self._vehicle_data
        still = []
        for loop_id in self._watch:
            loop = self._loops[loop_id]
            data = {(vid, entry): leave for vid, _len, entry, leave, _type
                    in vehicle_data(loop_id)}
            for vid, entry in list(loop.carried.items()):
                leave = data.get((vid, entry))
                if leave is not None and leave < 0:
                    continue  # still on the loop
                del loop.carried[vid]
                # vanished without a record, or left early (SUMO stamps the end of the step)
                if leave is None or leave >= now_s - 1e-6:
                    loop.gone += 1
                    self.arrays.offset[loop.index] -= 1
            if loop.carried:
                still.append(loop_id)
        self._watch = still

    def _count_buses(self, loop_id: str, loop: LoopState, interval_number: int) -> None:
        """Buses among the vehicles newly in the loop's interval since it was last asked
        (only when the count moved, so it stays cheap)."""
        if interval_number == loop.last_interval:
            return
        loop.last_interval = interval_number
        for vid in self._interval_ids(loop_id):
            if vid in loop.bus_ids_seen:
                continue
            loop.bus_ids_seen.add(vid)
            try:
                loop.buses += self._sim.vehicle.getVehicleClass(vid) == "bus"
            except self._errors:  # already left the network
                continue
        self.arrays.last_interval[loop.index] = interval_number
        self.arrays.buses[loop.index] = loop.buses

