"""Derive an ampel signal layout and fixed-time plan from any SUMO traffic-light program.

Rules (documented in the README, section "External SUMO scenarios"):

* **Signal groups**: links whose state is the same in every phase of the program (``G``
  and ``g`` count as the same green) and that serve the same kind of road user form one
  group. Kinds: a pedestrian crossing → pedestrian; a bicycle-only lane → bicycle; a
  bus-only lane → bus; everything else → vehicle. Names: K1.. (vehicles), R1.. (bicycles),
  B1.. (buses), F1.. (pedestrians), in link order.
* **Conflicts**: two groups conflict when any of their links are foes in the network
  (the junction's ``foes`` bits, mapped per link to its junction's request index), unless
  the program shows them green together in some phase: then they are conditionally
  compatible and the yielding links get SUMO's minor green ``g`` (``response`` bits).
* **Stages**: the distinct sets of green groups of the program's phases, in program order.
  Phases with amber or red-amber are transitions: their green set becomes a stage only when
  it is not already contained in a stage.
* **Amber**: the program's amber after a group's green, clamped to the RiLSA range of the
  group's kind; when the program has none, the RiLSA rule (by the approach speed).
* **Intergreens**: computed from the geometry (``scenarios/intergreen.py``), raised to the
  program's own clearance (amber + all-red after the group's green) when that is longer.
  A program without all-red thus gets the geometric intergreens from the sequencer.
* **Fixed-time plan** ``program``: each stage's green is the sum of its phases' durations,
  clamped to the groups' minimum and maximum green; greens shrink proportionally when the
  cycle would exceed the RiLSA upper bound of 120 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scenarios.intergreen import IntergreenParameters
from scenarios.layout import JunctionLayout, assemble_layout, link_relations
from scenarios.netfile import ControlledLink, NetFile
from scenarios.spec import PlanSpec
from signals import MAX_INTERGREEN_S, GroupKind, SignalGroup, Stage

#: RiLSA upper bound on the cycle used when scaling a program's greens
MAX_CYCLE_S = 120.0
_GREEN = frozenset("GgsOo")
_AMBER = frozenset("yY")
_RED_AMBER = frozenset("u")
_AMBER_LIMITS = {GroupKind.VEHICLE: (3.0, 5.0), GroupKind.BUS: (3.0, 5.0),
                 GroupKind.BICYCLE: (1.0, 3.0), GroupKind.PEDESTRIAN: (0.0, 0.0)}
_PREFIX = {GroupKind.VEHICLE: "K", GroupKind.BICYCLE: "R", GroupKind.BUS: "B",
           GroupKind.PEDESTRIAN: "F"}


def _norm(ch: str) -> str:
    if ch in _GREEN:
        return "G"
    if ch in _AMBER:
        return "y"
    if ch in _RED_AMBER:
        return "u"
    return "r"


def link_kind(net: NetFile, link: ControlledLink) -> GroupKind:
    """Kind of road user a link serves."""
    if link.is_crossing:
        return GroupKind.PEDESTRIAN
    lane = net.lanes.get(link.from_lane)
    if lane is None or lane.permits("passenger"):
        return GroupKind.VEHICLE
    if lane.permits("bicycle"):
        return GroupKind.BICYCLE
    if lane.permits("bus"):
        return GroupKind.BUS
    return GroupKind.VEHICLE


@dataclass(frozen=True)
class DerivedJunction:
    """The layout and fixed-time plan derived from one traffic light's program."""

    layout: JunctionLayout
    plan: PlanSpec
    program_has_amber: bool
    program_has_all_red: bool


def _program(net: NetFile, tls: str, n_links: int) -> list[tuple[float, str]]:
    phases = [(d, s) for d, s in net.static_programs.get(tls, []) if d > 0]
    if not phases:
        raise ValueError(f"traffic light {tls} has no program with phases")
    short = [s for _, s in phases if len(s) < n_links]
    if short:
        raise ValueError(f"traffic light {tls}: phase state {short[0]!r} is shorter than its "
                         f"{n_links} links")
    return [(d, "".join(_norm(c) for c in s[:n_links])) for d, s in phases]


def _group_links(net: NetFile, links: tuple[ControlledLink, ...],
                 phases: list[tuple[float, str]]) -> tuple[list[int], list[GroupKind]]:
    keys: dict[tuple[str, GroupKind], int] = {}
    link_group: list[int] = []
    kinds: list[GroupKind] = []
    for i, lk in enumerate(links):
        kind = link_kind(net, lk)
        key = ("".join(s[i] for _, s in phases), kind)
        if key not in keys:
            keys[key] = len(kinds)
            kinds.append(kind)
        link_group.append(keys[key])
    return link_group, kinds


def _clearance(phases: list[tuple[float, str]], members: list[int]) -> tuple[float, float]:
    """Program amber, and amber + all-red, after the group's green (longest in the cycle).

    All-red counts the phases right after the amber in which no link is green, amber or
    red-amber.
    """
    n = len(phases)
    col = ["G" if any(s[i] == "G" for i in members) else
           ("y" if any(s[i] == "y" for i in members) else "r") for _, s in phases]
    amber = clear = 0.0
    for k in range(n):
        if col[k] != "G" or col[(k + 1) % n] == "G":
            continue
        a = r = 0.0
        for step in range(1, n):
            d, state = phases[(k + step) % n]
            if col[(k + step) % n] == "y" and r == 0.0:
                a += d
            elif not any(ch in "Gyu" for ch in state):
                r += d
            else:
                break
        amber, clear = max(amber, a), max(clear, min(a + r, MAX_INTERGREEN_S))
    return amber, clear


