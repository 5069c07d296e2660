"""Scenario sources as dataclasses: what a ``scenario.yaml`` says, validated on load."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scenarios.sensing import SENSING_NAMES
from signals import GroupKind

_TOP_KEYS = {
    "name", "title", "location", "sources", "netconvert_options", "junctions", "demand",
    "detectors",
}
_JUNCTION_KEYS = {"groups", "compatible", "stages", "plans", "name"}
_DEMAND_KEYS = {"period", "begin_s", "duration_s", "truck_share", "vehicles", "bicycles",
                "pedestrians", "arms", "bus_stops", "bus_lines"}


@dataclass(frozen=True)
class GroupSpec:
    """A signal group as written in the scenario: kind and the movements it controls."""

    name: str
    kind: GroupKind
    movements: tuple[tuple[str, str], ...] = ()
    crossing: tuple[str, ...] = ()
    speed_kmh: float = 50.0
    turn: bool = False


@dataclass(frozen=True)
class PlanSpec:
    """A fixed-time plan: green seconds per stage (in cycle order) and an offset."""

    name: str
    greens: tuple[tuple[str, float], ...]
    offset_s: float = 0.0


@dataclass(frozen=True)
class BusStopSpec:
    """A bus stop (SUMO ``busStop``) on one lane, ending ``pos_m`` from the lane start."""

    id: str
    lane: str
    pos_m: float
    length_m: float = 20.0
    name: str = ""


@dataclass(frozen=True)
class BusLineSpec:
    """A bus line: its route through the network, the stops it serves, buses per period.

    Buses run to a timetable (a fixed headway with a seeded phase), not at random.
    """

    line: str
    route: tuple[str, ...]
    stops: tuple[str, ...] = ()
    dwell_s: float = 20.0
    per_hour: tuple[tuple[str, float], ...] = ()

    def buses_per_hour(self, period: str) -> float:
        """Timetabled buses per hour in the given period (0 when the line does not run)."""
        return dict(self.per_hour).get(period, 0.0)


@dataclass(frozen=True)
class DemandSpec:
    """Hourly flows per movement for one period; departures are drawn per seed.

    ``arms`` pairs each boundary arm's entry edge with its exit edge, so that a period can
    mirror the basis period's directions (see ``scenarios.profiles``).
    """

    period: str
    begin_s: float
    duration_s: float
    truck_share: float
    vehicles: tuple[tuple[str, str, float], ...]
    bicycles: tuple[tuple[str, str, float], ...] = ()
    pedestrians: tuple[tuple[str, str, float], ...] = ()
    arms: tuple[tuple[str, str], ...] = ()
    bus_stops: tuple[BusStopSpec, ...] = ()
    bus_lines: tuple[BusLineSpec, ...] = ()


@dataclass(frozen=True)
class DetectorSpec:
    """Where loops sit: at the stop line and upstream, in metres before the stop line;
    ``sensing`` names the scenario's default sensing profile (:mod:`scenarios.sensing`)."""

    stopline_offset_m: float = 2.0
    upstream_distance_m: float = 35.0
    sensing: str = "loops"


@dataclass(frozen=True)
class JunctionSpec:
    """One signalised junction: its traffic light id, signal groups, stages and plans."""

    tls: str
    title: str
    groups: tuple[GroupSpec, ...]
    compatible: tuple[tuple[str, str], ...]
    stages: tuple[tuple[str, tuple[str, ...]], ...]
    plans: tuple[PlanSpec, ...]


def select_plan(plans: tuple[PlanSpec, ...], name: str | None, where: str) -> PlanSpec:
    """The named fixed-time plan, or the first one; ValueError naming the known plans."""
    if name is None and plans:
        return plans[0]
    for plan in plans:
        if plan.name == name:
            return plan
    known = ", ".join(p.name for p in plans) or "none"
    raise ValueError(f"{where} has no plan {name!r} (known: {known})")


@dataclass(frozen=True)
class ScenarioSpec:
    """One registered scenario: plain network sources, junctions, demand and detectors."""

    name: str
    title: str
    folder: Path
    lon: float
    lat: float
    sources: dict[str, str]
    netconvert_options: tuple[str, ...]
    junctions: tuple[JunctionSpec, ...]
    demand: DemandSpec
    detectors: DetectorSpec = field(default_factory=DetectorSpec)


def _sensing_name(value: Any, where: str) -> str:
    if value not in SENSING_NAMES:
        raise ValueError(f"{where}: unknown sensing profile {value!r} "
                         f"(known: {', '.join(SENSING_NAMES)})")
    return str(value)


