"""Seeded demand: Poisson departures per movement from the scenario's hourly flows, buses
to their lines' timetables, and the period profiles of ``scenarios.profiles``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from scenarios.files import write_text_atomic
from scenarios.profiles import profile, share_ratio
from scenarios.spec import DemandSpec
from signals.errors import ScenarioError

VEHICLE_TYPES = "\n".join([
    '    <vType id="car" vClass="passenger" length="4.5" minGap="2.5" accel="2.6" '
    'decel="4.5" sigma="0.5"/>',
    '    <vType id="truck" vClass="truck" length="12.0" minGap="3.0" accel="1.3" '
    'decel="4.0" sigma="0.5" emissionClass="HBEFA3/HDV"/>',
    '    <vType id="bus" vClass="bus" length="12.0" minGap="3.0" accel="1.2" decel="4.0" '
    'sigma="0.3" emissionClass="HBEFA3/Bus"/>',
    '    <vType id="bicycle" vClass="bicycle" length="1.8" minGap="0.5" maxSpeed="5.5" '
    'accel="1.2" decel="3.0" sigma="0.5"/>',
    '    <vType id="pedestrian" vClass="pedestrian" length="0.3" minGap="0.3" maxSpeed="1.3"/>',
])


@dataclass(frozen=True)
class Departure:
    """One generated trip."""

    time_s: float
    kind: str  # car, truck, bus, bicycle, pedestrian
    from_edge: str
    to_edge: str
    route: tuple[str, ...] = ()  # buses: the line's edges
    stops: tuple[tuple[str, float], ...] = ()  # buses: (bus stop id, dwell seconds)
    line: str = ""


Flow = tuple[str, str, float]


def _mirrored(flows: tuple[Flow, ...], arms: tuple[tuple[str, str], ...], weight: float,
              what: str) -> tuple[Flow, ...]:
    """Mix each movement's flow with the flow of its reverse movement (tidal directions)."""
    if weight == 0 or not flows:
        return flows
    entry_of = {exit_: entry for entry, exit_ in arms}
    exit_of = {entry: exit_ for entry, exit_ in arms}
    rows = {(a, b): q for a, b, q in flows}
    out = []
    for a, b, q in flows:
        if b not in entry_of or a not in exit_of:
            raise ScenarioError(f"demand.{what}: movement {a}->{b} is not between arms listed "
                                "under demand.arms; cannot derive a mirrored period")
        reverse = rows.get((entry_of[b], exit_of[a]), q)
        out.append((a, b, (1 - weight) * q + weight * reverse))
    return tuple(out)


def demand_for_period(demand: DemandSpec, period: str) -> DemandSpec:
    """The basis demand turned into the given period's flows (see ``scenarios.profiles``)."""
    prof = profile(period)
    if period == demand.period:
        return demand
    base = profile(demand.period)
    weight = abs(prof.mirror - base.mirror)

    def derive(flows: tuple[Flow, ...], mode: str) -> tuple[Flow, ...]:
        factor = share_ratio(period, mode, demand.period)
        mixed = _mirrored(flows, demand.arms, weight, mode) if weight > 0 else flows
        return tuple((a, b, q * factor) for a, b, q in mixed)

    return replace(demand, period=period,
                   vehicles=derive(demand.vehicles, "vehicle"),
                   bicycles=derive(demand.bicycles, "bicycle"),
                   pedestrians=derive(demand.pedestrians, "pedestrian"))


