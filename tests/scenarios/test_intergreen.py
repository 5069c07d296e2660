"""Intergreen formula on hand-made geometry."""

from __future__ import annotations

import math

import pytest

from scenarios.intergreen import IntergreenParameters, conflict_distances, intergreen_s
from signals import GroupKind


def test_conflict_point_of_perpendicular_paths() -> None:
    clearing = ((0.0, 0.0), (20.0, 0.0))
    entering = ((10.0, -8.0), (10.0, 8.0))
    s_c, s_e, len_c, len_e = conflict_distances(clearing, entering)
    assert s_c == pytest.approx(10.0, abs=0.3)
    assert s_e == pytest.approx(8.0, abs=0.3)
    assert (len_c, len_e) == (pytest.approx(20.0), pytest.approx(16.0))


def test_vehicle_formula_matches_hand_calculation() -> None:
    p = IntergreenParameters()
    clearing = ((0.0, 0.0), (40.0, 0.0))
    entering = ((20.0, -10.0), (20.0, 10.0))
    got = intergreen_s(GroupKind.VEHICLE, clearing, False, 3.0,
                       GroupKind.VEHICLE, entering, False, p)
    # t_u + (s_c + l)/v_c - s_e/v_e = 3 + 26/10 - 10/11.1
    expected = math.ceil(3.0 + (20.0 + 6.0) / 10.0 - 10.0 / 11.1)
    assert got == expected


def test_pedestrian_clearing_uses_the_longer_part_of_the_crossing() -> None:
    crossing = ((0.0, 0.0), (0.0, 16.0))
    vehicle = ((-20.0, 2.0), (20.0, 2.0))  # conflict near the start of the crossing
    got = intergreen_s(GroupKind.PEDESTRIAN, crossing, False, 0.0,
                       GroupKind.VEHICLE, vehicle, False)
    # a pedestrian who started at the far side still has 14 m to walk at 1.2 m/s
    assert got >= math.ceil(14.0 / 1.2 - 20.0 / 11.1)


def test_never_below_amber_or_minimum() -> None:
    far = ((0.0, 0.0), (1.0, 0.0))
    other = ((100.0, -50.0), (100.0, 50.0))
    got = intergreen_s(GroupKind.VEHICLE, far, False, 4.0, GroupKind.VEHICLE, other, False)
    assert got >= 4.0


def _reference_distances(clearing, entering):
    """The pre-cache computation (np.linalg.norm over fresh resamples)."""
    import numpy as np

    from scenarios.intergreen import _resample

    pc, sc = _resample(clearing)
    pe, se = _resample(entering)
    d = np.linalg.norm(pc[:, None, :] - pe[None, :, :], axis=2)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    return float(sc[i]), float(se[j]), float(sc[-1]), float(se[-1])


@pytest.mark.parametrize("seed", range(6))
def test_path_cache_gives_the_uncached_distances_in_both_orders(seed: int) -> None:
    """PathCache reuses resamples and derives a reversed pair from the transpose; the
    figures must be bit-identical to a fresh computation, also for merging (touching)
    paths where the minimum distance is reached at many points."""
    import random

    from scenarios.intergreen import PathCache

    rng = random.Random(seed)
    paths = [tuple((rng.uniform(-30, 30), rng.uniform(-30, 30)) for _ in range(rng.randint(2, 4)))
             for _ in range(4)]
    paths.append(((0.0, 0.0), (10.0, 0.0), (20.0, 0.0)))
    paths.append(((0.0, 0.0), (10.0, 0.0), (10.0, 10.0)))  # shares a stretch with the last
    cache = PathCache()
    for a in paths:
        for b in paths:
            if a is not b:
                assert conflict_distances(a, b, cache) == _reference_distances(a, b)
                assert conflict_distances(b, a, cache) == _reference_distances(b, a)
