"""Scenario sources as dataclasses: what a ``scenario.yaml`` says, validated on load."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from signals import GroupKind

_TOP_KEYS = {
    "name", "title", "location", "sources", "netconvert_options", "junctions", "demand",
    "detectors",
}
_JUNCTION_KEYS = {"groups", "compatible", "stages", "plans", "name"}


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
class DemandSpec:
    """Hourly flows per movement for one period; departures are drawn per seed."""

    period: str
    begin_s: float
    duration_s: float
    truck_share: float
    vehicles: tuple[tuple[str, str, float], ...]
    bicycles: tuple[tuple[str, str, float], ...] = ()
    pedestrians: tuple[tuple[str, str, float], ...] = ()


@dataclass(frozen=True)
class DetectorSpec:
    """Where loops sit: at the stop line and upstream, in metres before the stop line."""

    stopline_offset_m: float = 2.0
    upstream_distance_m: float = 35.0


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
    demand = DemandSpec(
        period=str(d.get("period", "morning_peak")),
        begin_s=float(d.get("begin_s", 0.0)),
        duration_s=float(d.get("duration_s", 3600.0)),
        truck_share=float(d.get("truck_share", 0.05)),
        vehicles=_flows(d.get("vehicles"), f"{where}: demand.vehicles"),
        bicycles=_flows(d.get("bicycles"), f"{where}: demand.bicycles"),
        pedestrians=_flows(d.get("pedestrians"), f"{where}: demand.pedestrians"),
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
        ),
    )
