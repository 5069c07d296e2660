"""Fixed-time control: a RiLSA-valid plan of stage greens, cycle and offset."""

from __future__ import annotations

from dataclasses import dataclass

from controllers.base import StageRequest
from scenarios.observation import Observation
from signals import SignalModel
from signals.errors import ParameterError
from signals.numbers import check_number

#: RiLSA: cycles of 60-90 s by day, 120 s as the upper bound
MAX_CYCLE_S = 120.0


@dataclass(frozen=True)
class FixedTimePlan:
    """A validated fixed-time plan.

    ``order`` are stage indices in cycle order, ``greens`` their green seconds (from the end
    of the transition into the stage to the start of the next transition). The cycle is
    greens plus the interstage times the sequencer builds from the intergreen matrix.
    """

    order: tuple[int, ...]
    greens: tuple[float, ...]
    interstages: tuple[float, ...]
    offset_s: float = 0.0

    @property
    def cycle_s(self) -> float:
        """Cycle length in seconds."""
        return sum(self.greens) + sum(self.interstages)

    def stage_starts(self) -> tuple[float, ...]:
        """Cycle time at which each stage's green (after its transition) begins."""
        starts, t = [], 0.0
        for green, inter in zip(self.greens, self.interstages, strict=True):
            starts.append(t)
            t += green + inter
        return tuple(starts)

    @classmethod
    def build(cls, model: SignalModel, greens: dict[str, float] | tuple[tuple[str, float], ...],
              offset_s: float = 0.0, max_cycle_s: float = MAX_CYCLE_S) -> FixedTimePlan:
        """Validate stage greens against the signal model (min/max green, cycle bound)."""
        items = list(greens.items()) if isinstance(greens, dict) else list(greens)
        items = [(name, check_number(green, f"plan: stage {name!r} green", low=0.0))
                 for name, green in items]
        offset_s = check_number(offset_s, "plan: offset_s")
        if not items:
            raise ParameterError("a fixed-time plan needs at least one stage green")
        order = []
        for name, _green in items:
            try:
                idx = model.stage_index(name)
            except (KeyError, ValueError):
                known = ", ".join(s.name for s in model.stages)
                raise ParameterError(f"plan names unknown stage {name!r} "
                                     f"(known: {known})") from None
            if idx in order:
                raise ParameterError(f"plan names stage {name!r} twice")
            order.append(idx)
        n = len(order)
        interstages = tuple(model.interstage_duration(order[k], order[(k + 1) % n])
                            for k in range(n)) if n > 1 else (0.0,)
        for k, (name, green) in enumerate(items):
            stage = model.stages[order[k]]
            for g in sorted(stage.green):
                group = model.group(g)
                if green < group.min_green_s:
                    raise ParameterError(f"plan: stage {name!r} green {green:g} s is below the "
                                         f"minimum green {group.min_green_s:g} s of group {g}")
                longest = green + interstages[k - 1]
                if n > 1 and longest > group.max_green_s:
                    raise ParameterError(f"plan: group {g} would be green up to {longest:g} s in "
                                         f"stage {name!r}, above its maximum green "
                                         f"{group.max_green_s:g} s")
        plan = cls(order=tuple(order), greens=tuple(float(g) for _, g in items),
                   interstages=interstages, offset_s=float(offset_s))
        if plan.cycle_s > max_cycle_s:
            raise ParameterError(f"plan cycle {plan.cycle_s:g} s exceeds {max_cycle_s:g} s "
                                 "(RiLSA upper bound); shorten the greens")
        return plan


class FixedTimeController:
    """Requests stages by cycle time; the sequencer builds every transition."""

    name = "fixed-time"
    needs_detectors = False

    def __init__(self, plan: FixedTimePlan, decision_interval_s: float = 1.0) -> None:
        self.plan = plan
        self.decision_interval_s = decision_interval_s
        self._starts = plan.stage_starts()

    def stage_at(self, time_s: float) -> int:
        """Stage index the plan wants at the given time."""
        t = (time_s - self.plan.offset_s) % self.plan.cycle_s
        n = len(self.plan.order)
        for k in range(n):
            end_green = self._starts[k] + self.plan.greens[k]
            if t < end_green:
                return self.plan.order[k]
            if t < end_green + self.plan.interstages[k]:
                return self.plan.order[(k + 1) % n]
        return self.plan.order[0]

    def held_until(self, time_s: float) -> float:
        """A time before which :meth:`stage_at` stays ``stage_at(time_s)`` (the next
        boundary of the plan less 1 µs; ``time_s`` itself when unsure).

        :meth:`decide` reads nothing but the time, so a runner may skip the decisions
        before this time (they would repeat the same request).
        """
        plan = self.plan
        t = (time_s - plan.offset_s) % plan.cycle_s
        n = len(plan.order)
        for k in range(n):
            end_green = self._starts[k] + plan.greens[k]
            if t < end_green:
                return time_s + (end_green - t) - 1e-6
            if t < end_green + plan.interstages[k]:  # the next stage's, to its green's end
                nxt = (self._starts[k + 1] if k + 1 < n else plan.cycle_s + self._starts[0])
                return time_s + (nxt + plan.greens[(k + 1) % n] - t) - 1e-6
        return time_s

    def decide(self, obs: Observation) -> StageRequest:
        """Request the stage of the plan at this cycle time."""
        return StageRequest(self.stage_at(obs.time_s), "plan")
