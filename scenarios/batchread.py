"""Detector readings of many junctions at once (the plain loops profile), on numpy arrays.

A run of many junctions reads every junction's loops in the same steps. Read one junction
at a time, the per-lane Python work (a few microseconds a lane) costs more than SUMO's
answers; :meth:`scenarios.session.SumoSession.read_lanes_many` instead reads the lanes of
all the junctions that decide in a step in one pass: one ``map`` per libsumo query over
all their loops (:meth:`scenarios.loopcount.LoopBank.batch_values`), the counts since
the previous read and the queues as array arithmetic, one ``LaneReading`` per lane.

The readings equal those of :meth:`~scenarios.session.SumoSession.read_lanes` lane by
lane (``tests/scenarios/test_batch_reads.py``). A lane is read either in batches or one
tuple at a time within one session, never both (the counts since the previous read are
kept by the one reader).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scenarios.detectors import LaneDetectors
from scenarios.loopcount import LoopBank, Positions, positions
from scenarios.observation import LaneReading


class LaneCounts:
    """Per lane read in batches (in first-read order): the loops' running counts at the
    previous read and the counts summed since tracking began."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.stop_seen = np.zeros(0, np.int64)
        self.up_seen = np.zeros(0, np.int64)
        self.buses_seen = np.zeros(0, np.int64)
        self.stop_total = np.zeros(0, np.int64)
        self.up_total = np.zeros(0, np.int64)

    def positions(self, lanes: Sequence[str]) -> np.ndarray:
        """The lanes' positions in the arrays (new lanes are appended with zero counts)."""
        new = [lane for lane in dict.fromkeys(lanes) if lane not in self.index]
        for lane in new:
            self.index[lane] = len(self.index)
        if new:
            zeros = np.zeros(len(new), np.int64)
            self.stop_seen = np.concatenate([self.stop_seen, zeros])
            self.up_seen = np.concatenate([self.up_seen, zeros])
            self.buses_seen = np.concatenate([self.buses_seen, zeros])
            self.stop_total = np.concatenate([self.stop_total, zeros])
            self.up_total = np.concatenate([self.up_total, zeros])
        return np.array([self.index[lane] for lane in lanes], np.int64)


@dataclass(frozen=True)
class LaneBatch:
    """The lanes of several junctions' detector tuples, flattened, with their positions in
    the loop bank's and the lane counts' arrays (slices where contiguous)."""

    groups: tuple[tuple[LaneDetectors, ...], ...]
    lanes: tuple[str, ...]
    stop_ids: list[str]
    up_ids: list[str]
    stop_index: Positions
    up_index: Positions
    lane_index: Positions
    bounds: tuple[tuple[int, int], ...]

    @classmethod
    def build(cls, groups: Sequence[tuple[LaneDetectors, ...]], bank: LoopBank,
              counts: LaneCounts, now_s: float, buses: bool = True) -> LaneBatch:
        """Track the groups' loops (stop-line loops in full, upstream loops with buses
        unless ``buses`` is False)."""
        flat = [d for g in groups for d in g]
        lanes = tuple(d.lane for d in flat)
        if len(set(lanes)) != len(lanes):
            raise ValueError("a lane appears twice in one batched read")
        stop_ids = [d.stopline for d in flat]
        up_ids = [d.upstream for d in flat]
        bank.track(tuple(stop_ids), now_s)
        bank.track(tuple(up_ids), now_s, buses=buses, full=False)
        loops = bank.loops(tuple(stop_ids)), bank.loops(tuple(up_ids))
        bounds, start = [], 0
        for g in groups:
            bounds.append((start, start + len(g)))
            start += len(g)
        # contiguous positions (the usual case: one batch tracks its loops in order) as
        # slices: every read then takes views instead of fancy-indexed copies
        return cls(tuple(groups), lanes, stop_ids, up_ids,
                   positions(np.array([lp.index for lp in loops[0]], np.int64)),
                   positions(np.array([lp.index for lp in loops[1]], np.int64)),
                   positions(counts.positions(lanes)), tuple(bounds))


_new_object = object.__new__
_set_attribute = object.__setattr__


@dataclass(frozen=True)
class LaneArrays:
    """The fields of the plain loops profile's ``LaneReading`` s of a batch's lanes (in
    the batch's order), one array per field."""

    stopline_count: np.ndarray
    upstream_count: np.ndarray
    occupancy: np.ndarray
    presence: np.ndarray
    gap_s: np.ndarray
    queue: np.ndarray
    bus_count: np.ndarray
    upstream_occupancy: np.ndarray


def read_arrays(batch: LaneBatch, bank: LoopBank, counts: LaneCounts, now_s: float,
                occupancy: bool = True, upstream_occupancy: bool = False) -> LaneArrays:
    """The batch's lanes' readings since the previous read as arrays (the same arithmetic
    as the session's one-tuple read; without ``occupancy`` the occupancies are zeros, but
    the upstream loops' are read when ``upstream_occupancy``)."""
    stop_total, occupancy_, presence, gaps, up_total, buses, up_occupancy = bank.batch_values(
        batch.stop_ids, batch.stop_index, batch.up_ids, batch.up_index, now_s, occupancy,
        upstream_occupancy)
    li = batch.lane_index
    stop_count = stop_total - counts.stop_seen[li]
    up_count = up_total - counts.up_seen[li]
    bus_count = buses - counts.buses_seen[li]
    counts.stop_seen[li] = stop_total
    counts.up_seen[li] = up_total
    counts.buses_seen[li] = buses
    counts.stop_total[li] += stop_count
    counts.up_total[li] += up_count
    queue = np.maximum(counts.up_total[li] - counts.stop_total[li], 0).astype(float)
    return LaneArrays(stop_count, up_count, occupancy_, presence, gaps, queue, bus_count,
                      up_occupancy)


def read_batch(batch: LaneBatch, bank: LoopBank, counts: LaneCounts, now_s: float
               ) -> list[tuple[LaneReading, ...]]:
    """Per group of the batch, its lanes' readings since the previous read (the same
    arithmetic as the session's one-tuple read, on arrays)."""
    a = read_arrays(batch, bank, counts, now_s)
    readings: list[LaneReading] = []
    append = readings.append
    new, set_attribute, reading_type = _new_object, _set_attribute, LaneReading
    for lane, sc, uc, occ, pres, gap, q, bc, uocc in zip(
            batch.lanes, a.stopline_count.tolist(), a.upstream_count.tolist(),
            a.occupancy.tolist(), a.presence.tolist(), a.gap_s.tolist(), a.queue.tolist(),
            a.bus_count.tolist(), a.upstream_occupancy.tolist(), strict=True):
        reading = new(reading_type)
        set_attribute(reading, "__dict__", {
            "lane": lane, "stopline_count": sc, "upstream_count": uc, "occupancy": occ,
            "presence": pres, "gap_s": gap, "queue": q, "bus_count": bc,
            "upstream_occupancy": uocc, "advance_count": None, "advance_occupancy": None,
            "camera_queue": None, "camera_approaching": None, "camera_speed_mps": None})
        append(reading)
    return [tuple(readings[a:b]) for a, b in batch.bounds]
