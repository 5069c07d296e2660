"""Induction loops as in the field: one at the stop line and one upstream on every
signal-controlled approach lane (cars and bicycles)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scenarios.files import write_text_atomic
from scenarios.netfile import NetFile
from scenarios.spec import DetectorSpec

#: detector aggregation period: short, so that libsumo queries stay cheap (a loop keeps the
#: data of its current and previous period); running counts come from scenarios.loopcount
LOOP_PERIOD_S = 60


@dataclass(frozen=True)
class LaneDetectors:
    """The loops of one approach lane."""

    lane: str
    stopline: str
    upstream: str
    stopline_pos_m: float
    upstream_pos_m: float


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


def write_detector_file(detectors: tuple[LaneDetectors, ...], path: Path) -> Path:
    """Write the loops as a SUMO additional file (atomically)."""
    lines = ["<additional>"]
    for d in detectors:
        for det_id, pos in ((d.stopline, d.stopline_pos_m), (d.upstream, d.upstream_pos_m)):
            lines.append(f'    <inductionLoop id="{det_id}" lane="{d.lane}" pos="{pos:.2f}" '
                         f'period="{LOOP_PERIOD_S}" file="NUL"/>')
    lines.append("</additional>\n")
    return write_text_atomic(path, "\n".join(lines))
