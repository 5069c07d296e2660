"""The safety guard: an independent check of every state that leaves a sequencer.

It shares nothing with :mod:`signals.sequencer` but the model: it watches colours tick by
tick and reports every breach of the conflict matrix, the colour order, the amber,
red-amber and minimum-green durations and the intergreens.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from .colours import Colour, parse_state_string
from .model import SignalModel
from .ticks import check_dt

__all__ = ["RULES", "SafetyGuard", "SafetyViolation", "Violation"]

logger = logging.getLogger(__name__)

RULES = (
    "conflicting_greens",
    "colour_order",
    "amber_duration",
    "red_amber_duration",
    "min_green",
    "intergreen",
)

# Order in which violations of one tick are reported (most dangerous first).
_SEVERITY = {
    rule: rank
    for rank, rule in enumerate(
        (
            "conflicting_greens",
            "intergreen",
            "colour_order",
            "min_green",
            "amber_duration",
            "red_amber_duration",
        )
    )
}

# Tolerance when comparing durations (ticks * dt) with model seconds.
_EPS = 1e-6

_ALWAYS_LEGAL = frozenset(
    {
        (Colour.RED, Colour.RED_AMBER),
        (Colour.RED_AMBER, Colour.GREEN),
        (Colour.GREEN, Colour.AMBER),
        (Colour.AMBER, Colour.RED),
    }
)


class SafetyViolation(Exception):
    """Raised by a strict :class:`SafetyGuard` on the first violation."""


@dataclass(frozen=True)
class Violation:
    """One breach of a safety rule (``rule`` is one of :data:`RULES`)."""

    time_s: float
    rule: str
    groups: tuple[str, ...]
    message: str


class SafetyGuard:
    """Checks a stream of signal-group states against a :class:`SignalModel`.

    The first call to :meth:`check` is time 0; each further call advances ``dt``. The
    first state may be any conflict-free state: its greens count as past minimum green,
    its ambers as having ended their green at time 0, and colour durations already
    running at time 0 are not checked. Overlapping conflicts (a conflicting pair green
    together, or green beside amber/red-amber) are reported once when they begin.

    Args:
        model: the junction's signal model.
        dt: seconds between two calls of :meth:`check`.
        strict: raise :class:`SafetyViolation` on the first violation.
        log_violations: log each violation as a warning (off when watching signals
            another system runs, whose violations are reported by the caller).
    """

    def __init__(self, model: SignalModel, dt: float = 1.0, strict: bool = False,
                 log_violations: bool = True) -> None:
        if not isinstance(model, SignalModel):
            raise ValueError(f"model must be a SignalModel, got {type(model).__name__}")
        self._model = model
        self._dt = check_dt(dt)
        self._strict = bool(strict)
        self._log = bool(log_violations)
        self._names = model.group_names
        n = len(self._names)
        index = model.index_of
        self._amber = tuple(g.amber_s for g in model.groups)
        self._red_amber = tuple(g.red_amber_s for g in model.groups)
        self._min_green = tuple(g.min_green_s for g in model.groups)
        self._pairs = tuple(
            sorted(tuple(sorted(index(name) for name in pair)) for pair in model.conflicts)
        )
        conflicts: list[list[int]] = [[] for _ in range(n)]
        for a, b in self._pairs:
            conflicts[a].append(b)
            conflicts[b].append(a)
        self._conflicts = tuple(tuple(sorted(c)) for c in conflicts)
        self._intergreen = {
            (index(c), index(e)): seconds for (c, e), seconds in model.intergreens.items()
        }
        self._tick = -1
        self._colours: tuple[Colour, ...] | None = None
        self._since: list[int | None] = [None] * n
        self._green_end: list[float | None] = [None] * n
        self._active_overlaps: set[tuple[int, int, str]] = set()
        self._violations: list[Violation] = []

    @property
    def violations(self) -> list[Violation]:
        """Every violation found so far (a copy)."""
        return list(self._violations)

    @property
    def violation_count(self) -> int:
        """Number of violations found so far."""
        return len(self._violations)

    @property
    def time_s(self) -> float:
        """Time of the latest checked state (-dt before the first)."""
        return self._tick * self._dt

    def hold(self, ticks: int) -> None:
        """The states last checked stayed as they were for ``ticks`` more ticks: the same
        as calling :meth:`check` with them ``ticks`` times (an unchanged state has no
        transition to check and its overlaps were reported when they began)."""
        if self._colours is None:
            raise ValueError("no state checked yet: nothing to hold")
        if ticks < 0:
            raise ValueError(f"ticks must be >= 0, got {ticks}")
        self._tick += ticks

    def check_state_string(self, state: str) -> list[Violation]:
        """Check a SUMO state string ('G'/'g', 'y', 'u', 'r')."""
        return self.check(parse_state_string(state))

    def check(self, states: Sequence[Colour]) -> list[Violation]:
        """Check the states of the next tick; return its violations, most dangerous first."""
        new = tuple(states)
        if new is self._colours or new == self._colours:
            # nothing changed: no transition to check, and the overlaps are those of the
            # previous tick, already reported when they began
            self._tick += 1
            return []
        if len(new) != len(self._names):
            raise ValueError(
                f"expected {len(self._names)} states ({', '.join(self._names)}), got {len(new)}"
            )
        for i, colour in enumerate(new):
            if not isinstance(colour, Colour):
                raise ValueError(f"state of {self._names[i]} is not a Colour: {colour!r}")
        self._tick += 1
        t = self._tick * self._dt
        found: list[Violation] = []
        old = self._colours
        if old is None:
            for i, colour in enumerate(new):
                if colour is Colour.AMBER:
                    self._green_end[i] = t
        else:
            entering = []
            for i, (before, after) in enumerate(zip(old, new, strict=True)):
                if before is after:
                    continue
                self._check_change(i, before, after, t, found)
                if before is Colour.GREEN:
                    self._green_end[i] = t
                if after is Colour.GREEN:
                    entering.append(i)
                self._since[i] = self._tick
            for e in entering:
                self._check_intergreens(e, new, t, found)
        self._check_overlaps(new, t, found)
        self._colours = new
        if found:
            found.sort(key=lambda violation: _SEVERITY[violation.rule])
            self._violations.extend(found)
            for violation in found if self._log else ():
                logger.warning("safety violation: %s", violation.message)
            if self._strict:
                raise SafetyViolation(found[0].message)
        return found

    def _add(
        self, found: list[Violation], t: float, rule: str, groups: tuple[int, ...], text: str
    ) -> None:
        names = tuple(self._names[g] for g in groups)
        found.append(Violation(t, rule, names, f"t={t:g} s {rule}: {text}"))

    def _check_change(
        self, i: int, before: Colour, after: Colour, t: float, found: list[Violation]
    ) -> None:
        name = self._names[i]
        legal = (
            (before, after) in _ALWAYS_LEGAL
            or (before is Colour.RED and after is Colour.GREEN and self._red_amber[i] == 0)
            or (before is Colour.GREEN and after is Colour.RED and self._amber[i] == 0)
        )
        if not legal:
            self._add(
                found, t, "colour_order", (i,), f"{name} changed from {before.name} to {after.name}"
            )
        since = self._since[i]
        if since is None:
            return
        lasted = (self._tick - since) * self._dt
        if before is Colour.AMBER and lasted < self._amber[i] - _EPS:
            self._add(
                found,
                t,
                "amber_duration",
                (i,),
                f"{name} amber lasted {lasted:g} s, needs {self._amber[i]:g} s",
            )
        elif before is Colour.RED_AMBER and not (
            self._red_amber[i] - _EPS <= lasted < self._red_amber[i] + self._dt - _EPS
        ):
            self._add(
                found,
                t,
                "red_amber_duration",
                (i,),
                f"{name} red-amber lasted {lasted:g} s, must be {self._red_amber[i]:g} s",
            )
        elif before is Colour.GREEN and lasted < self._min_green[i] - _EPS:
            self._add(
                found,
                t,
                "min_green",
                (i,),
                f"{name} green lasted {lasted:g} s, minimum is {self._min_green[i]:g} s",
            )

    def _check_intergreens(
        self, e: int, new: tuple[Colour, ...], t: float, found: list[Violation]
    ) -> None:
        for c in self._conflicts[e]:
            if new[c] is Colour.GREEN:
                continue  # reported as conflicting greens
            end = self._green_end[c]
            if end is None:
                continue
            needed = self._intergreen[(c, e)]
            if t - end < needed - _EPS:
                self._add(
                    found,
                    t,
                    "intergreen",
                    (c, e),
                    f"{self._names[e]} green {t - end:g} s after {self._names[c]} "
                    f"ended green, intergreen is {needed:g} s",
                )

    def _check_overlaps(self, new: tuple[Colour, ...], t: float, found: list[Violation]) -> None:
        active: set[tuple[int, int, str]] = set()
        for a, b in self._pairs:
            ca, cb = new[a], new[b]
            if ca is not Colour.GREEN and cb is not Colour.GREEN:
                continue
            if ca is Colour.GREEN and cb is Colour.GREEN:
                rule = "conflicting_greens"
                text = f"conflicting groups {self._names[a]} and {self._names[b]} both green"
            elif ca is Colour.RED or cb is Colour.RED:
                continue
            else:
                rule = "intergreen"
                text = (
                    f"conflicting groups {self._names[a]} ({ca.name}) and "
                    f"{self._names[b]} ({cb.name}) overlap"
                )
            key = (a, b, rule)
            active.add(key)
            if key not in self._active_overlaps:
                self._add(found, t, rule, (a, b), text)
        self._active_overlaps = active
