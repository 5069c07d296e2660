"""Read what ampel needs from a SUMO ``.net.xml``: controlled links, lanes, foes, shapes.

Pure XML parsing (no traci/libsumo), so it can run before a simulation starts.
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from signals.errors import ScenarioError

Point = tuple[float, float]


@dataclass(frozen=True)
class Lane:
    """One lane of the network."""

    id: str
    edge: str
    index: int
    length: float
    speed: float
    allow: frozenset[str]
    disallow: frozenset[str]
    shape: tuple[Point, ...]

    def permits(self, vclass: str) -> bool:
        """Whether the lane admits the vehicle class (SUMO allow/disallow semantics)."""
        if self.allow:
            return vclass in self.allow or "all" in self.allow
        return vclass not in self.disallow


@dataclass(frozen=True)
class ControlledLink:
    """One signal-controlled connection: a SUMO link index of a traffic light."""

    tls: str
    index: int
    from_edge: str
    to_edge: str
    from_lane: str
    to_lane: str
    direction: str
    via: tuple[str, ...]
    crossing_edges: tuple[str, ...] = ()

    @property
    def is_crossing(self) -> bool:
        """True for a pedestrian crossing link."""
        return bool(self.crossing_edges)

    @property
    def is_connected(self) -> bool:
        """False for the placeholder of a state index that controls no connection."""
        return bool(self.from_lane)


@dataclass(frozen=True)
class Junction:
    """A junction's link foes (``foes[i][j]``) and yield relations (``response[i][j]``).

    ``int_lanes[i]`` is the internal lane of request index ``i`` (SUMO's ``intLanes``).
    """

    id: str
    foes: tuple[tuple[bool, ...], ...]
    response: tuple[tuple[bool, ...], ...]
    int_lanes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Phase:
    """One phase of a traffic-light program (``minDur``/``maxDur`` are None when absent)."""

    duration_s: float
    state: str
    min_dur_s: float | None = None
    max_dur_s: float | None = None


@dataclass(frozen=True)
class TlProgram:
    """One ``<tlLogic>``: a traffic light's program as SUMO loads it."""

    tls: str
    program_id: str
    type: str
    offset_s: float
    phases: tuple[Phase, ...]
    source: Path

    @property
    def cycle_s(self) -> float:
        """Sum of the phase durations."""
        return sum(p.duration_s for p in self.phases)


@dataclass
class NetFile:
    """Parsed network: lanes, edges, controlled links per traffic light, junction foes."""

    path: Path
    lanes: dict[str, Lane] = field(default_factory=dict)
    edge_functions: dict[str, str] = field(default_factory=dict)
    crossing_edges: dict[str, tuple[str, ...]] = field(default_factory=dict)
    links: dict[str, list[ControlledLink]] = field(default_factory=dict)
    junctions: dict[str, Junction] = field(default_factory=dict)
    tls_junctions: dict[str, list[str]] = field(default_factory=dict)
    static_programs: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    #: every program of the network file per traffic light, in file order
    programs: dict[str, list[TlProgram]] = field(default_factory=dict)
    projection: str = ""
    net_offset: Point = (0.0, 0.0)

    @property
    def tls_ids(self) -> list[str]:
        """Traffic-light ids in network order."""
        return list(self.links)

    def lane_path(self, link: ControlledLink) -> tuple[Point, ...]:
        """Polyline a road user follows through the junction on this link."""
        points: list[Point] = []
        for lane_id in link.via:
            lane = self.lanes.get(lane_id)
            if lane is not None:
                points.extend(lane.shape)
        if not points:
            for lane_id in (link.from_lane, link.to_lane):
                lane = self.lanes.get(lane_id)
                if lane is not None:
                    points.append(lane.shape[-1] if lane_id == link.from_lane else lane.shape[0])
        return tuple(points)


def _shape(text: str | None) -> tuple[Point, ...]:
    if not text:
        return ()
    pts = []
    for pair in text.split():
        x, y = pair.split(",")[:2]
        pts.append((float(x), float(y)))
    return tuple(pts)


def _bits(text: str) -> tuple[bool, ...]:
    # SUMO writes link 0 as the LAST character
    return tuple(ch == "1" for ch in reversed(text))


def read_net(path: str | Path) -> NetFile:
    """Parse a SUMO network file (plain or gzipped)."""
    path = Path(path)
    if not path.exists():
        raise ScenarioError(f"network file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            root = ET.parse(fh).getroot()
    except ET.ParseError as exc:
        raise ScenarioError(f"{path} is not a valid SUMO network: {exc}") from None
    net = NetFile(path=path)
    loc = root.find("location")
    if loc is not None:
        net.projection = loc.get("projParameter", "")
        off = loc.get("netOffset", "0,0").split(",")
        net.net_offset = (float(off[0]), float(off[1]))
    for edge in root.iter("edge"):
        eid = edge.get("id", "")
        net.edge_functions[eid] = edge.get("function", "normal")
        if edge.get("function") == "crossing":
            net.crossing_edges[eid] = tuple(edge.get("crossingEdges", "").split())
        for lane in edge.iter("lane"):
            net.lanes[lane.get("id", "")] = Lane(
                id=lane.get("id", ""),
                edge=eid,
                index=int(lane.get("index", "0")),
                length=float(lane.get("length", "0")),
                speed=float(lane.get("speed", "13.89")),
                allow=frozenset((lane.get("allow") or "").split()),
                disallow=frozenset((lane.get("disallow") or "").split()),
                shape=_shape(lane.get("shape")),
            )
    via_next: dict[str, str] = {}
    raw_links = []
    for con in root.iter("connection"):
        frm = con.get("from", "")
        via = con.get("via")
        if frm.startswith(":") and via:
            # continuation of an internal lane (e.g. left turn with an internal junction)
            via_next[f"{frm}_{con.get('fromLane', '0')}"] = via
        if con.get("tl") is not None and con.get("linkIndex") is not None:
            raw_links.append(con)
    for con in raw_links:
        tls = con.get("tl", "")
        frm, to = con.get("from", ""), con.get("to", "")
        via_chain: list[str] = []
        via = con.get("via")
        while via and via not in via_chain:
            via_chain.append(via)
            via = via_next.get(via)
        if to in net.crossing_edges:
            via_chain = [f"{to}_0"]
        link = ControlledLink(
            tls=tls,
            index=int(con.get("linkIndex", "0")),
            from_edge=frm,
            to_edge=to,
            from_lane=f"{frm}_{con.get('fromLane', '0')}",
            to_lane=f"{to}_{con.get('toLane', '0')}",
            direction=con.get("dir", "s"),
            via=tuple(via_chain),
            crossing_edges=net.crossing_edges.get(to, ()),
        )
        net.links.setdefault(tls, []).append(link)
    for tls in net.links:
        net.links[tls].sort(key=lambda lk: lk.index)
    for junction in root.iter("junction"):
        requests = junction.findall("request")
        if not requests:
            continue
        foes = [(int(r.get("index", "0")), _bits(r.get("foes", ""))) for r in requests]
        resp = [(int(r.get("index", "0")), _bits(r.get("response", ""))) for r in requests]
        foes.sort()
        resp.sort()
        net.junctions[junction.get("id", "")] = Junction(
            id=junction.get("id", ""),
            foes=tuple(f for _, f in foes),
            response=tuple(r for _, r in resp),
            int_lanes=tuple((junction.get("intLanes") or "").split()),
        )
    for tl in root.iter("tlLogic"):
        program = _tl_program(tl, path)
        net.programs.setdefault(program.tls, []).append(program)
        net.static_programs.setdefault(
            program.tls, [(p.duration_s, p.state) for p in program.phases])
    for tls, links in net.links.items():
        net.tls_junctions[tls] = sorted(
            {_junction_of(net, lk) for lk in links if _junction_of(net, lk)}
        )
    return net


def _junction_of(net: NetFile, link: ControlledLink) -> str:
    """Junction id that holds the link's internal lane (``:J_3_0`` → ``J``)."""
    for lane_id in link.via:
        edge = net.lanes[lane_id].edge if lane_id in net.lanes else lane_id.rsplit("_", 1)[0]
        name = edge.lstrip(":")
        return name.rsplit("_", 1)[0]
    return ""


def _seconds(el: ET.Element, key: str, path: Path) -> float | None:
    text = el.get(key)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise ScenarioError(f"{path}: tlLogic {el.get('id', '')!r}: {key} {text!r} is not a "
                            "number") from None


def _tl_program(tl: ET.Element, path: Path) -> TlProgram:
    phases = tuple(Phase(duration_s=_seconds(p, "duration", path) or 0.0,
                         state=p.get("state", ""),
                         min_dur_s=_seconds(p, "minDur", path),
                         max_dur_s=_seconds(p, "maxDur", path)) for p in tl.iter("phase"))
    return TlProgram(tls=tl.get("id", ""), program_id=tl.get("programID", "0"),
                     type=tl.get("type", "static"), offset_s=_seconds(tl, "offset", path) or 0.0,
                     phases=phases, source=path)


def _file_programs(path: Path) -> list[tuple[ET.Element, TlProgram]]:
    """The ``<tlLogic>`` elements of an additional file, read as a stream."""
    found = []
    try:
        for _event, el in ET.iterparse(path, events=("end",)):
            if el.tag == "tlLogic":
                found.append((el, _tl_program(el, path)))
            elif el.tag not in ("phase", "param", "condition", "assignment", "function"):
                el.clear()
    except (ET.ParseError, OSError) as exc:
        raise ScenarioError(f"{path} does not parse: {exc}") from None
    return found


def active_programs(net: NetFile, additional: tuple[Path, ...] = ()) -> dict[str, TlProgram]:
    """The program each traffic light starts with, as SUMO chooses it.

    Programs come from the network and then from the additional files in load order; the
    program loaded last for a traffic light is the one SUMO runs (a later file wins). A
    ``<tlLogic>`` without phases selects an already loaded program by ``programID``.
    Errors are one-line ``ValueError``: a file that does not parse, a tlLogic for a
    traffic light the network does not have, an unknown programID.
    """
    loaded: dict[str, dict[str, TlProgram]] = {}
    active: dict[str, TlProgram] = {}
    for tls, programs in net.programs.items():
        for program in programs:
            loaded.setdefault(tls, {})[program.program_id] = program
            active.setdefault(tls, program)  # the network's first program runs by default
    for path in additional:
        for _el, program in _file_programs(Path(path)):
            where = f"{path}: tlLogic {program.tls!r}"
            if program.tls not in net.links:
                raise ScenarioError(f"{where}: the network has no such traffic light")
            if not program.phases:
                known = loaded.get(program.tls, {})
                if program.program_id not in known:
                    raise ScenarioError(f"{where}: unknown programID {program.program_id!r} "
                                        f"(loaded: {', '.join(sorted(known)) or 'none'})")
                active[program.tls] = known[program.program_id]
                continue
            loaded.setdefault(program.tls, {})[program.program_id] = program
            active[program.tls] = program
    return active
