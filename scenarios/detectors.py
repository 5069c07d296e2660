"""Detectors as in the field: a loop at the stop line and one upstream on every
signal-controlled approach lane (cars and bicycles), plus what the sensing profile adds
(an advance loop, or a camera's lane-area detector; :mod:`scenarios.sensing`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from scenarios.files import write_text_atomic
from scenarios.netfile import NetFile
from scenarios.sensing import SensingProfile
from scenarios.spec import DetectorSpec

#: detector aggregation period: short, so that libsumo queries stay cheap (a loop keeps the
#: data of its current and previous period); running counts come from scenarios.loopcount
LOOP_PERIOD_S = 60


@dataclass(frozen=True)
class LaneDetectors:
    """The detectors of one approach lane (advance and camera: None without them)."""

    lane: str
    stopline: str
    upstream: str
    stopline_pos_m: float
    upstream_pos_m: float
    advance: str | None = None
    advance_pos_m: float = 0.0
    camera: str | None = None
    camera_pos_m: float = 0.0
    camera_length_m: float = 0.0


def plan_detectors(
    net: NetFile, lanes: tuple[str, ...], spec: DetectorSpec
) -> tuple[LaneDetectors, ...]:
    """Loop positions for the given approach lanes."""
    out = []
    for lane_id in lanes:
        lane = net.lanes[lane_id]
        stop_pos = max(0.1, lane.length - spec.stopline_offset_m)
        up_pos = max(0.1, lane.length - spec.upstream_distance_m)
        out.append(LaneDetectors(lane=lane_id, stopline=f"{lane_id}__stop",
                                 upstream=f"{lane_id}__up", stopline_pos_m=stop_pos,
                                 upstream_pos_m=up_pos))
    return tuple(out)


def with_sensing(detectors: tuple[LaneDetectors, ...], net: NetFile,
                 profile: SensingProfile) -> tuple[LaneDetectors, ...]:
    """The lanes' detectors for a sensing profile: the two loops plus the profile's own."""
    out = []
    for d in detectors:
        length = net.lanes[d.lane].length
        d = replace(d, advance=None, advance_pos_m=0.0, camera=None, camera_pos_m=0.0,
                    camera_length_m=0.0)
        if profile.advance:
            d = replace(d, advance=f"{d.lane}__adv",
                        advance_pos_m=max(0.1, length - profile.advance_distance_m))
        if profile.camera:
            start = max(0.0, length - profile.camera_range_m)
            d = replace(d, camera=f"{d.lane}__cam", camera_pos_m=start,
                        camera_length_m=length - start)
        out.append(d)
    return tuple(out)


def write_detector_file(detectors: tuple[LaneDetectors, ...], path: Path) -> Path:
    """Write the loops as a SUMO additional file (atomically)."""
    lines = ["<additional>"]
    for d in detectors:
        for det_id, pos in ((d.stopline, d.stopline_pos_m), (d.upstream, d.upstream_pos_m)):
            lines.append(f'    <inductionLoop id="{det_id}" lane="{d.lane}" pos="{pos:.2f}" '
                         f'period="{LOOP_PERIOD_S}" file="NUL"/>')
        if d.advance is not None:
            lines.append(f'    <inductionLoop id="{d.advance}" lane="{d.lane}" '
                         f'pos="{d.advance_pos_m:.2f}" period="{LOOP_PERIOD_S}" file="NUL"/>')
        if d.camera is not None:
            lines.append(f'    <laneAreaDetector id="{d.camera}" lane="{d.lane}" '
                         f'pos="{d.camera_pos_m:.2f}" length="{d.camera_length_m:.2f}" '
                         f'friendlyPos="true" period="{LOOP_PERIOD_S}" file="NUL"/>')
    lines.append("</additional>\n")
    return write_text_atomic(path, "\n".join(lines))