def timetable_times(per_hour: float, begin: float, end: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Departures at a fixed headway with a seeded phase in [begin, end)."""
    if per_hour <= 0 or end <= begin:
        return np.empty(0)
    headway = 3600.0 / per_hour
    first = begin + rng.uniform(0.0, headway)
    return np.arange(first, end, headway)


def poisson_times(
    rate_per_h: float, begin: float, end: float, rng: np.random.Generator
) -> np.ndarray:
    """Departure times of a Poisson process with the given hourly rate in [begin, end)."""
    if rate_per_h <= 0 or end <= begin:
        return np.empty(0)
    expected = rate_per_h * (end - begin) / 3600.0
    count = rng.poisson(expected)
    return np.sort(rng.uniform(begin, end, size=count))


def generate_departures(
    demand: DemandSpec, seed: int, scale: float = 1.0, duration_s: float | None = None
) -> list[Departure]:
    """All departures for one seed; ``scale`` multiplies every flow (1.3 = 30 % more)."""
    if scale < 0:
        raise ScenarioError(f"demand scale must be >= 0, got {scale}")
    rng = np.random.default_rng(seed)
    begin = demand.begin_s
    span = demand.duration_s if duration_s is None else min(duration_s, demand.duration_s)
    end = begin + span
    out: list[Departure] = []
    for frm, to, flow in demand.vehicles:
        for t in poisson_times(flow * scale, begin, end, rng):
            kind = "truck" if rng.random() < demand.truck_share else "car"
            out.append(Departure(float(t), kind, frm, to))
    for frm, to, flow in demand.bicycles:
        out.extend(Departure(float(t), "bicycle", frm, to)
                   for t in poisson_times(flow * scale, begin, end, rng))
    for frm, to, flow in demand.pedestrians:
        out.extend(Departure(float(t), "pedestrian", frm, to)
                   for t in poisson_times(flow * scale, begin, end, rng))
    for line in demand.bus_lines:  # a timetable: not scaled with the demand factor
        stops = tuple((s, line.dwell_s) for s in line.stops)
        out.extend(Departure(float(t), "bus", line.route[0], line.route[-1], line.route,
                             stops, line.line)
                   for t in timetable_times(line.buses_per_hour(demand.period), begin, end,
                                            rng))
    out.sort(key=lambda d: (d.time_s, d.kind, d.from_edge, d.to_edge))
    return out


def write_routes(departures: list[Departure], path: Path) -> Path:
    """Write departures as a SUMO route file (atomically)."""
    lines = ["<routes>", VEHICLE_TYPES]
    for i, d in enumerate(departures):
        if d.route:
            stops = "".join(f'<stop busStop={quoteattr(s)} duration="{dwell:g}"/>'
                            for s, dwell in d.stops)
            lines.append(f'    <vehicle id="{d.kind}{i}" type="{d.kind}" '
                         f'depart="{d.time_s:.2f}" line={quoteattr(d.line)} '
                         f'departLane="best" departSpeed="max">'
                         f'<route edges={quoteattr(" ".join(d.route))}/>{stops}</vehicle>')
        elif d.kind == "pedestrian":
            lines.append(f'    <person id="p{i}" type="pedestrian" depart="{d.time_s:.2f}">'
                         f'<walk from={quoteattr(d.from_edge)} to={quoteattr(d.to_edge)}/>'
                         '</person>')
        else:
            lines.append(f'    <trip id="{d.kind[0]}{i}" type="{d.kind}" depart="{d.time_s:.2f}" '
                         f'from={quoteattr(d.from_edge)} to={quoteattr(d.to_edge)} '
                         f'departLane="best" departSpeed="max"/>')
    lines.append("</routes>\n")
    return write_text_atomic(path, "\n".join(lines))


def write_bus_stops(demand: DemandSpec, path: Path) -> Path:
    """Write the scenario's bus stops as a SUMO additional file (atomically)."""
    lines = ["<additional>"]
    for s in demand.bus_stops:
        start = max(0.0, s.pos_m - s.length_m)
        lines.append(f'    <busStop id={quoteattr(s.id)} lane={quoteattr(s.lane)} '
                     f'startPos="{start:.2f}" endPos="{s.pos_m:.2f}" name={quoteattr(s.name)}/>')
    lines.append("</additional>\n")
    return write_text_atomic(path, "\n".join(lines))
