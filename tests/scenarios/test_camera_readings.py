"""``SumoSession.camera_readings``: the camera values ``read_lanes`` gives, for the HIL bridge."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.sensing import CameraReading, SensingProfile

pytestmark = pytest.mark.slow


def test_camera_readings_equal_the_read_lanes_fields(westentor, tmp_path: Path) -> None:
    scenario = westentor.with_sensing("camera")
    detectors = scenario.junctions[0].detectors
    compared = queued = 0
    with scenario.session(seed=2, duration_s=240.0, out_dir=tmp_path / "cam") as session:
        while not session.finished():
            session.step()
            cams = session.camera_readings(detectors)
            lanes = session.read_lanes(detectors)
            assert len(cams) == len(lanes) == len(detectors)
            for cam, lane in zip(cams, lanes, strict=True):
                assert cam == CameraReading(lane.camera_queue, lane.camera_approaching,
                                            lane.camera_speed_mps)
                compared += 1
                queued += int((lane.camera_queue or 0.0) >= 1.0)
    assert compared >= 200 * len(detectors) and queued > 0


def test_lanes_without_camera_read_none_and_dropout_applies(westentor, tmp_path: Path) -> None:
    detectors = westentor.junctions[0].detectors
    with westentor.session(seed=2, duration_s=5.0, out_dir=tmp_path / "loops") as session:
        session.step()
        assert session.camera_readings(detectors) == (None,) * len(detectors)
    lossy = westentor.with_sensing(SensingProfile("camera", camera_dropout=0.5))
    detectors = lossy.junctions[0].detectors
    lost = seen = 0
    with lossy.session(seed=2, duration_s=60.0, out_dir=tmp_path / "lossy") as session:
        while not session.finished():
            session.step()
            for cam in session.camera_readings(detectors):
                assert cam is not None
                seen += 1
                lost += cam == CameraReading(None, None, None)
    assert 0.35 < lost / seen < 0.65
