"""Intergreen times computed from junction geometry (clearing and entering paths).

The German formula (RiLSA, as commonly quoted; exact handbook values unverified)::

    t_z = t_u + (s_c + l_c) / v_c - s_e / v_e

* ``t_u``  passing time: a clearing road user may still cross the stop line this long after
  its green ends (amber passing time).
* ``s_c``  clearing path: stop line of the clearing stream to the conflict point.
* ``l_c``  length of the clearing road user (its rear must leave the conflict area).
* ``v_c``  clearing speed.
* ``s_e``  entering path: stop line of the entering stream to the conflict point.
* ``v_e``  entering speed (high = conservative, the entering user arrives sooner).

The result is rounded up to whole seconds and never less than the clearing group's amber.
Pedestrians may walk either way on a crossing: clearing takes the longer and entering the
shorter part. Every parameter is in :class:`IntergreenParameters` and can be overridden.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from signals import GroupKind

Path2D = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class KindParameters:
    """Clearing and entering parameters of one kind of road user."""

    passing_time_s: float
    length_m: float
    clearing_speed_mps: float
    clearing_speed_turning_mps: float
    entering_speed_mps: float
    entering_speed_turning_mps: float


@dataclass(frozen=True)
class IntergreenParameters:
    """Documented defaults per kind of road user (override to match local practice)."""

    vehicle: KindParameters = KindParameters(3.0, 6.0, 10.0, 7.0, 11.1, 7.0)
    bus: KindParameters = KindParameters(3.0, 12.0, 10.0, 7.0, 11.1, 7.0)
    bicycle: KindParameters = KindParameters(1.0, 2.0, 4.0, 4.0, 5.0, 5.0)
    pedestrian: KindParameters = KindParameters(0.0, 0.0, 1.2, 1.2, 1.5, 1.5)
    minimum_s: float = 3.0

    def for_kind(self, kind: GroupKind) -> KindParameters:
        """Parameters of the given group kind."""
        return {GroupKind.VEHICLE: self.vehicle, GroupKind.BUS: self.bus,
                GroupKind.BICYCLE: self.bicycle, GroupKind.PEDESTRIAN: self.pedestrian}[kind]


def _resample(path: Path2D, step: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Points along a polyline every ``step`` metres and their arc lengths."""
    pts = np.asarray(path, dtype=float)
    if len(pts) == 1:
        return pts, np.zeros(1)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    total = cum[-1]
    s = np.linspace(0.0, total, max(2, int(math.ceil(total / step)) + 1))
    x = np.interp(s, cum, pts[:, 0])
    y = np.interp(s, cum, pts[:, 1])
    return np.column_stack([x, y]), s


Distances = tuple[float, float, float, float]


class PathCache:
    """Resampled paths by their points, and the conflict distances of the reversed pairs:
    one junction's derivation meets every lane path in many conflicting pairs, each pair
    in both directions (saves most of a large network's load time; exact)."""

    def __init__(self) -> None:
        self._paths: dict[Path2D, tuple[np.ndarray, np.ndarray]] = {}
        self._reversed: dict[tuple[Path2D, Path2D], Distances] = {}

    def resample(self, path: Path2D) -> tuple[np.ndarray, np.ndarray]:
        """:func:`_resample` of the path, computed once."""
        found = self._paths.get(path)
        if found is None:
            found = self._paths[path] = _resample(path)
        return found

    def distances(self, clearing: Path2D, entering: Path2D) -> Distances:
        """:func:`conflict_distances` of the pair; the reversed pair's comes with it (its
        distance matrix is the transpose, with bit-identical entries)."""
        key = (clearing, entering)
        found = self._reversed.pop(key, None)
        if found is not None:
            return found
        (pc, sc), (pe, se) = self.resample(clearing), self.resample(entering)
        d = _distance_matrix(pc, pe)
        i, j = np.unravel_index(int(np.argmin(d)), d.shape)
        k, m = np.unravel_index(int(np.argmin(d.T)), d.T.shape)
        self._reversed[(entering, clearing)] = (float(se[k]), float(sc[m]), float(se[-1]),
                                                float(sc[-1]))
        return float(sc[i]), float(se[j]), float(sc[-1]), float(se[-1])


def _distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances between every point of ``a`` and of ``b`` (as ``np.linalg.norm`` computes
    them along the last axis: the square root of the sum of the squares)."""
    dx = a[:, 0, None] - b[None, :, 0]  # per coordinate: contiguous, 4x faster than
    dy = a[:, 1, None] - b[None, :, 1]  # strided slices of one 3-d difference, same values
    return np.sqrt(dx * dx + dy * dy)


def conflict_distances(clearing: Path2D, entering: Path2D, cache: PathCache | None = None
                       ) -> Distances:
    """Arc lengths to the conflict point on both paths, and both path lengths.

    The conflict point is where the paths come closest (their crossing, or the merge).
    """
    if cache is not None:
        return cache.distances(clearing, entering)
    pc, sc = _resample(clearing)
    pe, se = _resample(entering)
    d = _distance_matrix(pc, pe)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    return float(sc[i]), float(se[j]), float(sc[-1]), float(se[-1])


def intergreen_s(
    clearing_kind: GroupKind,
    clearing_path: Path2D,
    clearing_turns: bool,
    clearing_amber_s: float,
    entering_kind: GroupKind,
    entering_path: Path2D,
    entering_turns: bool,
    params: IntergreenParameters | None = None,
    cache: PathCache | None = None,
) -> float:
    """Intergreen from the end of the clearing green to the start of the entering green
    (``cache``: resampled paths shared by the calls of one junction)."""
    params = params or IntergreenParameters()
    pc, pe = params.for_kind(clearing_kind), params.for_kind(entering_kind)
    s_c, s_e, len_c, len_e = conflict_distances(clearing_path, entering_path, cache)
    if clearing_kind is GroupKind.PEDESTRIAN:
        s_c = max(s_c, len_c - s_c)
    if entering_kind is GroupKind.PEDESTRIAN:
        s_e = min(s_e, len_e - s_e)
    v_c = pc.clearing_speed_turning_mps if clearing_turns else pc.clearing_speed_mps
    v_e = pe.entering_speed_turning_mps if entering_turns else pe.entering_speed_mps
    t_z = pc.passing_time_s + (s_c + pc.length_m) / v_c - s_e / v_e
    return float(max(math.ceil(t_z - 1e-9), clearing_amber_s, params.minimum_s))
