"""Read what ampel needs from a SUMO ``.net.xml``: controlled links, lanes, foes, shapes.

Pure XML parsing (no traci/libsumo), so it can run before a simulation starts.
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass(frozen=True)
class Junction:
    """A junction's link foes (``foes[i][j]``) and yield relations (``response[i][j]``).

    ``int_lanes[i]`` is the internal lane of request index ``i`` (SUMO's ``intLanes``).
    """

    id: str
    foes: tuple[tuple[bool, ...], ...]
    response: tuple[tuple[bool, ...], ...]
    int_lanes: tuple[str, ...] = ()


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
        raise ValueError(f"network file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            root = ET.parse(fh).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path} is not a valid SUMO network: {exc}") from None
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
        tid = tl.get("id", "")
        net.static_programs.setdefault(
            tid, [(float(p.get("duration", "0")), p.get("state", "")) for p in tl.iter("phase")]
        )
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
