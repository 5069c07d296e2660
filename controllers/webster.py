"""Webster fixed-time plans computed from the scenario's demand.

Per stage the critical flow ratio ``y = max(q / s)`` over the approach lanes it serves
(``q`` from the routed demand split over the lanes of each movement, ``s`` = saturation
flow x the lane's turn factor, or for permissive turns a gap-acceptance factor of the
opposing flow);
``Y = sum(y)``, lost time ``L`` = sum of the interstage times of the stage order plus a
start-up loss per stage. Webster's optimum cycle ``C0 = (1.5 L + 5) / (1 - Y)`` is
clamped to ``[min_cycle_s, max_cycle_s]`` and the effective green ``C - L`` is split in
proportion to ``y``, then bounded by every group's minimum and maximum green.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from controllers.common import require_non_negative, require_positive
from controllers.fixed_time import MAX_CYCLE_S, FixedTimePlan
from controllers.movement_flows import group_flows, lane_loads, movement_flows
from scenarios.scenario import Junction, Scenario
from signals.errors import ParameterError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebsterParams:
    """Parameters of the Webster plan (defaults from HBS / DOMAIN.md).

    Attributes:
        saturation_flow: veh/h per lane of green for through traffic (HBS: 1.8 s headway).
        turn_factor: saturation-flow factor of protected turning movements.
        startup_loss_s: start-up lost time per stage, added to the interstage times.
        min_cycle_s: shortest cycle considered.
        max_cycle_s: longest cycle (RiLSA upper bound 120 s).
        max_y: ``Y`` above which the junction is treated as saturated (cycle = max).
        demand_scale: factor on the scenario's flows (plan for a heavier or lighter hour).
        plan: stage order taken from this scenario plan (default: its first plan).
    """

    saturation_flow: float = 1800.0
    turn_factor: float = 0.9
    startup_loss_s: float = 2.0
    min_cycle_s: float = 40.0
    max_cycle_s: float = 90.0
    max_y: float = 0.9
    demand_scale: float = 1.0
    plan: str | None = None

    def __post_init__(self) -> None:
        require_positive(saturation_flow=self.saturation_flow, turn_factor=self.turn_factor,
                         min_cycle_s=self.min_cycle_s, max_cycle_s=self.max_cycle_s,
                         max_y=self.max_y)
        require_non_negative(startup_loss_s=self.startup_loss_s, demand_scale=self.demand_scale)
        if self.max_cycle_s > MAX_CYCLE_S:
            raise ParameterError(f"parameter 'max_cycle_s' must be <= {MAX_CYCLE_S:g} s (RiLSA)")
        if self.min_cycle_s > self.max_cycle_s:
            raise ParameterError("parameter 'min_cycle_s' must not exceed 'max_cycle_s'")
        if self.max_y >= 1:
            raise ParameterError("parameter 'max_y' must be < 1")


@dataclass(frozen=True)
class WebsterResult:
    """A Webster plan with the quantities it came from."""

    junction: str
    stage_names: tuple[str, ...]
    flow_ratios: tuple[float, ...]
    lost_time_s: float
    y_total: float
    optimum_cycle_s: float
    plan: FixedTimePlan
    group_flows: dict[str, float] = field(default_factory=dict)

    @property
    def greens(self) -> dict[str, float]:
        """Stage name -> green seconds, in cycle order."""
        return dict(zip(self.stage_names, self.plan.greens, strict=True))


def _stage_order(junction: Junction, plan_name: str | None) -> list[int]:
    model = junction.layout.model
    try:
        spec = junction.plan(plan_name)
        order = [model.stage_index(name) for name, _ in spec.greens]
    except (ValueError, KeyError):
        if plan_name is not None:
            raise
        order = []
    return order or list(range(len(model.stages)))


def webster_plan(junction: Junction, scenario: Scenario, params: WebsterParams | None = None,
                 flows: dict[tuple[str, str], float] | None = None,
                 offset_s: float = 0.0) -> WebsterResult:
    """The Webster plan of one junction (``flows``: veh/h per movement, routed if None)."""
    p = params or WebsterParams()
    model = junction.layout.model
    if flows is None:
        flows = movement_flows(scenario, p.demand_scale)[junction.tls]
    q = group_flows(junction, flows)
    loads = lane_loads(junction, flows, p.turn_factor, p.saturation_flow)
    order = _stage_order(junction, p.plan)
    n = len(order)
    ratios = []
    for s in order:
        y = 0.0
        for lane in junction.info.lanes:
            if s not in lane.stages or lane.lane not in loads:
                continue
            flow, factor = loads[lane.lane]
            served_in = sum(1 for k in order if k in lane.stages) or 1
            y = max(y, flow / (p.saturation_flow * factor) / served_in)
        ratios.append(y)
    interstages = ([model.interstage_duration(order[k], order[(k + 1) % n]) for k in range(n)]
                   if n > 1 else [0.0])
    lost = sum(interstages) + p.startup_loss_s * n
    y_total = sum(ratios)
    if y_total <= 0 and junction.plans:
        log.warning("junction %s: the scenario gives no flows that reach it; Webster keeps "
                    "its own plan", junction.tls)
        spec = junction.plan(None)
        plan = FixedTimePlan.build(model, spec.greens, offset_s)
        return WebsterResult(junction=junction.tls,
                             stage_names=tuple(model.stages[s].name for s in plan.order),
                             flow_ratios=tuple(0.0 for _ in plan.order), lost_time_s=lost,
                             y_total=0.0, optimum_cycle_s=math.nan, plan=plan, group_flows=q)
    if y_total >= p.max_y:
        c0 = p.max_cycle_s
    else:
        c0 = (1.5 * lost + 5.0) / (1.0 - y_total)
    cycle = min(max(c0, p.min_cycle_s), p.max_cycle_s)
    min_g = [max(model.group(g).min_green_s for g in model.stages[s].green) for s in order]
    # a group green in stage k is green from the end of the previous transition
    max_g = [min(model.group(g).max_green_s for g in model.stages[s].green)
             - (interstages[k - 1] if n > 1 else 0.0) for k, s in enumerate(order)]
    greens = _split(cycle - sum(interstages), ratios, min_g, max_g, p.startup_loss_s)
    plan = FixedTimePlan.build(model, tuple((model.stages[s].name, g)
                                            for s, g in zip(order, greens, strict=True)),
                               offset_s, max_cycle_s=max(MAX_CYCLE_S, cycle))
    return WebsterResult(junction=junction.tls,
                         stage_names=tuple(model.stages[s].name for s in order),
                         flow_ratios=tuple(ratios), lost_time_s=lost, y_total=y_total,
                         optimum_cycle_s=c0, plan=plan, group_flows=q)


def _split(total_green: float, ratios: list[float], min_g: list[float], max_g: list[float],
           startup_loss_s: float) -> list[float]:
    """Integer greens summing to ``total_green`` (or more if minima need it), by ratio."""
    n = len(ratios)
    effective = total_green - startup_loss_s * n
    y_total = sum(ratios)
    shares = ([r / y_total for r in ratios] if y_total > 0 else [1.0 / n] * n)
    greens = [min(max(effective * sh + startup_loss_s, lo), hi)
              for sh, lo, hi in zip(shares, min_g, max_g, strict=True)]
    # hand back (or take) the time that the bounds moved, to the unbounded stages
    for _ in range(n):
        excess = sum(greens) - total_green
        free = [k for k in range(n) if (excess > 0 and greens[k] > min_g[k])
                or (excess < 0 and greens[k] < max_g[k])]
        if abs(excess) < 0.5 or not free:
            break
        weight = sum(shares[k] for k in free) or len(free)
        for k in free:
            part = shares[k] / weight if sum(shares[k] for k in free) else 1 / len(free)
            greens[k] = min(max(greens[k] - excess * part, min_g[k]), max_g[k])
    return [float(max(round(g), int(-(-lo // 1)))) for g, lo in zip(greens, min_g, strict=True)]


def plan_yaml(results: list[WebsterResult], scenario: str, plan_name: str = "webster") -> str:
    """The plans as YAML to paste under each junction of ``scenario.yaml``."""
    lines = [f"# Webster plans for scenario {scenario!r} (paste under each junction)"]
    for r in results:
        lines.append(f"# {r.junction}: Y = {r.y_total:.3f}, L = {r.lost_time_s:.0f} s, "
                     f"C0 = {r.optimum_cycle_s:.1f} s, cycle = {r.plan.cycle_s:.0f} s; "
                     "y per stage: "
                     + ", ".join(f"{s}={y:.3f}" for s, y in zip(r.stage_names, r.flow_ratios,
                                                              strict=True)))
    lines.append("junctions:")
    for r in results:
        greens = ", ".join(f"{s}: {g:g}" for s, g in r.greens.items())
        lines += [f"  {r.junction}:", "    plans:", f"      {plan_name}:",
                  f"        greens: {{{greens}}}", f"        offset_s: {r.plan.offset_s:g}"]
    return "\n".join(lines) + "\n"
