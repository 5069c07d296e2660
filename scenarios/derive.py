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
* **Program**: the one SUMO starts with (:func:`scenarios.netfile.active_programs`: the
  network's, overridden by additional files in load order), with its ``offset``.
* **Amber**: the program's amber after a group's green, clamped to the RiLSA range of the
  group's kind; when the program has none, the RiLSA rule (by the approach speed).
* **Intergreens**, two modes (controller parameter ``intergreens``):
  ``rilsa`` (default) computes them from the geometry (``scenarios/intergreen.py``), raised
  to the program's own clearance (amber + all-red after the group's green) when that is
  longer; ``program`` takes the program's own: for each conflicting pair, the shortest
  transition time the program leaves between the end of one green and the start of the
  other (its amber, red-amber and all-red phases; a stage it runs in between does not
  count), else the group's clearance, and the geometric (RiLSA) value only where the
  program has neither.
* **Fixed-time plan** ``program``: each stage's green is the sum of its phases' durations;
  the cycle and the offset are the program's. Where the model's transition between two
  stages is longer than the program's, the time comes out of the green before it (then
  from the other greens), so every stage still starts when the program starts it; the
  difference per cycle is ``DerivedJunction.lengthened_s``. A group's maximum green is
  raised to the longest green the program shows it within one stage.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from scenarios.intergreen import IntergreenParameters
from scenarios.layout import NO_GROUP, JunctionLayout, assemble_layout, link_relations
from scenarios.netfile import ControlledLink, NetFile, TlProgram
from scenarios.spec import PlanSpec
from signals import MAX_INTERGREEN_S, GroupKind, SignalGroup, SignalModel, Stage
from signals.errors import ScenarioError

#: intergreen modes: RiLSA (geometric, the default) or the program's own transitions
INTERGREEN_MODES = ("rilsa", "program")
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
    #: model transitions minus the program's, seconds per cycle (> 0: taken from the greens)
    lengthened_s: float = 0.0
    #: the program's cycle, kept by the plan when the minimum greens allow
    cycle_s: float = 0.0
    mode: str = "rilsa"


def _program(net: NetFile, tls: str, links: tuple[ControlledLink, ...],
             program: TlProgram | None) -> tuple[list[tuple[float, str]], list[bool]]:
    """The program's phases, normalised, and per phase whether it shows a state index that
    controls no connection other than red. Such an index reads red ``r`` in the phases
    (it carries no movement); a phase that signals it is no all-red clearance."""
    n_links = len(links)
    raw = ([(p.duration_s, p.state) for p in program.phases] if program is not None
           else net.static_programs.get(tls, []))
    phases = [(d, s) for d, s in raw if d > 0]
    if not phases:
        raise ScenarioError(f"traffic light {tls} has no program with phases")
    short = [s for _, s in phases if len(s) < n_links]
    if short:
        raise ScenarioError(f"traffic light {tls}: phase state {short[0]!r} is shorter than its "
                            f"{n_links} links")
    dead = [any(_norm(c) != "r" for i, c in enumerate(s[:n_links])
                if not links[i].is_connected) for _, s in phases]
    return [(d, "".join(_norm(c) if links[i].is_connected else "r"
                        for i, c in enumerate(s[:n_links]))) for d, s in phases], dead


def _group_links(net: NetFile, links: tuple[ControlledLink, ...],
                 phases: list[tuple[float, str]]) -> tuple[list[int], list[GroupKind]]:
    keys: dict[tuple[str, GroupKind], int] = {}
    link_group: list[int] = []
    kinds: list[GroupKind] = []
    for i, lk in enumerate(links):
        if not lk.is_connected:
            link_group.append(NO_GROUP)
            continue
        kind = link_kind(net, lk)
        key = ("".join(s[i] for _, s in phases), kind)
        if key not in keys:
            keys[key] = len(kinds)
            kinds.append(kind)
        link_group.append(keys[key])
    return link_group, kinds


