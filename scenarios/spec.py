"""Scenario sources as dataclasses: what a ``scenario.yaml`` says, validated on load."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scenarios.sensing import SENSING_NAMES
from signals import GroupKind
from signals.errors import ScenarioError
from signals.numbers import MAX_DURATION_S, MAX_FLOW_PER_H, check_number, check_share

if TYPE_CHECKING:
    import yaml

_TOP_KEYS = {
    "name", "title", "location", "sources", "netconvert_options", "junctions", "demand",
    "detectors",
}
_JUNCTION_KEYS = {"groups", "compatible", "stages", "plans", "name"}
_GROUP_KEYS = {"kind", "movements", "crossing", "speed_kmh", "turn"}
#: a scenario name: a plain identifier (it names folders and cache files)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: the longest distance of an upstream loop before the stop line [m]
MAX_UPSTREAM_M = 250.0
#: netconvert options a scenario may pass: switches (optionally with true/false) ...
NETCONVERT_SWITCHES = frozenset({
    "--crossings.guess", "--walkingareas", "--no-turnarounds", "--no-turnarounds.tls",
    "--no-turnarounds.except-deadend", "--sidewalks.guess", "--junctions.join",
    "--tls.guess", "--tls.guess-signals", "--tls.join", "--roundabouts.guess",
    "--ramps.guess", "--no-internal-links", "--lefthand", "--geometry.remove",
    "--junctions.scurve-stretch", "--check-lane-foes.all", "--check-lane-foes.roundabout",
})
#: ... and options that take one number
NETCONVERT_NUMBERS = frozenset({
    "--junctions.corner-detail", "--junctions.join-dist", "--default.lanewidth",
    "--default.speed", "--default.lanenumber", "--tls.yellow.time", "--tls.red.time",
    "--tls.allred.time", "--tls.min-dur", "--tls.max-dur", "--crossings.guess.speed-threshold",
    "--sidewalks.guess.min-speed", "--junctions.internal-link-detail",
    "--junctions.limit-turn-speed", "--default.crossing-width", "--tls.guess.threshold",
})


def check_scenario_name(name: Any, where: str) -> str:
    """A scenario name: letters, digits, '-' and '_' (no path separators, no '..')."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ScenarioError(f"{where}: scenario name {name!r} must be letters, digits, '-' or "
                            "'_' (at most 64, not starting with '-' or '_')")
    return name


def check_netconvert_options(options: Any, where: str) -> tuple[str, ...]:
    """Scenario netconvert options, restricted to known-safe ones (no file or output
    options: a shared scenario must not read or write files outside its folder)."""
    if options is None:
        return ()
    if not isinstance(options, list):
        raise ScenarioError(f"{where}: netconvert_options must be a list, got {options!r}")
    out: list[str] = []
    items = [str(o) for o in options]
    i = 0
    while i < len(items):
        opt = items[i]
        nxt = items[i + 1] if i + 1 < len(items) else None
        if opt in NETCONVERT_SWITCHES:
            out.append(opt)
            if nxt in ("true", "false"):
                out.append(nxt)
                i += 1
        elif opt in NETCONVERT_NUMBERS:
            check_number(nxt, f"{where}: netconvert option {opt}")
            out += [opt, str(nxt)]
            i += 1
        else:
            raise ScenarioError(f"{where}: netconvert option {opt!r} is not allowed (only "
                                "network-shaping switches such as --crossings.guess; no file "
                                "or output options)")
        i += 1
    return tuple(out)


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
    raise ScenarioError(f"{where} has no plan {name!r} (known: {known})")


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
        raise ScenarioError(f"{where}: unknown sensing profile {value!r} "
                            f"(known: {', '.join(SENSING_NAMES)})")
    return str(value)