def _group_model(net: NetFile, links: tuple[ControlledLink, ...], link_group: list[int],
                 kinds: list[GroupKind], phases: list[tuple[float, str]]
                 ) -> tuple[tuple[SignalGroup, ...], dict[str, float], bool]:
    counters: dict[GroupKind, int] = {}
    groups = []
    floors: dict[str, float] = {}
    any_amber = False
    for gi, kind in enumerate(kinds):
        counters[kind] = counters.get(kind, 0) + 1
        name = f"{_PREFIX[kind]}{counters[kind]}"
        members = [i for i, g in enumerate(link_group) if g == gi]
        speeds = [net.lanes[links[i].from_lane].speed for i in members
                  if links[i].from_lane in net.lanes]
        speed_kmh = round(max(speeds, default=50 / 3.6) * 3.6, 1)  # 13.89 m/s -> 50 km/h
        rule = SignalGroup.default(name, kind, min(speed_kmh, 200.0))
        amber, clear = _clearance(phases, members)
        any_amber = any_amber or amber > 0
        lo, hi = _AMBER_LIMITS[kind]
        amber_s = rule.amber_s if amber <= 0 else min(max(amber, lo), hi)
        groups.append(SignalGroup(name, kind, amber_s, rule.red_amber_s, rule.min_green_s,
                                  rule.max_green_s))
        if clear > 0:
            floors[name] = max(clear, amber_s)
    return tuple(groups), floors, any_amber


def _stages(phases: list[tuple[float, str]], link_group: list[int], names: list[str]
            ) -> tuple[list[tuple[frozenset[str], float]], bool]:
    """Stage green sets with their summed program durations, in program order."""
    per_phase = []
    has_all_red = False
    for d, s in phases:
        green = frozenset(names[link_group[i]] for i, ch in enumerate(s) if ch == "G")
        transition = any(ch in "yu" for ch in s)
        if not green and not transition:
            has_all_red = True
        per_phase.append((green, d, transition))
    stages: list[tuple[frozenset[str], float]] = []
    durations: dict[frozenset[str], float] = {}
    for green, d, transition in per_phase:
        if green and not transition and green not in durations:
            stages.append((green, 0.0))
            durations[green] = 0.0
        if green in durations and not transition:
            durations[green] += d
    for green, d, _ in per_phase:
        if green and not any(green <= s for s, _ in stages):
            stages.append((green, 0.0))
            durations[green] = d
    served = frozenset().union(*(s for s, _ in stages)) if stages else frozenset()
    if set(names) - served:
        raise ValueError("signal group(s) " + ", ".join(sorted(set(names) - served))
                         + " never green in the program")
    return [(s, durations[s]) for s, _ in stages], has_all_red


def _plan(layout: JunctionLayout, stage_durations: list[float]) -> PlanSpec:
    model = layout.model
    n = len(model.stages)
    inter = [model.interstage_duration(k, (k + 1) % n) if n > 1 else 0.0 for k in range(n)]
    lo = [max(model.group(g).min_green_s for g in st.green) for st in model.stages]
    hi = [min(model.group(g).max_green_s for g in st.green) - inter[k - 1]
          for k, st in enumerate(model.stages)]
    greens = [min(max(d, lo[k]), max(hi[k], lo[k])) for k, d in enumerate(stage_durations)]
    budget = MAX_CYCLE_S - sum(inter)
    if sum(greens) > budget:
        spare = sum(g - m for g, m in zip(greens, lo, strict=True))
        room = budget - sum(lo)
        if spare > 0 and room >= 0:
            greens = [m + (g - m) * room / spare for g, m in zip(greens, lo, strict=True)]
        else:
            greens = lo
    greens = [math.floor(g * 10 + 1e-9) / 10 if g > m else m
              for g, m in zip(greens, lo, strict=True)]
    return PlanSpec(name="program",
                    greens=tuple((st.name, float(g)) for st, g in zip(model.stages, greens,
                                                                       strict=True)))


def derive_junction(net: NetFile, tls: str, params: IntergreenParameters | None = None
                    ) -> DerivedJunction:
    """Signal groups, conflicts, intergreens, stages and the fixed-time plan of one TLS."""
    links, foes, response = link_relations(net, tls)
    phases = _program(net, tls, len(links))
    link_group, kinds = _group_links(net, links, phases)
    groups, floors, any_amber = _group_model(net, links, link_group, kinds, phases)
    names = [g.name for g in groups]
    stage_sets, has_all_red = _stages(phases, link_group, names)
    together: set[frozenset[str]] = set()
    for _, s in phases:
        green = sorted({names[link_group[i]] for i, ch in enumerate(s) if ch == "G"})
        together.update(frozenset((a, b)) for k, a in enumerate(green) for b in green[k + 1:])
    stages = tuple(Stage(f"S{k + 1}", green) for k, (green, _) in enumerate(stage_sets))
    turns = tuple(bool(np.all([links[i].direction in "lrLR" for i, g in enumerate(link_group)
                               if g == gi])) and kinds[gi] is not GroupKind.PEDESTRIAN
                  for gi in range(len(groups)))
    layout = assemble_layout(tls, net, links, foes, response, link_group, groups, turns,
                             together, stages, params, floors)
    plan = _plan(layout, [d for _, d in stage_sets])
    return DerivedJunction(layout=layout, plan=plan, program_has_amber=any_amber,
                           program_has_all_red=has_all_red)
