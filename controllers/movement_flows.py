"""Hourly vehicle flows per signal group, from a scenario's origin-destination demand.

Each demand row ``[from_edge, to_edge, veh/h]`` is routed along the shortest path (by
length) over the network's edge connections, as SUMO routes a ``<trip>``; its flow is
added to every signal-controlled movement (edge pair at a traffic light) on that path.
A movement's flow is split over the vehicle links that serve it, and so onto their
signal groups. Pure XML parsing of the built network, no simulator.
"""

from __future__ import annotations

import gzip
import heapq
import logging
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from scenarios.scenario import Junction, Scenario

log = logging.getLogger(__name__)


def _edge_graph(net_path: Path) -> tuple[dict[str, set[str]], dict[str, float]]:
    """Successor edges and edge lengths of the non-internal network (for passenger cars)."""
    opener = gzip.open if net_path.suffix == ".gz" else open
    with opener(net_path, "rb") as fh:
        root = ET.parse(fh).getroot()
    lengths: dict[str, float] = {}
    for edge in root.iter("edge"):
        eid = edge.get("id", "")
        if edge.get("function") in ("internal", "crossing", "walkingarea"):
            continue
        lanes = [ln for ln in edge.iter("lane")
                 if "passenger" not in (ln.get("disallow") or "").split()
                 and (not ln.get("allow") or "passenger" in (ln.get("allow") or "").split())]
        if lanes:
            lengths[eid] = float(lanes[0].get("length", "1"))
    succ: dict[str, set[str]] = defaultdict(set)
    for con in root.iter("connection"):
        frm, to = con.get("from", ""), con.get("to", "")
        if frm in lengths and to in lengths:
            succ[frm].add(to)
    return succ, lengths


def shortest_path(succ: dict[str, set[str]], lengths: dict[str, float], src: str,
                  dst: str) -> list[str] | None:
    """Dijkstra over edges (cost = length of the edges entered); None if unreachable."""
    if src not in lengths or dst not in lengths:
        return None
    dist = {src: 0.0}
    prev: dict[str, str] = {}
    heap = [(0.0, src)]
    while heap:
        d, edge = heapq.heappop(heap)
        if edge == dst:
            path = [dst]
            while path[-1] != src:
                path.append(prev[path[-1]])
            return path[::-1]
        if d > dist.get(edge, float("inf")):
            continue
        for nxt in sorted(succ.get(edge, ())):
            nd = d + lengths[nxt]
            if nd < dist.get(nxt, float("inf")):
                dist[nxt] = nd
                prev[nxt] = edge
                heapq.heappush(heap, (nd, nxt))
    return None


def movement_flows(scenario: Scenario, demand_scale: float = 1.0
                   ) -> dict[str, dict[tuple[str, str], float]]:
    """veh/h per (from_edge, to_edge) movement at every traffic light of the scenario."""
    vehicles = getattr(scenario.spec.demand, "vehicles", ()) or ()
    out: dict[str, dict[tuple[str, str], float]] = {j.tls: defaultdict(float)
                                                     for j in scenario.junctions}
    if not vehicles:
        return out
    succ, lengths = _edge_graph(scenario.net_path)
    pairs: dict[tuple[str, str], str] = {}
    for j in scenario.junctions:
        for lk in j.layout.links:
            if not lk.is_crossing:
                pairs[(lk.from_edge, lk.to_edge)] = j.tls
    cache: dict[tuple[str, str], list[str] | None] = {}
    for frm, to, flow in vehicles:
        key = (frm, to)
        if key not in cache:
            cache[key] = shortest_path(succ, lengths, frm, to)
            if cache[key] is None:
                log.warning("no route from %s to %s; its flow is ignored", frm, to)
        path = cache[key]
        if not path:
            continue
        for a, b in zip(path, path[1:], strict=False):
            tls = pairs.get((a, b))
            if tls is not None:
                out[tls][(a, b)] += flow * demand_scale
    return out


def group_flows(junction: Junction, flows: dict[tuple[str, str], float]) -> dict[str, float]:
    """veh/h per signal group: each movement's flow split evenly over its vehicle links."""
    layout = junction.layout
    groups = layout.model.groups
    vehicle_kinds = {"vehicle", "bus"}
    by_movement: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, lk in enumerate(layout.links):
        g = groups[layout.link_group[i]]
        if not lk.is_crossing and str(g.kind) in vehicle_kinds:
            by_movement[(lk.from_edge, lk.to_edge)].append(layout.link_group[i])
    out: dict[str, float] = {g.name: 0.0 for g in groups}
    for movement, flow in flows.items():
        members = by_movement.get(movement)
        if not members:
            continue
        for gi in members:
            out[groups[gi].name] += flow / len(members)
    return out


def group_lanes(junction: Junction) -> dict[str, float]:
    """Effective number of approach lanes per signal group (shared lanes split evenly)."""
    layout = junction.layout
    groups_of_lane: dict[str, set[int]] = defaultdict(set)
    for i, lk in enumerate(layout.links):
        if not lk.is_crossing:
            groups_of_lane[lk.from_lane].add(layout.link_group[i])
    out: dict[str, float] = {g.name: 0.0 for g in layout.model.groups}
    for members in groups_of_lane.values():
        for gi in members:
            out[layout.model.groups[gi].name] += 1.0 / len(members)
    return out


def turning_groups(junction: Junction) -> frozenset[str]:
    """Groups that are turns: declared so, or all of whose links turn left or right."""
    layout = junction.layout
    dirs: dict[str, set[str]] = defaultdict(set)
    for i, lk in enumerate(layout.links):
        if not lk.is_crossing:
            dirs[layout.model.groups[layout.link_group[i]].name].add(lk.direction)
    turns = {name for name, d in dirs.items() if d and d <= {"l", "L", "r", "R"}}
    return frozenset(turns) | layout.turning
