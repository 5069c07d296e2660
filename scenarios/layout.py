"""A junction's signal layout in SUMO: which links each signal group drives, the conflict
and intergreen matrices derived from the network, and the SUMO state string encoder."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from scenarios.intergreen import IntergreenParameters, intergreen_s
from scenarios.netfile import ControlledLink, NetFile
from scenarios.spec import GroupSpec, JunctionSpec
from signals import Colour, GroupKind, SignalGroup, SignalModel, Stage


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
    """Signal model of one traffic light plus its mapping onto SUMO link indices."""

    tls: str
    model: SignalModel
    link_group: tuple[int, ...]
    links: tuple[ControlledLink, ...]
    response: np.ndarray
    turning: frozenset[str]

    @property
    def group_names(self) -> tuple[str, ...]:
        """Signal group names in model order."""
        return tuple(g.name for g in self.model.groups)

    def groups_of_lane(self, lane_id: str) -> tuple[str, ...]:
        """Signal groups whose links start on the given lane."""
        names = {self.model.groups[self.link_group[i]].name
                 for i, lk in enumerate(self.links) if lk.from_lane == lane_id}
        return tuple(sorted(names))

    def incoming_lanes(self) -> tuple[str, ...]:
        """Signal-controlled approach lanes (no crossings), in link order, unique."""
        seen: dict[str, None] = {}
        for lk in self.links:
            if not lk.is_crossing:
                seen.setdefault(lk.from_lane, None)
        return tuple(seen)

    def outgoing_lanes(self, lane_id: str) -> tuple[str, ...]:
        """Lanes that traffic from ``lane_id`` enters after the junction."""
        return tuple(sorted({lk.to_lane for lk in self.links if lk.from_lane == lane_id}))


class StateEncoder:
    """Turns signal-group colours into a SUMO ``setRedYellowGreenState`` string.

    A green link that must yield to another green link (conditionally compatible streams,
    e.g. right turners and parallel pedestrians) gets SUMO's minor green ``g``.
    """

    def __init__(self, layout: JunctionLayout) -> None:
        self._link_group = np.asarray(layout.link_group, dtype=int)
        self._response = layout.response
        self._last: tuple[tuple[Colour, ...], str] | None = None

    def encode(self, states: tuple[Colour, ...]) -> str:
        """SUMO link state string for the given group colours (memoised on the last call)."""
        if self._last is not None and self._last[0] == states:
            return self._last[1]
        chars = np.array([c.value for c in states])[self._link_group]
        green = chars == Colour.GREEN.value
        must_yield = (self._response & green[None, :]).any(axis=1) & green
        chars[must_yield] = "g"
        text = "".join(chars.tolist())
        self._last = (states, text)
        return text


def build_layout(
    spec: JunctionSpec, net: NetFile, params: IntergreenParameters | None = None
) -> JunctionLayout:
    """Map a junction's groups onto the network's links and derive the signal model."""
    tls = spec.tls
    if tls not in net.links:
        raise ValueError(f"junction {spec.tls}: traffic light {tls!r} not in the network")
    links = tuple(net.links[tls])
    junctions = net.tls_junctions.get(tls, [])
    if len(junctions) != 1 or len(net.junctions[junctions[0]].foes) != len(links):
        raise ValueError(f"junction {spec.tls}: traffic light {tls} must control exactly one "
                         "junction whose links it controls all")
    junction = net.junctions[junctions[0]]
    n = len(links)
    foes = np.array([list(row[:n]) + [False] * (n - len(row)) for row in junction.foes], bool)
    response = np.array([list(row[:n]) + [False] * (n - len(row)) for row in junction.response],
                        bool)
    foes = foes | foes.T
    link_group = [-1] * n
    for gi, g in enumerate(spec.groups):
        for li, lk in enumerate(links):
            if _link_matches(net, lk, g):
                if link_group[li] != -1:
                    other = spec.groups[link_group[li]].name
                    raise ValueError(f"junction {spec.tls}: link {li} ({lk.from_edge}->"
                                     f"{lk.to_edge}) is in both groups {other} and {g.name}")
                link_group[li] = gi
    unmapped = [f"{i} ({lk.from_lane}->{lk.to_lane})" for i, lk in enumerate(links)
                if link_group[i] == -1]
    if unmapped:
        raise ValueError(f"junction {spec.tls}: links not in any signal group: "
                         + ", ".join(unmapped))
    for gi, g in enumerate(spec.groups):
        if gi not in link_group:
            raise ValueError(f"junction {spec.tls}: group {g.name} matches no link")
    groups = tuple(SignalGroup.default(g.name, g.kind, g.speed_kmh) for g in spec.groups)
    names = [g.name for g in spec.groups]
    compatible = {frozenset(p) for p in spec.compatible}
    for pair in compatible:
        missing = set(pair) - set(names)
        if missing:
            raise ValueError(f"junction {spec.tls}: 'compatible' names unknown group(s) "
                             + ", ".join(sorted(missing)))
    members = {gi: [li for li in range(n) if link_group[li] == gi] for gi in range(len(names))}
    conflicts: set[frozenset[str]] = set()
    intergreens: dict[tuple[str, str], float] = {}
    params = params or IntergreenParameters()
    for a, b in combinations(range(len(names)), 2):
        pair = frozenset((names[a], names[b]))
        foe_pairs = [(i, j) for i in members[a] for j in members[b] if foes[i, j]]
        if not foe_pairs or pair in compatible:
            continue
        conflicts.add(pair)
        for c, e in ((a, b), (b, a)):
            worst = 0.0
            for i, j in foe_pairs:
                lc, le = (i, j) if c == a else (j, i)
                worst = max(worst, intergreen_s(
                    spec.groups[c].kind, net.lane_path(links[lc]),
                    spec.groups[c].turn or links[lc].direction in "lrLR",
                    groups[c].amber_s,
                    spec.groups[e].kind, net.lane_path(links[le]),
                    spec.groups[e].turn or links[le].direction in "lrLR", params))
            intergreens[(names[c], names[e])] = worst
    stages = tuple(Stage(name, frozenset(green)) for name, green in spec.stages)
    try:
        model = SignalModel(groups=groups, conflicts=frozenset(conflicts),
                            intergreens=intergreens, stages=stages)
    except ValueError as exc:
        raise ValueError(f"junction {spec.tls}: {exc}") from None
    turning = frozenset(g.name for g in spec.groups if g.turn)
    return JunctionLayout(tls=tls, model=model, link_group=tuple(link_group), links=links,
                          response=response, turning=turning)