def _clearance(phases: list[tuple[float, str]], members: list[int], dead: list[bool]
               ) -> tuple[float, float]:
    """Program amber, and amber + all-red, after the group's green (longest in the cycle).

    All-red counts the phases right after the amber in which no link is green, amber or
    red-amber; a phase that signals an unconnected state index (``dead``) serves something
    the network does not model and ends the count (it is no clearance).
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
            elif not any(ch in "Gyu" for ch in state) and not dead[(k + step) % n]:
                r += d
            else:
                break
        amber, clear = max(amber, a), max(clear, min(a + r, MAX_INTERGREEN_S))
    return amber, clear


def _group_model(net: NetFile, links: tuple[ControlledLink, ...], link_group: list[int],
                 kinds: list[GroupKind], phases: list[tuple[float, str]], dead: list[bool]
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
        amber, clear = _clearance(phases, members, dead)
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
        raise ScenarioError("signal group(s) " + ", ".join(sorted(set(names) - served))
                            + " never green in the program")
    return [(s, durations[s]) for s, _ in stages], has_all_red


def _rotate(phases: list[tuple[float, str]], link_group: list[int], names: list[str]
            ) -> tuple[list[tuple[float, str]], float]:
    """The phases rotated to start with a stage's first phase, and the program time of
    that phase (the lead before the plan's cycle start)."""
    def key(k: int) -> frozenset[str] | None:
        _, s = phases[k]
        if any(ch in "yu" for ch in s):
            return None
        return frozenset(names[link_group[i]] for i, ch in enumerate(s) if ch == "G") or None

    n = len(phases)
    for k in range(n):
        if key(k) is not None and key(k) != key((k - 1) % n):
            return phases[k:] + phases[:k], sum(d for d, _ in phases[:k])
    return phases, 0.0


def _program_transitions(phases: list[tuple[float, str]], link_group: list[int],
                         names: list[str], stages: list[frozenset[str]]) -> list[float] | None:
    """Program seconds between the end of each stage and the start of the next, in stage
    order; None when the program does not run its stages once each in that order."""
    sequence: list[int] = []
    trans: list[float] = []
    for d, s in phases:
        green = frozenset(names[link_group[i]] for i, ch in enumerate(s) if ch == "G")
        if not any(ch in "yu" for ch in s) and green in stages:
            k = stages.index(green)
            if not sequence or sequence[-1] != k:
                sequence.append(k)
                trans.append(0.0)
        elif sequence:
            trans[-1] += d
        else:
            return None
    if sequence != list(range(len(stages))):
        return None
    return trans


def _pair_intergreens(phases: list[tuple[float, str]], link_group: list[int], n_groups: int
                      ) -> dict[tuple[int, int], float]:
    """(clearing, entering) → the shortest transition time the program leaves from the end
    of one group's green to the start of the other's (before the first is green again).

    Only transition phases count (a phase showing amber or red-amber, or no green at all):
    a stage the program runs in between (e.g. a left arrow between the through stages) is
    not clearance, and a controller that skips it does not wait for it.
    """
    green = [[any(s[i] == "G" for i, g in enumerate(link_group) if g == gi) for _, s in phases]
             for gi in range(n_groups)]
    transition = [any(ch in "yu" for ch in s) or not any(ch in "Gg" for ch in s)
                  for _, s in phases]
    n = len(phases)
    out: dict[tuple[int, int], float] = {}
    for c in range(n_groups):
        for k in range(n):
            if not green[c][k] or green[c][(k + 1) % n]:
                continue
            t = 0.0  # transition time since the end of the green
            for m in range(k + 1, k + 1 + n):  # the phases after the green, unrolled
                j = m % n
                if green[c][j]:
                    break
                for e in range(n_groups):
                    if e != c and green[e][j] and not green[e][(j - 1) % n]:
                        out[(c, e)] = min(out.get((c, e), math.inf), t)
                if transition[j]:
                    t += phases[j][0]
    return out


def _program_model(model: SignalModel, pairs: dict[tuple[int, int], float],
                   floors: dict[str, float]) -> SignalModel:
    """The model with the program's own intergreens (RiLSA only where it has none)."""
    names = model.group_names
    intergreens = {}
    for (clearing, entering), geometric in model.intergreens.items():
        amber = model.group(clearing).amber_s
        seen = pairs.get((names.index(clearing), names.index(entering)))
        if seen is not None:
            value = seen
        elif clearing in floors:
            value = floors[clearing]
        else:
            value = geometric
        intergreens[(clearing, entering)] = min(max(value, amber), MAX_INTERGREEN_S)
    return dataclasses.replace(model, intergreens=intergreens)


def _greens(model: SignalModel, durations: list[float], program_trans: list[float] | None,
            cycle_s: float) -> tuple[list[float], float]:
    """Stage greens that keep the program's cycle (and, where it can, each stage's start)
    with the model's transitions; and the transition seconds added per cycle."""
    n = len(model.stages)
    inter = [model.interstage_duration(k, (k + 1) % n) if n > 1 else 0.0 for k in range(n)]
    lo = [max(model.group(g).min_green_s for g in st.green) for st in model.stages]
    if program_trans is None:  # no stage-by-stage match: spread over the greens
        program_trans = [(cycle_s - sum(durations)) / n] * n
    lengthened = sum(inter) - sum(program_trans)
    greens = [d - (i - p) for d, i, p in zip(durations, inter, program_trans, strict=True)]
    deficit = sum(max(m - g, 0.0) for g, m in zip(greens, lo, strict=True))
    greens = [max(g, m) for g, m in zip(greens, lo, strict=True)]
    if deficit > 0:  # take it from the other greens, in proportion to their spare time
        spare = sum(g - m for g, m in zip(greens, lo, strict=True))
        take = min(deficit, spare)
        if spare > 0:
            greens = [g - (g - m) * take / spare for g, m in zip(greens, lo, strict=True)]
    greens = [max(m, round(g, 1)) for g, m in zip(greens, lo, strict=True)]
    rest = round(cycle_s - sum(inter) - sum(greens), 6)  # rounding: the cycle stays exact
    k = max(range(n), key=lambda i: greens[i] - lo[i])
    if rest > 0 or greens[k] + rest >= lo[k]:
        greens[k] = round(greens[k] + rest, 6)
    return greens, lengthened


def _raise_max_greens(model: SignalModel, greens: list[float]) -> SignalModel:
    """Raise a group's maximum green to the longest green the plan shows it in a stage."""
    n = len(model.stages)
    need: dict[str, float] = {}
    for k, st in enumerate(model.stages):
        into = model.interstage_duration((k - 1) % n, k) if n > 1 else 0.0
        for g in st.green:
            need[g] = max(need.get(g, 0.0), greens[k] + into + 1.0)
    groups = tuple(dataclasses.replace(g, max_green_s=max(g.max_green_s, math.ceil(need[g.name])))
                   if g.name in need else g for g in model.groups)
    return dataclasses.replace(model, groups=groups)


def derive_junction(net: NetFile, tls: str, params: IntergreenParameters | None = None,
                    program: TlProgram | None = None, mode: str = "rilsa",
                    begin_s: float = 0.0) -> DerivedJunction:
    """Signal groups, conflicts, intergreens, stages and the fixed-time plan of one TLS.

    ``program`` is the one SUMO runs (default: the network's first); ``mode`` picks the
    intergreens (:data:`INTERGREEN_MODES`); ``begin_s`` aligns the plan's offset with
    SUMO's, which counts from simulation time 0.
    """
    if mode not in INTERGREEN_MODES:
        raise ScenarioError(f"intergreens must be one of {', '.join(INTERGREEN_MODES)}, "
                            f"got {mode!r}")
    links, foes, response = link_relations(net, tls)
    phases, dead = _program(net, tls, links, program)
    link_group, kinds = _group_links(net, links, phases)
    groups, floors, any_amber = _group_model(net, links, link_group, kinds, phases, dead)
    names = [g.name for g in groups]
    phases, lead_s = _rotate(phases, link_group, names)
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
    model = layout.model
    if mode == "program":
        model = _program_model(model, _pair_intergreens(phases, link_group, len(groups)),
                               floors)
    cycle = sum(d for d, _ in phases)
    trans = _program_transitions(phases, link_group, names, [g for g, _ in stage_sets])
    greens, lengthened = _greens(model, [d for _, d in stage_sets], trans, cycle)
    model = _raise_max_greens(model, greens)
    layout = dataclasses.replace(layout, model=model)
    offset = program.offset_s if program is not None else 0.0
    plan_cycle = sum(greens) + sum(model.interstage_duration(k, (k + 1) % len(stages))
                                   for k in range(len(stages)) if len(stages) > 1)
    plan = PlanSpec(name="program",
                    greens=tuple((st.name, float(g)) for st, g in zip(stages, greens,
                                                                       strict=True)),
                    offset_s=round((offset + lead_s - begin_s) % plan_cycle, 3)
                    if plan_cycle > 0 else 0.0)
    return DerivedJunction(layout=layout, plan=plan, program_has_amber=any_amber,
                           program_has_all_red=has_all_red, lengthened_s=round(lengthened, 3),
                           cycle_s=cycle, mode=mode)
