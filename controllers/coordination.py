"""Green-wave coordination along a corridor, for fixed-time and actuated control.

Nothing here is specific to a scenario:

* a junction's position is the centroid of its approach lanes' stop-line ends;
* the corridor is the junctions ordered along the principal axis of those positions,
  distances are straight-line distances between consecutive junctions;
* the *coordinated stage* of a junction is the stage serving the largest routed vehicle
  flow on approach lanes that run along the corridor axis;
* every junction runs a common cycle (the longest of their base plans, Webster by
  default); the extra green of shorter plans goes to the coordinated stage first;
* offsets start the coordinated green at junction ``k`` when a vehicle that left the
  first junction at the start of its green arrives there at ``speed_kmh``, in the
  direction with the larger corridor flow (``direction = auto``) or the one asked for;
* the bandwidth per direction is the part of the cycle during which a vehicle can
  leave the first (last) junction and pass every junction on green at that speed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from controllers.actuated import ActuatedController
from controllers.base import StageRequest
from controllers.common import require_positive
from controllers.fixed_time import MAX_CYCLE_S, FixedTimeController, FixedTimePlan
from controllers.movement_flows import group_flows, movement_flows
from controllers.webster import WebsterParams, webster_plan
from scenarios.observation import Observation
from scenarios.scenario import Junction, Scenario
from signals import SignalModel
from signals.errors import ParameterError

log = logging.getLogger(__name__)

DIRECTIONS = ("auto", "forward", "backward")


@dataclass(frozen=True)
class CoordinationParams:
    """Parameters of green-wave coordination.

    Attributes:
        speed_kmh: progression speed of the green wave.
        direction: ``forward`` (corridor order), ``backward`` or ``auto`` (heavier one).
        base: base plans: ``webster`` (from demand) or ``plan`` (the scenario's plan).
        cycle_s: common cycle; 0 = the longest base plan's cycle.
        axis_cos: an approach lane runs along the corridor if the cosine between its
            heading and the corridor axis is at least this.
    """

    speed_kmh: float = 45.0
    direction: str = "auto"
    base: str = "webster"
    cycle_s: float = 0.0
    axis_cos: float = 0.8

    def __post_init__(self) -> None:
        require_positive(speed_kmh=self.speed_kmh, axis_cos=self.axis_cos)
        if self.direction not in DIRECTIONS:
            raise ParameterError(f"parameter 'direction' must be one of {', '.join(DIRECTIONS)}, "
                                 f"got {self.direction!r}")
        if self.base not in ("webster", "plan"):
            raise ParameterError(f"parameter 'base' must be webster or plan, got {self.base!r}")
        if self.cycle_s < 0 or self.cycle_s > MAX_CYCLE_S:
            raise ParameterError(f"parameter 'cycle_s' must be 0 or up to {MAX_CYCLE_S:g} s")


@dataclass(frozen=True)
class GreenWave:
    """Coordinated plans of a corridor and the bandwidth they give."""

    order: tuple[str, ...]  # junction ids along the corridor
    distances_m: tuple[float, ...]  # from the first junction, along the corridor
    coordinated_stage: dict[str, int]
    plans: dict[str, FixedTimePlan]
    cycle_s: float
    speed_kmh: float
    direction: str  # forward or backward (resolved)
    bandwidth_s: dict[str, float]  # per direction
    stage_names: dict[str, tuple[str, ...]]

    def bandwidth_share(self, direction: str) -> float:
        """Bandwidth as a share of the cycle."""
        return self.bandwidth_s[direction] / self.cycle_s


def _positions(scenario: Scenario) -> dict[str, np.ndarray]:
    out = {}
    for j in scenario.junctions:
        pts = [scenario.net.lanes[ln.lane].shape[-1] for ln in j.info.lanes
               if ln.lane in scenario.net.lanes and scenario.net.lanes[ln.lane].shape]
        out[j.tls] = np.mean(np.asarray(pts, float), axis=0) if pts else np.zeros(2)
    return out


def _heading(scenario: Scenario, lane_id: str) -> np.ndarray:
    shape = scenario.net.lanes[lane_id].shape
    if len(shape) < 2:
        return np.zeros(2)
    v = np.asarray(shape[-1], float) - np.asarray(shape[-2], float)
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def corridor(scenario: Scenario) -> tuple[list[Junction], np.ndarray, list[float]]:
    """Junctions in corridor order, the unit axis, and distances from the first one."""
    pos = _positions(scenario)
    pts = np.array([pos[j.tls] for j in scenario.junctions])
    if len(pts) < 2:
        return list(scenario.junctions), np.array([1.0, 0.0]), [0.0]
    centred = pts - pts.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    # orientation convention: the axis points from the first listed junction onwards
    if float(np.dot(pts[-1] - pts[0], axis)) < 0:
        axis = -axis
    proj = centred @ axis
    order = [scenario.junctions[i] for i in np.argsort(proj, kind="stable")]
    dists = [0.0]
    for a, b in zip(order, order[1:], strict=False):
        dists.append(dists[-1] + float(np.linalg.norm(pos[b.tls] - pos[a.tls])))
    return order, axis, dists


def _coordinated_stage(junction: Junction, scenario: Scenario, axis: np.ndarray,
                       q: dict[str, float], axis_cos: float) -> tuple[int, float, float]:
    """(stage, forward flow, backward flow) for the corridor lanes of the junction."""
    layout = junction.layout
    model = layout.model
    score = [0.0] * len(model.stages)
    fwd = bwd = 0.0
    for lane in junction.info.lanes:
        if lane.is_bicycle or lane.lane not in scenario.net.lanes:
            continue
        cos = float(np.dot(_heading(scenario, lane.lane), axis))
        if abs(cos) < axis_cos:
            continue
        flow = sum(q.get(g, 0.0) for g in lane.groups) or 1e-3
        if cos > 0:
            fwd += flow
        else:
            bwd += flow
        for s in lane.stages:
            score[s] += flow
    best = max(range(len(score)), key=lambda s: (score[s], -s))
    return best, fwd, bwd


def _stretch(plan: FixedTimePlan, model: SignalModel, coord: int, cycle: float
             ) -> tuple[tuple[str, float], ...]:
    """Greens of ``plan`` lengthened to ``cycle``: coordinated stage first, then the rest."""
    greens = list(plan.greens)
    extra = cycle - plan.cycle_s
    order = list(plan.order)
    caps = []
    for k, s in enumerate(order):
        lead = plan.interstages[k - 1] if len(order) > 1 else 0.0
        caps.append(min(model.group(g).max_green_s for g in model.stages[s].green) - lead)
    ranked = ([order.index(coord)] if coord in order else []) + \
        [k for k in range(len(order)) if order[k] != coord]
    for k in ranked:
        if extra <= 1e-9:
            break
        add = max(0.0, min(extra, math.floor(caps[k] - greens[k])))
        greens[k] += add
        extra -= add
    if extra > 1e-6:
        log.warning("cycle %.0f s cannot be reached within maximum greens", cycle)
    return tuple((model.stages[s].name, g) for s, g in zip(order, greens, strict=True))


def _window(plan: FixedTimePlan, coord: int) -> tuple[float, float]:
    """(start, length) of the coordinated stage's green in plan time."""
    k = plan.order.index(coord)
    return plan.stage_starts()[k], plan.greens[k]


def bandwidth(starts: list[float], greens: list[float], travel: list[float], cycle: float,
              resolution_s: float = 0.1) -> float:
    """Seconds per cycle during which a departure passes every green window in turn.

    ``starts``/``greens`` are the absolute green windows (mod cycle) at each junction in
    travel order; ``travel`` the travel time from the first junction to each.
    """
    taus = np.arange(0.0, cycle, resolution_s)
    ok = np.ones_like(taus, dtype=bool)
    for start, green, t in zip(starts, greens, travel, strict=True):
        phase = (taus + t - start) % cycle
        ok &= phase < green
    return float(ok.sum() * resolution_s)


def green_wave(scenario: Scenario, params: CoordinationParams | None = None,
               plan_name: str | None = None) -> GreenWave:
    """Coordinated fixed-time plans with offsets for the scenario's junctions."""
    p = params or CoordinationParams()
    order, axis, dists = corridor(scenario)
    flows = movement_flows(scenario)
    base: dict[str, FixedTimePlan] = {}
    coord: dict[str, int] = {}
    fwd_total = bwd_total = 0.0
    for j in order:
        model = j.layout.model
        if p.base == "webster":
            base[j.tls] = webster_plan(j, scenario, WebsterParams(), flows[j.tls]).plan
        else:
            spec = j.plan(plan_name)
            base[j.tls] = FixedTimePlan.build(model, spec.greens)
        stage, fwd, bwd = _coordinated_stage(j, scenario, axis, group_flows(j, flows[j.tls]),
                                             p.axis_cos)
        if stage not in base[j.tls].order:
            stage = base[j.tls].order[0]
        coord[j.tls] = stage
        fwd_total += fwd
        bwd_total += bwd
    cycle = p.cycle_s or max(pl.cycle_s for pl in base.values())
    direction = p.direction
    if direction == "auto":
        direction = "forward" if fwd_total >= bwd_total else "backward"
    v = p.speed_kmh / 3.6
    plans: dict[str, FixedTimePlan] = {}
    span = dists[-1]
    for j, d in zip(order, dists, strict=True):
        model = j.layout.model
        greens = _stretch(base[j.tls], model, coord[j.tls], cycle)
        stretched = FixedTimePlan.build(model, greens, 0.0, max_cycle_s=max(MAX_CYCLE_S, cycle))
        start, _ = _window(stretched, coord[j.tls])
        arrive = (d if direction == "forward" else span - d) / v
        plans[j.tls] = FixedTimePlan.build(model, greens, (arrive - start) % stretched.cycle_s,
                                           max_cycle_s=max(MAX_CYCLE_S, cycle))
    bw = {}
    for name in ("forward", "backward"):
        seq = list(zip(order, dists, strict=True))
        if name == "backward":
            seq = seq[::-1]
        starts: list[float] = []
        windows: list[float] = []
        travel: list[float] = []
        for j, d in seq:
            s0, g = _window(plans[j.tls], coord[j.tls])
            starts.append(s0 + plans[j.tls].offset_s)
            windows.append(g)
            travel.append(abs(d - seq[0][1]) / v)
        bw[name] = bandwidth(starts, windows, travel, cycle)
    return GreenWave(order=tuple(j.tls for j in order), distances_m=tuple(dists),
                     coordinated_stage=coord, plans=plans, cycle_s=cycle,
                     speed_kmh=p.speed_kmh, direction=direction, bandwidth_s=bw,
                     stage_names={j.tls: tuple(st.name for st in j.layout.model.stages)
                                  for j in order})


def green_wave_text(wave: GreenWave) -> str:
    """Human-readable summary: offsets, coordinated stages, bandwidth per direction."""
    lines = [f"# green wave: cycle {wave.cycle_s:.0f} s, {wave.speed_kmh:g} km/h, "
             f"wave {wave.direction} along {' -> '.join(wave.order)}"]
    for name in ("forward", "backward"):
        lines.append(f"# bandwidth {name}: {wave.bandwidth_s[name]:.1f} s "
                     f"({100 * wave.bandwidth_share(name):.0f} % of the cycle)")
    lines.append("junctions:")
    for tls, d in zip(wave.order, wave.distances_m, strict=True):
        plan = wave.plans[tls]
        names = [wave.stage_names[tls][s] for s in plan.order]
        greens = ", ".join(f"{n}: {g:g}" for n, g in zip(names, plan.greens, strict=True))
        lines += [f"  {tls}:   # {d:.0f} m, coordinated stage "
                  f"{wave.stage_names[tls][wave.coordinated_stage[tls]]}",
                  "    plans:", "      green_wave:", f"        greens: {{{greens}}}",
                  f"        offset_s: {plan.offset_s:.0f}"]
    return "\n".join(lines) + "\n"


class CoordinatedActuatedController:
    """Actuated control inside a coordinated cycle (floating force-offs, early return).

    The coordinated stage is held through its planned window (no gap-out there); in the
    rest of the cycle the actuated logic serves the other stages with calls, skips the
    ones without, and returns to the coordinated stage early when none calls. A stage is
    only started if its minimum green and the transitions still fit before the next
    coordinated window (force-off).
    """

    name = "coordinated-actuated"
    needs_detectors = True

    def __init__(self, plan: FixedTimePlan, coordinated_stage: int,
                 actuated: ActuatedController, interstage: Callable[[int, int], float]
                 ) -> None:
        self.plan = plan
        self.coord = coordinated_stage
        self.actuated = actuated
        self.decision_interval_s = actuated.decision_interval_s
        self._fixed = FixedTimeController(plan)
        self._interstage = interstage
        k = plan.order.index(coordinated_stage)
        self._coord_start = plan.stage_starts()[k]
        self._coord_green = plan.greens[k]

    def _until_window(self, time_s: float) -> float:
        """Seconds until the coordinated green is due to start again."""
        t = (time_s - self.plan.offset_s - self._coord_start) % self.plan.cycle_s
        return self.plan.cycle_s - t if t >= self._coord_green else 0.0

    def decide(self, obs: Observation) -> StageRequest:
        """Hold the coordinated window; actuated control elsewhere, with force-offs."""
        wanted = self.actuated.decide(obs)
        until = self._until_window(obs.time_s)
        if until <= 0.0:
            return StageRequest(self.coord, "coordinated window")
        stage = obs.stage
        if stage is None:
            return wanted
        if wanted.stage != stage and wanted.stage != self.coord:
            need = (self._interstage(stage, wanted.stage)
                    + self.actuated.limits.min_green[wanted.stage]
                    + self._interstage(wanted.stage, self.coord))
            if need > until:
                return StageRequest(self.coord, "force-off: no time before the wave")
        if stage != self.coord and wanted.stage == stage:
            need = self._interstage(stage, self.coord)
            if need >= until:
                return StageRequest(self.coord, "force-off")
        return wanted
