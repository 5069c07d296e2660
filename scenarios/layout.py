"""A junction's signal layout in SUMO: which links each signal group drives, the conflict
and intergreen matrices derived from the network, and the SUMO state string encoder."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from scenarios.intergreen import IntergreenParameters, PathCache, intergreen_s
from scenarios.netfile import ControlledLink, NetFile
from scenarios.spec import GroupSpec, JunctionSpec
from signals import Colour, GroupKind, SignalGroup, SignalModel, Stage
from signals.errors import ScenarioError

#: ``link_group`` entry of a state index that controls no connection (no signal group)
NO_GROUP = -1


def unconnected_link(tls: str, index: int) -> ControlledLink:
    """Placeholder for a state index that controls no connection (SUMO allows such
    indices): no lanes, no movement, never a foe; the encoder shows it red."""
    return ControlledLink(tls=tls, index=index, from_edge="", to_edge="", from_lane="",
                          to_lane="", direction="", via=())


def _link_matches(net: NetFile, link: ControlledLink, group: GroupSpec) -> bool:
    if group.kind is GroupKind.PEDESTRIAN:
        return link.is_crossing and set(link.crossing_edges) == set(group.crossing)
    if link.is_crossing or (link.from_edge, link.to_edge) not in group.movements:
        return False
    lane = net.lanes.get(link.from_lane)
    if lane is None:
        return False
    if group.kind is GroupKind.BICYCLE:
        return lane.permits("bicycle") and not lane.permits("passenger")
    if group.kind is GroupKind.BUS:
        return lane.permits("bus") and not lane.permits("passenger")
    return lane.permits("passenger")


@dataclass(frozen=True)
class JunctionLayout:
    """Signal model of one traffic light plus its mapping onto SUMO link indices.

    ``links`` and ``link_group`` have one entry per state index; an index that controls no
    connection holds :func:`unconnected_link` and :data:`NO_GROUP`. ``connections`` has,
    per state index, every connection it drives (SUMO lets one index drive several, e.g.
    the through movements of two lanes); ``links`` holds the first of them.
    """

    tls: str
    model: SignalModel
    link_group: tuple[int, ...]
    links: tuple[ControlledLink, ...]
    response: np.ndarray
    turning: frozenset[str]
    connections: tuple[tuple[ControlledLink, ...], ...] = ()

    def _lane_links(self) -> list[tuple[int, ControlledLink]]:
        """(state index, connection) of every connected connection, in index order."""
        if not self.connections:
            return [(i, lk) for i, lk in enumerate(self.links) if lk.is_connected]
        return [(i, lk) for i, cons in enumerate(self.connections) for lk in cons
                if lk.is_connected]

    @property
    def group_names(self) -> tuple[str, ...]:
        """Signal group names in model order."""
        return tuple(g.name for g in self.model.groups)

    def groups_of_lane(self, lane_id: str) -> tuple[str, ...]:
        """Signal groups whose links start on the given lane."""
        names = {self.model.groups[self.link_group[i]].name
                 for i, lk in self._lane_links()
                 if lk.from_lane == lane_id and self.link_group[i] != NO_GROUP}
        return tuple(sorted(names))

    def link_groups_of_lane(self, lane_id: str) -> tuple[str, ...]:
        """The signal group of every link starting on the lane (one entry per link)."""
        return tuple(self.model.groups[self.link_group[i]].name
                     for i, lk in self._lane_links()
                     if lk.from_lane == lane_id and self.link_group[i] != NO_GROUP)

    def incoming_lanes(self) -> tuple[str, ...]:
        """Signal-controlled approach lanes (no crossings), in link order, unique."""
        seen: dict[str, None] = {}
        for _, lk in self._lane_links():
            if not lk.is_crossing:
                seen.setdefault(lk.from_lane, None)
        return tuple(seen)

    def outgoing_lanes(self, lane_id: str) -> tuple[str, ...]:
        """Lanes that traffic from ``lane_id`` enters after the junction."""
        return tuple(sorted({lk.to_lane for _, lk in self._lane_links()
                             if lk.from_lane == lane_id}))


class StateEncoder:
    """Turns signal-group colours into a SUMO ``setRedYellowGreenState`` string.

    A green link that must yield to another green link (conditionally compatible streams,
    e.g. right turners and parallel pedestrians) gets SUMO's minor green ``g``. A state
    index that controls no connection (:data:`NO_GROUP`) is always red ``r``.
    """

    def __init__(self, layout: JunctionLayout) -> None:
        n_groups = len(layout.model.groups)
        # NO_GROUP indices read the extra red entry appended after the group colours
        self._link_group = np.asarray([n_groups if g == NO_GROUP else g
                                       for g in layout.link_group], dtype=int)
        self._response = layout.response
        self._last: tuple[tuple[Colour, ...], str] | None = None

    def encode(self, states: tuple[Colour, ...]) -> str:
        """SUMO link state string for the given group colours (memoised on the last call)."""
        if self._last is not None and self._last[0] == states:
            return self._last[1]
        chars = np.array([c.value for c in states] + [Colour.RED.value])[self._link_group]
        green = chars == Colour.GREEN.value
        must_yield = (self._response & green[None, :]).any(axis=1) & green
        chars[must_yield] = "g"
        text = "".join(chars.tolist())
        self._last = (states, text)
        return text


def link_relations(net: NetFile, tls: str) -> tuple[tuple[ControlledLink, ...], np.ndarray,
                                                   np.ndarray]:
    """The traffic light's links (one per state index) and their link-level foe (symmetric)
    and response (``[i, j]``: link i yields to link j) matrices.

    Each link is mapped to the request index of the junction that holds it (the position of
    its internal lane in the junction's ``intLanes``), so a traffic light that controls
    a joined cluster of junctions works too: links of different junctions are not foes.
    Networks without internal lanes fall back to link index == request index (one junction).
    Several connections sharing one link index are merged (their foes are OR-ed). A state
    index that controls no connection (SUMO allows it) gets :func:`unconnected_link` and
    is nobody's foe.
    """
    if tls not in net.links:
        raise ScenarioError(f"traffic light {tls!r} not in the network")
    by_index: dict[int, list[ControlledLink]] = {}
    for lk in net.links[tls]:
        by_index.setdefault(lk.index, []).append(lk)
    n = max(by_index) + 1
    where: dict[str, tuple[str, int]] = {}
    for jid in net.tls_junctions.get(tls, []):
        junction = net.junctions.get(jid)
        if junction is not None:
            for r, lane_id in enumerate(junction.int_lanes):
                where[lane_id] = (jid, r)
    requests: list[list[tuple[str, int]]] = []
    for i in range(n):
        found = []
        for lk in by_index.get(i, []):
            # intLanes names the last internal lane of a link split at an internal junction
            hit = next((where[v] for v in lk.via if v in where), None)
            if hit is not None:
                found.append(hit)
            else:
                junctions = net.tls_junctions.get(tls, [])
                if len(junctions) != 1 or junctions[0] not in net.junctions:
                    raise ScenarioError(f"traffic light {tls}: cannot map link {i} "
                                        f"({lk.from_lane}->{lk.to_lane}) to a junction request "
                                        "(network without internal lanes?)")
                found.append((junctions[0], i))
        requests.append(found)
    foes = np.zeros((n, n), dtype=bool)
    response = np.zeros((n, n), dtype=bool)
    for i in range(n):
        for j in range(n):
            for ji, ri in requests[i]:
                for jj, rj in requests[j]:
                    if ji != jj:
                        continue
                    rows = net.junctions[ji]
                    if ri < len(rows.foes) and rj < len(rows.foes[ri]):
                        foes[i, j] |= rows.foes[ri][rj]
                    if ri < len(rows.response) and rj < len(rows.response[ri]):
                        response[i, j] |= rows.response[ri][rj]
    links = tuple(by_index[i][0] if i in by_index else unconnected_link(tls, i)
                  for i in range(n))
    return links, foes | foes.T, response


def assemble_layout(
    tls: str,
    net: NetFile,
    links: tuple[ControlledLink, ...],
    foes: np.ndarray,
    response: np.ndarray,
    link_group: list[int],
    groups: tuple[SignalGroup, ...],
    turns: tuple[bool, ...],
    compatible: set[frozenset[str]],
    stages: tuple[Stage, ...],
    params: IntergreenParameters | None = None,
    min_intergreen_s: dict[str, float] | None = None,
) -> JunctionLayout:
    """Conflicts from link foes, geometric intergreens, and the validated signal model.

    Two groups conflict when any of their links are foes, unless the pair is in
    ``compatible``. ``min_intergreen_s`` raises the intergreens of a clearing group to at
    least the given seconds (e.g. a program's own amber + all-red).
    """
    names = [g.name for g in groups]
    n = len(links)
    members = {gi: [li for li in range(n) if link_group[li] == gi] for gi in range(len(names))}
    conflicts: set[frozenset[str]] = set()
    intergreens: dict[tuple[str, str], float] = {}
    params = params or IntergreenParameters()
    floors = min_intergreen_s or {}
    paths = PathCache()
    connections = connections_by_index(net, tls, links)
    for a, b in combinations(range(len(names)), 2):
        pair = frozenset((names[a], names[b]))
        foe_pairs = [(i, j) for i in members[a] for j in members[b] if foes[i, j]]
        if not foe_pairs or pair in compatible:
            continue
        conflicts.add(pair)
        for c, e in ((a, b), (b, a)):
            worst = floors.get(names[c], 0.0)
            for i, j in foe_pairs:
                lc, le = (i, j) if c == a else (j, i)
                # every connection of the clearing index against every one of the entering
                for clearing in connections[lc]:
                    for entering in connections[le]:
                        worst = max(worst, intergreen_s(
                            groups[c].kind, net.lane_path(clearing),
                            turns[c] or clearing.direction in "lrLR",
                            groups[c].amber_s,
                            groups[e].kind, net.lane_path(entering),
                            turns[e] or entering.direction in "lrLR", params, paths))
            intergreens[(names[c], names[e])] = worst
    try:
        model = SignalModel(groups=groups, conflicts=frozenset(conflicts),
                            intergreens=intergreens, stages=stages)
    except ValueError as exc:
        raise ScenarioError(f"junction {tls}: {exc}") from None
    turning = frozenset(names[i] for i, t in enumerate(turns) if t)
    return JunctionLayout(tls=tls, model=model, link_group=tuple(link_group), links=links,
                          response=response, turning=turning, connections=connections)


def connections_by_index(net: NetFile, tls: str, links: tuple[ControlledLink, ...]
                         ) -> tuple[tuple[ControlledLink, ...], ...]:
    """Per state index of ``links``: every connection of the network it drives (at least
    the link itself; none for an index that controls no connection)."""
    by_index: dict[int, list[ControlledLink]] = {}
    for lk in net.links.get(tls, []):
        by_index.setdefault(lk.index, []).append(lk)
    out: list[tuple[ControlledLink, ...]] = []
    for i, lk in enumerate(links):
        if not lk.is_connected:
            out.append(())
            continue
        same = by_index.get(i, [])
        out.append(tuple(same) if lk in same else (lk,))
    return tuple(out)


#: SUMO link directions of a turning movement (left, right, partly, turnaround)
TURN_DIRECTIONS = frozenset("lrLRt")


def check_compatible(tls: str, pair: frozenset[str], members: dict[str, list[int]],
                     links: tuple[ControlledLink, ...], foes: np.ndarray,
                     response: np.ndarray) -> None:
    """A declared compatible pair must be conditionally compatible in the geometry.

    Every crossing of a link of one group with a link of the other must be a yielding
    conflict: the link that yields in SUMO's junction logic is a turning movement (a turner
    giving way to straight traffic, cyclists or pedestrians). Two paths that merely do not
    cross need no declaration. Anything else — e.g. two straight movements that cross — is
    refused (ValueError naming the links).
    """
    a, b = sorted(pair)
    for i in members[a]:
        for j in members[b]:
            if not foes[i, j]:
                continue
            yielding = [k for k, other in ((i, j), (j, i)) if response[k, other]]
            if any(links[k].direction in TURN_DIRECTIONS for k in yielding):
                continue
            li, lj = links[i], links[j]
            raise ScenarioError(
                f"junction {tls}: 'compatible: [{a}, {b}]' is refused: {a}'s "
                f"{li.from_edge}->{li.to_edge} and {b}'s {lj.from_edge}->{lj.to_edge} cross "
                "and neither is a turn that yields; only conditionally compatible pairs "
                "(a turner yielding) may be declared")


def build_layout(
    spec: JunctionSpec, net: NetFile, params: IntergreenParameters | None = None
) -> JunctionLayout:
    """Map a junction's groups onto the network's links and derive the signal model."""
    tls = spec.tls
    if tls not in net.links:
        raise ScenarioError(f"junction {spec.tls}: traffic light {tls!r} not in the network")
    try:
        links, foes, response = link_relations(net, tls)
    except ValueError as exc:
        raise ScenarioError(f"junction {spec.tls}: {exc}") from None
    n = len(links)
    for g in spec.groups:  # an unknown edge is named, not reported as unmapped links
        for edge in [e for m in g.movements for e in m] + list(g.crossing):
            if edge not in net.edge_functions:
                raise ScenarioError(f"junction {spec.tls}: group {g.name} names edge {edge!r}, "
                                    "which is not in the network; check its movements")
    link_group = [NO_GROUP] * n
    for gi, g in enumerate(spec.groups):
        for li, lk in enumerate(links):
            if lk.is_connected and _link_matches(net, lk, g):
                if link_group[li] != NO_GROUP:
                    other = spec.groups[link_group[li]].name
                    raise ScenarioError(f"junction {spec.tls}: link {li} ({lk.from_edge}->"
                                        f"{lk.to_edge}) is in both groups {other} and {g.name}")
                link_group[li] = gi
    unmapped = [f"{i} ({lk.from_lane}->{lk.to_lane})" for i, lk in enumerate(links)
                if lk.is_connected and link_group[i] == NO_GROUP]
    if unmapped:
        raise ScenarioError(f"junction {spec.tls}: links not in any signal group: "
                            + ", ".join(unmapped))
    for gi, g in enumerate(spec.groups):
        if gi not in link_group:
            raise ScenarioError(f"junction {spec.tls}: group {g.name} matches no link")
    groups = tuple(SignalGroup.default(g.name, g.kind, g.speed_kmh) for g in spec.groups)
    names = [g.name for g in spec.groups]
    compatible = {frozenset(p) for p in spec.compatible}
    for pair in compatible:
        missing = set(pair) - set(names)
        if missing:
            raise ScenarioError(f"junction {spec.tls}: 'compatible' names unknown group(s) "
                                + ", ".join(sorted(missing)))
    members = {g.name: [li for li in range(n) if link_group[li] == gi]
               for gi, g in enumerate(spec.groups)}
    for pair in sorted(compatible, key=sorted):
        check_compatible(spec.tls, pair, members, links, foes, response)
    stages = tuple(Stage(name, frozenset(green)) for name, green in spec.stages)
    return assemble_layout(tls, net, links, foes, response, link_group, groups,
                           tuple(g.turn for g in spec.groups), compatible, stages, params)