def _require(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise ValueError(f"{where}: missing key {key!r}")
    return data[key]


def _flows(rows: Any, where: str) -> tuple[tuple[str, str, float], ...]:
    out = []
    for row in rows or []:
        if not (isinstance(row, list | tuple) and len(row) == 3):
            raise ValueError(f"{where}: each flow must be [from_edge, to_edge, per_hour], "
                             f"got {row!r}")
        frm, to, flow = row
        if float(flow) < 0:
            raise ValueError(f"{where}: negative flow {flow} for {frm}->{to}")
        out.append((str(frm), str(to), float(flow)))
    return tuple(out)


def _bus_stops(data: Any, where: str) -> tuple[BusStopSpec, ...]:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping of stop ids to {{lane, pos_m}}")
    out = []
    for sid, s in data.items():
        if not isinstance(s, dict) or "lane" not in s or "pos_m" not in s:
            raise ValueError(f"{where}: stop {sid} needs 'lane' and 'pos_m'")
        out.append(BusStopSpec(id=str(sid), lane=str(s["lane"]), pos_m=float(s["pos_m"]),
                               length_m=float(s.get("length_m", 20.0)),
                               name=str(s.get("name", sid))))
    return tuple(out)


def _bus_lines(rows: Any, stops: tuple[BusStopSpec, ...], where: str
               ) -> tuple[BusLineSpec, ...]:
    known = {s.id for s in stops}
    out = []
    for row in rows or []:
        if not isinstance(row, dict) or "line" not in row or "route" not in row:
            raise ValueError(f"{where}: each bus line needs 'line' and 'route: [edges]'")
        line = str(row["line"])
        missing = [s for s in row.get("stops", []) if str(s) not in known]
        if missing:
            raise ValueError(f"{where}: line {line} serves unknown stop(s) "
                             + ", ".join(map(str, missing)))
        per_hour = row.get("per_hour") or {}
        if not isinstance(per_hour, dict) or any(float(v) < 0 for v in per_hour.values()):
            raise ValueError(f"{where}: line {line}: 'per_hour' must map periods to "
                             "non-negative bus counts")
        out.append(BusLineSpec(
            line=line, route=tuple(str(e) for e in row["route"]),
            stops=tuple(str(s) for s in row.get("stops", [])),
            dwell_s=float(row.get("dwell_s", 20.0)),
            per_hour=tuple((str(k), float(v)) for k, v in per_hour.items())))
    return tuple(out)


def _junction_spec(tls: str, data: Any, where: str) -> JunctionSpec:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping")
    unknown = set(data) - _JUNCTION_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    groups = []
    for name, g in _require(data, "groups", where).items():
        kind_text = _require(g, "kind", f"{where}: group {name}")
        try:
            kind = GroupKind(kind_text)
        except ValueError:
            raise ValueError(f"{where}: group {name} has unknown kind {kind_text!r}") from None
        movements = tuple((str(a), str(b)) for a, b in g.get("movements", []))
        crossing = tuple(str(e) for e in g.get("crossing", []))
        if kind is GroupKind.PEDESTRIAN and not crossing:
            raise ValueError(f"{where}: pedestrian group {name} needs 'crossing: [edges]'")
        if kind is not GroupKind.PEDESTRIAN and not movements:
            raise ValueError(f"{where}: group {name} needs 'movements: [[from, to], ...]'")
        groups.append(GroupSpec(name=str(name), kind=kind, movements=movements,
                                crossing=crossing, speed_kmh=float(g.get("speed_kmh", 50.0)),
                                turn=bool(g.get("turn", False))))
    stages = tuple((str(n), tuple(str(x) for x in members))
                   for n, members in _require(data, "stages", where).items())
    plans = []
    for pname, p in (data.get("plans") or {}).items():
        raw = _require(p, "greens", f"{where}: plan {pname}")
        greens = tuple((str(s), float(v)) for s, v in raw.items())
        plans.append(PlanSpec(name=str(pname), greens=greens,
                              offset_s=float(p.get("offset_s", 0.0))))
    if not plans:
        raise ValueError(f"{where}: at least one fixed-time plan is needed under 'plans'")
    return JunctionSpec(
        tls=tls, title=str(data.get("name", tls)), groups=tuple(groups),
        compatible=tuple((str(a), str(b)) for a, b in data.get("compatible", [])),
        stages=stages, plans=tuple(plans))


def load_spec(path: str | Path) -> ScenarioSpec:
    """Read and validate a ``scenario.yaml``; raises ValueError naming what is wrong."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read scenario file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    where = str(path)
    junctions_data = _require(data, "junctions", where)
    if not isinstance(junctions_data, dict) or not junctions_data:
        raise ValueError(f"{where}: 'junctions' must map traffic-light ids to their signals")
    junctions = tuple(_junction_spec(str(tls), j, f"{where}: junction {tls}")
                      for tls, j in junctions_data.items())
    d = _require(data, "demand", where)
    unknown = set(d) - _DEMAND_KEYS
    if unknown:
        raise ValueError(f"{where}: demand: unknown key(s) {', '.join(sorted(unknown))}")
    bus_stops = _bus_stops(d.get("bus_stops") or {}, f"{where}: demand.bus_stops")
    demand = DemandSpec(
        period=str(d.get("period", "morning_peak")),
        begin_s=float(d.get("begin_s", 0.0)),
        duration_s=float(d.get("duration_s", 3600.0)),
        truck_share=float(d.get("truck_share", 0.05)),
        vehicles=_flows(d.get("vehicles"), f"{where}: demand.vehicles"),
        bicycles=_flows(d.get("bicycles"), f"{where}: demand.bicycles"),
        pedestrians=_flows(d.get("pedestrians"), f"{where}: demand.pedestrians"),
        arms=tuple((str(a), str(b)) for a, b in d.get("arms") or []),
        bus_stops=bus_stops,
        bus_lines=_bus_lines(d.get("bus_lines"), bus_stops, f"{where}: demand.bus_lines"),
    )
    det = data.get("detectors") or {}
    loc = data.get("location") or {}
    return ScenarioSpec(
        name=str(_require(data, "name", where)),
        title=str(data.get("title", data["name"])),
        folder=path.parent,
        lon=float(loc.get("lon", 0.0)),
        lat=float(loc.get("lat", 0.0)),
        sources={str(k): str(v) for k, v in _require(data, "sources", where).items()},
        netconvert_options=tuple(str(o) for o in data.get("netconvert_options", [])),
        junctions=junctions,
        demand=demand,
        detectors=DetectorSpec(
            stopline_offset_m=float(det.get("stopline_offset_m", 2.0)),
            upstream_distance_m=float(det.get("upstream_distance_m", 35.0)),
            sensing=_sensing_name(det.get("sensing", "loops"), f"{where}: detectors.sensing"),
        ),
    )
