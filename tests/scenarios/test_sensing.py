"""Sensing profiles: detector placement, camera noise model, readings on real SUMO runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from scenarios.sensing import CameraModel, SensingProfile


@pytest.mark.parametrize("kwargs", [{"name": "radar"}, {"advance_distance_m": 90.0},
                                    {"camera_noise": -0.1}, {"camera_dropout": 1.0},
                                    {"camera_range_m": 0.0}])
def test_profile_refuses_bad_values(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SensingProfile(**kwargs)


def test_camera_model_exact_without_noise_and_seeded_with_it() -> None:
    exact = CameraModel(SensingProfile("camera"), seed=1).reading(3, 5, 2.5)
    assert (exact.queue, exact.approaching, exact.speed_mps) == (3.0, 2.0, 2.5)
    assert CameraModel(SensingProfile("camera"), seed=1).reading(0, 0, -1.0).speed_mps is None
    noisy = SensingProfile("camera", camera_noise=0.2, camera_dropout=0.3)
    a = [CameraModel(noisy, seed=7).reading(4, 6, 3.0) for _ in range(1)]
    runs = [[m.reading(4, 6, 3.0) for _ in range(500)]
            for m in (CameraModel(noisy, 7), CameraModel(noisy, 7), CameraModel(noisy, 8))]
    assert runs[0] == runs[1] != runs[2]
    assert a[0] == runs[0][0]
    dropped = sum(r.queue is None for r in runs[0])
    assert 100 < dropped < 200  # about 30 % of 500
    queues = [r.queue for r in runs[0] if r.queue is not None]
    assert min(queues) >= 0 and 3.5 < sum(queues) / len(queues) < 4.5 and len(set(queues)) > 50


def test_detector_positions(westentor) -> None:
    net = westentor.net
    for profile in ("advance", "camera"):
        scenario = westentor.with_sensing(profile)
        for j in scenario.junctions:
            for d in j.detectors:
                length = net.lanes[d.lane].length
                if profile == "advance":
                    assert d.camera is None and d.advance == f"{d.lane}__adv"
                    assert d.advance_pos_m == pytest.approx(max(0.1, length - 120.0))
                    assert d.advance_pos_m <= d.upstream_pos_m
                else:
                    assert d.advance is None and d.camera == f"{d.lane}__cam"
                    assert d.camera_pos_m == pytest.approx(max(0.0, length - 100.0))
                    assert d.camera_pos_m + d.camera_length_m == pytest.approx(length)
    back = westentor.with_sensing("camera").with_sensing("loops")
    assert back.junctions[0].detectors == westentor.junctions[0].detectors


def _readings(scenario, out: Path, duration_s: float, every_s: int = 5):
    """(reading, SUMO halting count on its lane) pairs every ``every_s`` seconds."""
    detectors = tuple(d for j in scenario.junctions for d in j.detectors)
    pairs = []
    with scenario.session(seed=2, duration_s=duration_s, out_dir=out) as session:
        while not session.finished():
            session.step()
            if int(session.time_s) % every_s == 0:
                halting = session.halting_vehicles(tuple(d.lane for d in detectors))
                pairs += list(zip(session.read_lanes(detectors), halting, strict=True))
    return pairs


@pytest.mark.slow
def test_loops_profile_leaves_the_optional_fields_empty(westentor, tmp_path: Path) -> None:
    pairs = _readings(westentor, tmp_path, 120)
    assert all(r.advance_count is None and r.camera_queue is None for r, _ in pairs)
    assert any(r.upstream_occupancy > 0 for r, _ in pairs)
    assert all(0.0 <= r.upstream_occupancy <= 1.0 for r, _ in pairs)


@pytest.mark.slow
def test_advance_loops_count_the_approaching_traffic(westentor, tmp_path: Path) -> None:
    pairs = _readings(westentor.with_sensing("advance"), tmp_path, 400)
    advance = sum(r.advance_count for r, _ in pairs)
    upstream = sum(r.upstream_count for r, _ in pairs)
    assert advance > 50
    # nearly every vehicle passes the advance loop before the 35 m loop (lane changes aside)
    assert 0.8 * upstream < advance < 1.3 * upstream + 10
    assert all(0.0 <= r.advance_occupancy <= 1.0 for r, _ in pairs)
    assert any(r.advance_occupancy > 0 for r, _ in pairs)


@pytest.mark.slow
def test_camera_queue_matches_sumo_halting_without_noise(westentor, tmp_path: Path) -> None:
    pairs = _readings(westentor.with_sensing("camera"), tmp_path, 400)
    assert all(r.camera_queue is not None and r.camera_approaching is not None for r, _ in pairs)
    total_camera = sum(r.camera_queue for r, _ in pairs)
    total_sumo = sum(h for _, h in pairs)
    assert total_sumo > 100
    # the camera sees the last 100 m and counts crawling (< 5 km/h) vehicles as queued
    assert 0.8 * total_sumo <= total_camera <= 1.3 * total_sumo
    assert sum(abs(r.camera_queue - h) <= 2 for r, h in pairs) > 0.9 * len(pairs)
    speeds = [r.camera_speed_mps for r, _ in pairs if r.camera_speed_mps is not None]
    assert speeds and all(0 <= s < 25 for s in speeds)
    assert all(r.camera_speed_mps is None for r, _ in pairs
               if r.camera_queue == 0 and r.camera_approaching == 0)


@pytest.mark.slow
def test_camera_noise_and_dropout_are_seeded(westentor, tmp_path: Path) -> None:
    scenario = westentor.with_sensing(SensingProfile("camera", camera_noise=0.3,
                                                     camera_dropout=0.2))
    a = _readings(scenario, tmp_path / "a", 120)
    b = _readings(scenario, tmp_path / "b", 120)
    assert a == b
    dropped = sum(r.camera_queue is None for r, _ in a)
    assert 0.1 * len(a) < dropped < 0.3 * len(a)


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["advance", "camera"])
def test_profiles_work_on_an_external_grid(profile: str, tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from external_nets import grid, random_routes, sumocfg

    from scenarios.scenario import load_scenario

    net = grid(tmp_path, "grid")
    routes = random_routes(net, tmp_path / "grid.rou.xml", end_s=300, period_s=1.5)
    scenario = load_scenario(str(sumocfg(tmp_path / "grid.sumocfg", net, routes, 0, 300)))
    pairs = _readings(scenario.with_sensing(profile), tmp_path / "run", 300)
    if profile == "advance":
        assert sum(r.advance_count for r, _ in pairs) > 20
    else:
        assert sum(r.camera_queue for r, _ in pairs) > 0
        assert sum(r.camera_approaching for r, _ in pairs) > 0
