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
import math
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
    """veh/h per (from_edge, to_edge) movement at every traffic light of the scenario.

    Car and truck flows are routed; timetabled bus lines follow their given routes.
    """
    vehicles = getattr(scenario.spec.demand, "vehicles", ()) or ()
    out: dict[str, dict[tuple[str, str], float]] = {j.tls: defaultdict(float)
                                                     for j in scenario.junctions}
    succ, lengths = _edge_graph(scenario.net_path)
    pairs: dict[tuple[str, str], str] = {}
    for j in scenario.junctions:
        for lk in j.layout.links:
            if lk.is_connected and not lk.is_crossing:
                pairs[(lk.from_edge, lk.to_edge)] = j.tls
    demand = scenario.spec.demand
    for line in getattr(demand, "bus_lines", ()) or ():
        per_hour = line.buses_per_hour(demand.period) * demand_scale
        for a, b in zip(line.route, line.route[1:], strict=False):
            tls = pairs.get((a, b))
            if tls is not None and per_hour > 0:
                out[tls][(a, b)] += per_hour
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
        if not lk.is_connected or lk.is_crossing:
            continue
        g = groups[layout.link_group[i]]
        if str(g.kind) in vehicle_kinds:
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
        if lk.is_connected and not lk.is_crossing:
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
        if lk.is_connected and not lk.is_crossing:
            dirs[layout.model.groups[layout.link_group[i]].name].add(lk.direction)
    turns = {name for name, d in dirs.items() if d and d <= {"l", "L", "r", "R"}}
    return frozenset(turns) | layout.turning


def permissive_factor(opposing_veh_h: float, critical_gap_s: float = 5.5,
                      follow_up_s: float = 2.5, green_share: float = 0.4,
                      saturation_flow: float = 1800.0) -> float:
    """Saturation-flow factor of a movement that filters through an opposing stream.

    Harders' gap-acceptance capacity ``c = q e^(-q t_c) / (1 - e^(-q t_f))`` with the
    opposing flow ``q`` concentrated in its green (``green_share`` of the cycle).
    """
    q = opposing_veh_h / 3600.0 / green_share
    c = 1.0 / follow_up_s if q <= 1e-9 else q * math.exp(-q * critical_gap_s) / (
        1.0 - math.exp(-q * follow_up_s))
    return max(0.05, min(1.0, c * 3600.0 / saturation_flow))


def lane_loads(junction: Junction, flows: dict[tuple[str, str], float],
               turn_factor: float = 0.9, saturation_flow: float = 1800.0
               ) -> dict[str, tuple[float, float]]:
    """Per approach lane: (veh/h, saturation-flow factor) from the movement flows.

    A movement's flow is split evenly over the vehicle lanes that carry it. The factor is
    the flow-weighted harmonic mean of the lane's movement factors: 1 for through
    traffic, ``turn_factor`` for protected turns, :func:`permissive_factor` of the
    opposing flow for links that must yield to a vehicle stream green in the same stage.
    """
    layout = junction.layout
    model = layout.model
    groups = model.groups
    n = len(layout.links)
    vehicle = [lk.is_connected and not lk.is_crossing
               and str(groups[layout.link_group[i]].kind) in ("vehicle", "bus")
               for i, lk in enumerate(layout.links)]
    together = {(a, b) for st in model.stages for a in st.green for b in st.green}
    lanes_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    factor_of: dict[tuple[str, tuple[str, str]], float] = {}
    for i, lk in enumerate(layout.links):
        if not vehicle[i]:
            continue
        movement = (lk.from_edge, lk.to_edge)
        lanes_of[movement].add(lk.from_lane)
        gi = groups[layout.link_group[i]].name
        opposing = {(layout.links[j].from_edge, layout.links[j].to_edge) for j in range(n)
                    if j != i and layout.response[i][j] and vehicle[j]
                    and (gi, groups[layout.link_group[j]].name) in together}
        if opposing:
            f = permissive_factor(sum(flows.get(m, 0.0) for m in opposing),
                                  saturation_flow=saturation_flow)
        else:
            f = turn_factor if lk.direction in "lrLR" else 1.0
        key = (lk.from_lane, movement)
        factor_of[key] = min(f, factor_of.get(key, 1.0))
    load: dict[str, float] = defaultdict(float)
    inverse: dict[str, float] = defaultdict(float)
    for movement, flow in flows.items():
        lanes = sorted(lanes_of.get(movement, ()))
        for lane in lanes:
            share = flow / len(lanes)
            load[lane] += share
            inverse[lane] += share / factor_of[(lane, movement)]
    return {lane: (load[lane], load[lane] / inverse[lane] if inverse[lane] > 0 else 1.0)
            for lane in load}
