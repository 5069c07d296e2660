"""The sequencer: turns stage requests into legal, tick-by-tick signal-group colours."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from .colours import Colour
from .model import SignalModel
from .ticks import check_dt, to_ticks

__all__ = ["RequestOutcome", "Sequencer"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestOutcome:
    """Answer to a stage request: ``accepted`` when it is carried out at the next tick.

    A request that is not accepted is still stored and carried out as soon as the
    rules allow; ``reason`` says why it waits.
    """

    accepted: bool
    reason: str = ""


_ACCEPTED = RequestOutcome(True, "")


class Sequencer:
    """Builds every transition between stages of a :class:`SignalModel`.

    Time advances in ticks of ``dt`` seconds; every duration of the model is rounded up
    to whole ticks. At switch-on all groups are red with no previous green and the
    sequencer moves straight to ``initial_stage`` (red-amber, then green).

    Args:
        model: the junction's signal model.
        initial_stage: index of the stage reached after switch-on.
        dt: tick length in seconds.
    """

    def __init__(self, model: SignalModel, initial_stage: int = 0, dt: float = 1.0) -> None:
        if not isinstance(model, SignalModel):
            raise ValueError(f"model must be a SignalModel, got {type(model).__name__}")
        self._model = model
        self._dt = check_dt(dt)
        initial_stage = model._check_stage(initial_stage)
        groups = model.groups
        names = model.group_names
        self._names = names
        self._amber = tuple(to_ticks(g.amber_s, self._dt) for g in groups)
        self._red_amber = tuple(to_ticks(g.red_amber_s, self._dt) for g in groups)
        self._min_green = tuple(to_ticks(g.min_green_s, self._dt) for g in groups)
        self._max_green = tuple(to_ticks(g.max_green_s, self._dt) for g in groups)
        n = len(groups)
        self._conflicts = tuple(
            tuple(j for j in range(n) if j != i and model.conflicting(names[i], names[j]))
            for i in range(n)
        )
        self._intergreen = tuple(
            tuple(to_ticks(model.intergreen(names[c], names[e]), self._dt) for e in range(n))
            for c in range(n)
        )
        self._stage_sets = tuple(
            frozenset(model.index_of(name) for name in stage.green) for stage in model.stages
        )
        always_green = frozenset.intersection(*self._stage_sets)
        # Groups whose max green can be enforced: those not green in every stage.
        self._max_candidates = tuple(tuple(sorted(s - always_green)) for s in self._stage_sets)
        self._leaving = tuple(
            tuple(tuple(sorted(a - b)) for b in self._stage_sets) for a in self._stage_sets
        )

        self._tick = 0
        self._colours: list[Colour] = [Colour.RED] * n
        self._green_start: list[int | None] = [None] * n
        self._green_end: list[int | None] = [None] * n
        self._current: int | None = None
        self._target: int | None = None
        self._pending: int | None = None
        self._forced_reason = ""
        self._stage_start = 0
        # Tick at which the transition into the current stage began (max green per stage)
        self._entered = 0
        # Transition plan: (tick, group, colour) changes sorted by tick, and next position.
        self._plan: list[tuple[int, int, Colour]] | None = None
        self._plan_pos = 0
        self._plan_end = 0
        self._last_event = ""
        # The colours as returned by step(): a new tuple only when a colour changed (the
        # runner and the guard take an identical object as "unchanged")
        self._states: tuple[Colour, ...] = tuple(self._colours)
        # Earliest tick at which a max green could force a change (None: to be computed)
        self._force_tick: float | None = None
        # allowed_stages(): (state key, first tick it may change, mask)
        self._allowed: tuple[tuple[object, ...], float, tuple[bool, ...]] | None = None
        self._start_transition(frozenset(), initial_stage, 1)
        self._stage_start = 0
        self._event(f"switch-on: transition to '{self._stage_name(initial_stage)}'")

    # ----------------------------------------------------------------- properties
    @property
    def model(self) -> SignalModel:
        """The signal model."""
        return self._model

    @property
    def dt(self) -> float:
        """Tick length in seconds."""
        return self._dt

    @property
    def states(self) -> tuple[Colour, ...]:
        """Colour of every group in model order, for the current tick."""
        return tuple(self._colours)

    @property
    def time_s(self) -> float:
        """Time of the current tick in seconds since switch-on."""
        return self._tick * self._dt

    @property
    def current_stage(self) -> int | None:
        """Index of the stage shown, or None during a transition."""
        return self._current

    @property
    def target_stage(self) -> int | None:
        """Stage being moved to (during a transition) or waiting to be moved to, else None."""
        return self._target if self._plan is not None else self._pending

    @property
    def time_in_stage_s(self) -> float:
        """Seconds since the current stage was reached (during a transition: since it began)."""
        return (self._tick - self._stage_start) * self._dt

    def decision_state(self, ticks: int = 0) -> tuple[int | None, int | None, float]:
        """(:attr:`current_stage`, :attr:`target_stage`, :meth:`time_in_stage_after`
        ``ticks``) in one call."""
        target = self._target if self._plan is not None else self._pending
        return self._current, target, (self._tick + ticks - self._stage_start) * self._dt

    def time_in_stage_after(self, ticks: int) -> float:
        """:attr:`time_in_stage_s` after ``ticks`` more ticks that change nothing (as
        :meth:`rest` would leave it; the same arithmetic)."""
        return (self._tick + ticks - self._stage_start) * self._dt

    @property
    def in_transition(self) -> bool:
        """Whether a transition between stages is running."""
        return self._plan is not None

    @property
    def last_event(self) -> str:
        """Human-readable description of the latest decision."""
        return self._last_event

    def state_string(self) -> str:
        """Current colours as a SUMO state string."""
        return "".join(colour.value for colour in self._colours)

    def interstage_duration(self, from_stage: int, to_stage: int) -> float:
        """Transition duration from one stage to another at this sequencer's ``dt``."""
        return self._model.interstage_duration(from_stage, to_stage, dt=self._dt)

    def allowed_stages(self) -> tuple[bool, ...]:
        """Mask of stages a request could start at the next tick without deferral."""
        nxt = self._tick + 1
        key = (self._plan is None, self._current, self._target, self._stage_start)
        cached = self._allowed
        if cached is not None and cached[0] == key and nxt < cached[1]:
            return cached[2]
        n = len(self._stage_sets)
        # the mask holds until the first minimum green that blocks a stage runs out (green
        # starts change only in transitions, which change the key)
        until: float = math.inf
        if self._plan is not None or self._current is None:
            mask = tuple(s == self._target for s in range(n))
        else:
            allowed = []
            for s in range(n):
                blocker = (None if s == self._current
                           else self._min_green_blocker(self._current, s, nxt))
                allowed.append(blocker is None)
                if blocker is not None:
                    until = min(until, blocker[1])
            mask = tuple(allowed)
        self._allowed = (key, until, mask)
        return mask

    # ------------------------------------------------------------------- requests
    def request(self, stage: int) -> RequestOutcome:
        """Ask for ``stage``; the outcome says whether it starts now or why it waits."""
        if type(stage) is int:
            # the stage shown or, during a transition, its target (valid indices): the
            # common cases, decided without the checks (the same outcome as below)
            if self._plan is None:
                if stage == self._current:
                    self._pending = None
                    self._forced_reason = ""
                    return _ACCEPTED
            elif stage == self._target:
                self._pending = None
                return _ACCEPTED
        stage = self._model._check_stage(stage)
        if self._plan is not None:
            if stage == self._target:
                self._pending = None
                return _ACCEPTED
            self._pending = stage
            self._forced_reason = ""
            return self._deferred(
                f"deferred: transition to '{self._stage_name(self._target)}' in progress"
            )
        if stage == self._current:
            self._pending = None
            self._forced_reason = ""
            return _ACCEPTED
        self._pending = stage
        self._forced_reason = ""
        assert self._current is not None  # without a transition running there is a stage
        blocker = self._min_green_blocker(self._current, stage, self._tick + 1)
        if blocker is None:
            return _ACCEPTED
        group, release = blocker
        return self._deferred(
            f"deferred: minimum green of {self._names[group]} runs until t={release * self._dt:g}"
        )

    # ------------------------------------------------------------------- rest
    def rest_ticks(self) -> int | float:
        """How many further ticks would change nothing while every request repeats the
        shown stage: no transition runs or waits and no maximum green falls due (0 during
        a transition or with a request waiting; ``math.inf`` when none can fall due).

        A caller that knows its requests for that long may :meth:`rest` instead of
        calling :meth:`request` and :meth:`step` tick by tick (equal outcome).
        """
        if (self._plan is not None or self._pending is not None or self._current is None
                or self._forced_reason):
            return 0
        if len(self._stage_sets) < 2:
            return math.inf
        if self._force_tick is None:
            self._force_tick = self._first_force_tick(self._current)
        # step() at tick k changes nothing while k < force tick
        return max(0, self._force_tick - self._tick - 1)

    def rest(self, ticks: int) -> tuple[Colour, ...]:
        """Advance ``ticks`` ticks in which nothing changes (at most :meth:`rest_ticks`),
        as ``ticks`` calls of ``request(current stage)`` and :meth:`step` would; return the
        colours (the same tuple :meth:`step` returned)."""
        if ticks < 0 or ticks > self.rest_ticks():
            raise ValueError(f"cannot rest {ticks} ticks: the sequencer may change within "
                             f"{self.rest_ticks()}")
        self._tick += ticks
        return self._states

    # ----------------------------------------------------------------------- step
    def step(self) -> tuple[Colour, ...]:
        """Advance one tick; return the colours valid for the new tick."""
        tick = self._tick + 1
        if self._plan is None:
            self._maybe_force(tick)
            self._maybe_start(tick)
        self._tick = tick
        plan = self._plan
        if plan is not None:
            pos = start = self._plan_pos
            while pos < len(plan) and plan[pos][0] <= tick:
                self._apply(plan[pos])
                pos += 1
            self._plan_pos = pos
            if pos != start:
                self._states = tuple(self._colours)
            if tick >= self._plan_end:
                self._finish(tick)
        return self._states

    # ------------------------------------------------------------------ internals
    def _stage_name(self, stage: int | None) -> str:
        return "" if stage is None else self._model.stages[stage].name

    def _event(self, message: str) -> None:
        self._last_event = message
        logger.debug("t=%g %s", self._tick * self._dt, message)

    def _deferred(self, reason: str) -> RequestOutcome:
        self._event(reason)
        return RequestOutcome(False, reason)

    def _min_green_blocker(self, src: int, dst: int, tick: int) -> tuple[int, int] | None:
        """(group, release tick) of the leaving group whose minimum green ends last."""
        worst: tuple[int, int] | None = None
        for g in self._leaving[src][dst]:
            start = self._green_start[g]
            if start is None:
                continue
            release = start + self._min_green[g]
            if release > tick and (worst is None or release > worst[1]):
                worst = (g, release)
        return worst

    def _maybe_force(self, tick: int) -> None:
        """Force the next stage when a group's green in the current stage reaches its max.

        The maximum applies per stage shown: a group green in consecutive stages (an
        overlap) counts from the start of the transition into the current stage, so it
        never forces a change by itself.
        """
        if self._pending is not None or self._current is None or len(self._stage_sets) < 2:
            return
        if self._force_tick is None:
            self._force_tick = self._first_force_tick(self._current)
        if tick < self._force_tick:
            return
        for g in self._max_candidates[self._current]:
            start = self._green_start[g]
            if start is not None and tick - max(start, self._entered) >= self._max_green[g]:
                self._pending = (self._current + 1) % len(self._stage_sets)
                self._forced_reason = f"forced change at max green of {self._names[g]}"
                self._event(
                    f"{self._forced_reason}: '{self._stage_name(self._current)}' -> "
                    f"'{self._stage_name(self._pending)}'"
                )
                return

    def _first_force_tick(self, current: int) -> float:
        """Earliest tick at which a max green of stage ``current`` (shown) could force a
        change."""
        return min((max(start, self._entered) + self._max_green[g]
                    for g in self._max_candidates[current]
                    if (start := self._green_start[g]) is not None), default=math.inf)

    def _maybe_start(self, tick: int) -> None:
        pending = self._pending
        if pending is None or self._current is None:
            return
        if pending == self._current:
            self._pending = None
            return
        if self._min_green_blocker(self._current, pending, tick) is not None:
            return
        src = self._current
        self._pending = None
        self._start_transition(self._stage_sets[src], pending, tick)
        prefix = f"{self._forced_reason}: " if self._forced_reason else ""
        self._forced_reason = ""
        self._event(
            f"{prefix}transition '{self._stage_name(src)}' -> '{self._stage_name(pending)}' started"
        )

    def _start_transition(self, src: frozenset[int], dst_stage: int, tick: int) -> None:
        """Plan every colour change from the greens ``src`` to stage ``dst_stage``."""
        dst = self._stage_sets[dst_stage]
        leaving = sorted(src - dst)
        leaving_set = frozenset(leaving)
        plan: list[tuple[int, int, Colour]] = []
        for c in leaving:
            amber = self._amber[c]
            if amber > 0:
                plan.append((tick, c, Colour.AMBER))
                plan.append((tick + amber, c, Colour.RED))
            else:
                plan.append((tick, c, Colour.RED))
        for e in sorted(dst - src):
            red_amber = self._red_amber[e]
            green_at = tick + red_amber
            for c in self._conflicts[e]:
                end = tick if c in leaving_set else self._green_end[c]
                if end is not None:
                    green_at = max(green_at, end + self._intergreen[c][e])
            if red_amber > 0:
                plan.append((green_at - red_amber, e, Colour.RED_AMBER))
            plan.append((green_at, e, Colour.GREEN))
        plan.sort(key=lambda change: change[0])
        self._plan = plan
        self._plan_pos = 0
        self._plan_end = max((change[0] for change in plan), default=tick)
        self._target = dst_stage
        self._current = None
        self._stage_start = tick
        self._entered = tick
        self._force_tick = None

    def _apply(self, change: tuple[int, int, Colour]) -> None:
        tick, group, colour = change
        if self._colours[group] is Colour.GREEN and colour is not Colour.GREEN:
            self._green_end[group] = tick
            self._green_start[group] = None
        elif colour is Colour.GREEN:
            self._green_start[group] = tick
        self._colours[group] = colour
        self._force_tick = None

    def _finish(self, tick: int) -> None:
        target = self._target
        self._plan = None
        self._force_tick = None
        self._current = target
        self._target = None
        self._stage_start = tick
        if self._pending == target:
            self._pending = None
        self._event(f"stage '{self._stage_name(target)}' reached")