def _require(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise ScenarioError(f"{where}: missing key {key!r}")
    return data[key]


def _mapping(value: Any, where: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: expected a mapping, got "
                            f"{type(value).__name__} {value!r:.40}")
    return value


def _seq(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise ScenarioError(f"{where}: expected a list, got {value!r:.40}")
    return list(value)


def _pairs(value: Any, where: str) -> list[tuple[Any, Any]]:
    rows = _seq(value or [], where)
    for row in rows:
        if not (isinstance(row, list | tuple) and len(row) == 2):
            raise ScenarioError(f"{where}: expected pairs [a, b], got {row!r:.40}")
    return [tuple(r) for r in rows]


def yaml_error_line(path: Path, exc: yaml.YAMLError) -> str:
    """One line: file, line, column and the problem of a YAML syntax error."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"{path}:{mark.line + 1}:{mark.column + 1}: invalid YAML: {problem}"
    return f"{path}: invalid YAML: {problem}"


def _flows(rows: Any, where: str) -> tuple[tuple[str, str, float], ...]:
    out = []
    for row in rows or []:
        if not (isinstance(row, list | tuple) and len(row) == 3):
            raise ScenarioError(f"{where}: each flow must be [from_edge, to_edge, per_hour], "
                                f"got {row!r}")
        frm, to, flow = row
        flow = check_number(flow, f"{where}: flow {frm}->{to}", low=0.0, high=MAX_FLOW_PER_H)
        out.append((str(frm), str(to), float(flow)))
    return tuple(out)


def _bus_stops(data: Any, where: str) -> tuple[BusStopSpec, ...]:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a mapping of stop ids to {{lane, pos_m}}")
    out = []
    for sid, s in data.items():
        if not isinstance(s, dict) or "lane" not in s or "pos_m" not in s:
            raise ScenarioError(f"{where}: stop {sid} needs 'lane' and 'pos_m'")
        out.append(BusStopSpec(id=str(sid), lane=str(s["lane"]),
                               pos_m=check_number(s["pos_m"], f"{where}: {sid}.pos_m", low=0.0),
                               length_m=check_number(s.get("length_m", 20.0),
                                                     f"{where}: {sid}.length_m", low=0.0,
                                                     low_open=True),
                               name=str(s.get("name", sid))))
    return tuple(out)


def _bus_lines(rows: Any, stops: tuple[BusStopSpec, ...], where: str
               ) -> tuple[BusLineSpec, ...]:
    known = {s.id for s in stops}
    out = []
    for row in rows or []:
        if not isinstance(row, dict) or "line" not in row or "route" not in row:
            raise ScenarioError(f"{where}: each bus line needs 'line' and 'route: [edges]'")
        line = str(row["line"])
        missing = [s for s in row.get("stops", []) if str(s) not in known]
        if missing:
            raise ScenarioError(f"{where}: line {line} serves unknown stop(s) "
                                + ", ".join(map(str, missing)))
        per_hour = row.get("per_hour") or {}
        if not isinstance(per_hour, dict):
            raise ScenarioError(f"{where}: line {line}: 'per_hour' must map periods to "
                                "non-negative bus counts")
        per_hour = {k: check_number(v, f"{where}: line {line}: per_hour.{k}", low=0.0,
                                    high=120.0) for k, v in per_hour.items()}
        out.append(BusLineSpec(
            line=line, route=tuple(str(e) for e in row["route"]),
            stops=tuple(str(s) for s in row.get("stops", [])),
            dwell_s=check_number(row.get("dwell_s", 20.0), f"{where}: line {line}: dwell_s",
                                 low=0.0, high=600.0),
            per_hour=tuple((str(k), float(v)) for k, v in per_hour.items())))
    return tuple(out)


def _junction_spec(tls: str, data: Any, where: str) -> JunctionSpec:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a mapping")
    unknown = set(data) - _JUNCTION_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    groups = []
    groups_data = _require(data, "groups", where)
    if not isinstance(groups_data, dict) or not groups_data:
        raise ScenarioError(f"{where}: 'groups' must map group names to {{kind, movements}}, "
                            f"got a {type(groups_data).__name__}")
    for name, g in groups_data.items():
        if not isinstance(g, dict):
            raise ScenarioError(f"{where}: group {name} must be a mapping with 'kind'")
        unknown = set(g) - _GROUP_KEYS
        if unknown:
            raise ScenarioError(f"{where}: group {name}: unknown key(s) "
                                f"{', '.join(sorted(map(str, unknown)))} (known: "
                                f"{', '.join(sorted(_GROUP_KEYS))}; timings come from the "
                                "group kind)")
        kind_text = _require(g, "kind", f"{where}: group {name}")
        try:
            kind = GroupKind(kind_text)
        except ValueError:
            raise ScenarioError(f"{where}: group {name} has unknown kind {kind_text!r}") from None
        movements = tuple((str(a), str(b)) for a, b in _pairs(g.get("movements", []),
                                                               f"{where}: group {name}.movements"))
        crossing = tuple(str(e) for e in _seq(g.get("crossing", []),
                                              f"{where}: group {name}.crossing"))
        if kind is GroupKind.PEDESTRIAN and not crossing:
            raise ScenarioError(f"{where}: pedestrian group {name} needs 'crossing: [edges]'")
        if kind is not GroupKind.PEDESTRIAN and not movements:
            raise ScenarioError(f"{where}: group {name} needs 'movements: [[from, to], ...]'")
        groups.append(GroupSpec(name=str(name), kind=kind, movements=movements,
                                crossing=crossing,
                                speed_kmh=check_number(g.get("speed_kmh", 50.0),
                                                       f"{where}: group {name}.speed_kmh",
                                                       low=0.0, low_open=True, high=130.0),
                                turn=bool(g.get("turn", False))))
    stages = tuple((str(n), tuple(str(x) for x in _seq(members, f"{where}: stage {n}")))
                   for n, members in _mapping(_require(data, "stages", where),
                                              f"{where}: stages").items())
    plans = []
    for pname, p in _mapping(data.get("plans") or {}, f"{where}: plans").items():
        raw = _mapping(_require(_mapping(p, f"{where}: plan {pname}"), "greens",
                                f"{where}: plan {pname}"), f"{where}: plan {pname}.greens")
        greens = tuple((str(s), check_number(v, f"{where}: plan {pname}.greens.{s}", low=0.0,
                                             high=MAX_DURATION_S))
                       for s, v in raw.items())
        plans.append(PlanSpec(name=str(pname), greens=greens,
                              offset_s=check_number(p.get("offset_s", 0.0),
                                                    f"{where}: plan {pname}.offset_s")))
    if not plans:
        raise ScenarioError(f"{where}: at least one fixed-time plan is needed under 'plans'")
    return JunctionSpec(
        tls=tls, title=str(data.get("name", tls)), groups=tuple(groups),
        compatible=tuple((str(a), str(b)) for a, b in _pairs(data.get("compatible", []),
                                                             f"{where}: compatible")),
        stages=stages, plans=tuple(plans))


def _sources(data: Any, where: str) -> dict[str, str]:
    """Source files: plain names inside the scenario folder (no absolute paths, no '..')."""
    out = {}
    for key, rel in _mapping(data, f"{where}: sources").items():
        text = str(rel)
        if Path(text).is_absolute() or ".." in Path(text).parts:
            raise ScenarioError(f"{where}: sources.{key}: {text!r} must be a file inside the "
                                "scenario folder")
        out[str(key)] = text
    return out


def load_spec(path: str | Path) -> ScenarioSpec:
    """Read and validate a ``scenario.yaml``; raises ValueError naming what is wrong.

    A value of the wrong shape that no check names (a number where a list belongs, ...)
    is still one ValueError naming the file, never a traceback.
    """
    try:
        return _load_spec(Path(path))
    except (TypeError, AttributeError, KeyError, IndexError) as exc:
        raise ScenarioError(f"{path}: malformed scenario file ({type(exc).__name__}: {exc}); "
                            "compare with scenarios/hamm/westentor/scenario.yaml") from None


def _load_spec(path: Path) -> ScenarioSpec:
    import yaml  # here: external scenarios and most commands never read a scenario file

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(yaml_error_line(path, exc)) from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping at the top level")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ScenarioError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    where = str(path)
    junctions_data = _require(data, "junctions", where)
    if not isinstance(junctions_data, dict) or not junctions_data:
        raise ScenarioError(f"{where}: 'junctions' must map traffic-light ids to their signals")
    junctions = tuple(_junction_spec(str(tls), j, f"{where}: junction {tls}")
                      for tls, j in junctions_data.items())
    d = _mapping(_require(data, "demand", where), f"{where}: demand")
    unknown = set(d) - _DEMAND_KEYS
    if unknown:
        raise ScenarioError(f"{where}: demand: unknown key(s) {', '.join(sorted(unknown))}")
    bus_stops = _bus_stops(d.get("bus_stops") or {}, f"{where}: demand.bus_stops")
    demand = DemandSpec(
        period=str(d.get("period", "morning_peak")),
        begin_s=check_number(d.get("begin_s", 0.0), f"{where}: demand.begin_s", low=0.0,
                             high=MAX_DURATION_S),
        duration_s=check_number(d.get("duration_s", 3600.0), f"{where}: demand.duration_s",
                                low=0.0, low_open=True, high=MAX_DURATION_S),
        truck_share=check_share(d.get("truck_share", 0.05), f"{where}: demand.truck_share"),
        vehicles=_flows(d.get("vehicles"), f"{where}: demand.vehicles"),
        bicycles=_flows(d.get("bicycles"), f"{where}: demand.bicycles"),
        pedestrians=_flows(d.get("pedestrians"), f"{where}: demand.pedestrians"),
        arms=tuple((str(a), str(b)) for a, b in _pairs(d.get("arms") or [],
                                                       f"{where}: demand.arms")),
        bus_stops=bus_stops,
        bus_lines=_bus_lines(d.get("bus_lines"), bus_stops, f"{where}: demand.bus_lines"),
    )
    det = _mapping(data.get("detectors") or {}, f"{where}: detectors")
    unknown = set(det) - {"stopline_offset_m", "upstream_distance_m", "sensing"}
    if unknown:
        raise ScenarioError(f"{where}: detectors: unknown key(s) {', '.join(sorted(unknown))}")
    stopline = check_number(det.get("stopline_offset_m", 2.0),
                            f"{where}: detectors.stopline_offset_m", low=0.0, high=50.0)
    upstream = check_number(det.get("upstream_distance_m", 35.0),
                            f"{where}: detectors.upstream_distance_m", low=stopline,
                            low_open=True, high=MAX_UPSTREAM_M)
    loc = _mapping(data.get("location") or {}, f"{where}: location")
    return ScenarioSpec(
        name=check_scenario_name(_require(data, "name", where), where),
        title=str(data.get("title", data["name"])),
        folder=path.parent,
        lon=check_number(loc.get("lon", 0.0), f"{where}: location.lon", low=-180, high=180),
        lat=check_number(loc.get("lat", 0.0), f"{where}: location.lat", low=-90, high=90),
        sources=_sources(_require(data, "sources", where), where),
        netconvert_options=check_netconvert_options(data.get("netconvert_options"), where),
        junctions=junctions,
        demand=demand,
        detectors=DetectorSpec(
            stopline_offset_m=stopline, upstream_distance_m=upstream,
            sensing=_sensing_name(det.get("sensing", "loops"), f"{where}: detectors.sensing"),
        ),
    )
