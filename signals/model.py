"""The signal model of one junction: groups, conflicts, intergreens and stages."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from .errors import ScenarioError
from .groups import SignalGroup
from .ticks import check_dt, to_ticks

__all__ = ["MAX_INTERGREEN_S", "SignalModel", "Stage"]

MAX_INTERGREEN_S = 60.0


@dataclass(frozen=True)
class Stage:
    """A set of mutually compatible signal groups that are green together."""

    name: str
    green: frozenset[str]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ScenarioError(f"stage name must be a non-empty string, got {self.name!r}")
        if isinstance(self.green, str):
            raise ScenarioError(
                f"stage '{self.name}': green must be a collection of group names, not a string"
            )
        object.__setattr__(self, "green", frozenset(self.green))


def _normalise_conflicts(conflicts: Iterable[Iterable[str]]) -> frozenset[frozenset[str]]:
    pairs = []
    for pair in conflicts:
        if isinstance(pair, str):
            raise ScenarioError(f"conflict {pair!r} must be a pair of group names, not a string")
        members = frozenset(pair)
        if len(members) != 2:
            raise ScenarioError(f"conflict {sorted(members)} must name two distinct groups")
        pairs.append(members)
    return frozenset(pairs)


@dataclass(frozen=True)
class SignalModel:
    """Signal groups, their conflict and intergreen matrices, and the stages of a junction.

    Attributes:
        groups: the signal groups; their order is the order of every state tuple.
        conflicts: unordered pairs of group names that must never be green together.
        intergreens: ``(clearing, entering) -> seconds`` from the end of the clearing
            group's green to the start of the entering group's green; required in both
            directions for every conflicting pair, forbidden for other pairs.
        stages: the stages a controller may request, by index.
    """

    groups: tuple[SignalGroup, ...]
    conflicts: frozenset[frozenset[str]]
    intergreens: Mapping[tuple[str, str], float]
    stages: tuple[Stage, ...]
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False)
    _stage_index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        groups = tuple(self.groups)
        object.__setattr__(self, "groups", groups)
        if not groups:
            raise ScenarioError("a signal model needs at least one signal group")
        index: dict[str, int] = {}
        for i, group in enumerate(groups):
            if not isinstance(group, SignalGroup):
                raise ValueError(f"groups[{i}] is not a SignalGroup: {group!r}")
            if group.name in index:
                raise ScenarioError(f"duplicate signal group name {group.name}")
            index[group.name] = i
        object.__setattr__(self, "_index", MappingProxyType(index))

        conflicts = _normalise_conflicts(self.conflicts)
        object.__setattr__(self, "conflicts", conflicts)
        for pair in sorted(conflicts, key=sorted):
            unknown = sorted(name for name in pair if name not in index)
            if unknown:
                raise ScenarioError(
                    f"conflict {' / '.join(sorted(pair))} names unknown group(s) "
                    f"{', '.join(unknown)}"
                )

        self._validate_intergreens(index, conflicts)
        self._validate_stages(index, conflicts)

    def _validate_intergreens(
        self, index: Mapping[str, int], conflicts: frozenset[frozenset[str]]
    ) -> None:
        intergreens: dict[tuple[str, str], float] = {}
        for key, value in dict(self.intergreens).items():
            if not isinstance(key, tuple) or len(key) != 2:
                raise ScenarioError(f"intergreen key {key!r} must be a (clearing, entering) tuple")
            clearing, entering = key
            for name in key:
                if name not in index:
                    raise ScenarioError(
                        f"intergreen {clearing} -> {entering} names unknown group {name}"
                    )
            if frozenset(key) not in conflicts:
                raise ScenarioError(
                    f"intergreen {clearing} -> {entering} given but {clearing} and {entering} "
                    "do not conflict"
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ScenarioError(f"intergreen {clearing} -> {entering} must be a number")
            if not math.isfinite(value):
                raise ScenarioError(f"intergreen {clearing} -> {entering} must be finite")
            amber = self.groups[index[clearing]].amber_s
            if value < amber:
                raise ScenarioError(
                    f"intergreen {clearing} -> {entering} ({value:g} s) is shorter than the "
                    f"amber of {clearing} ({amber:g} s)"
                )
            if value > MAX_INTERGREEN_S:
                raise ScenarioError(
                    f"intergreen {clearing} -> {entering} ({value:g} s) exceeds "
                    f"{MAX_INTERGREEN_S:g} s"
                )
            intergreens[(clearing, entering)] = float(value)
        for pair in sorted(conflicts, key=sorted):
            a, b = sorted(pair, key=index.__getitem__)
            for clearing, entering in ((a, b), (b, a)):
                if (clearing, entering) not in intergreens:
                    raise ScenarioError(
                        f"intergreen {clearing} -> {entering} missing for conflicting groups "
                        f"{a} and {b} (both directions are required)"
                    )
        object.__setattr__(self, "intergreens", MappingProxyType(intergreens))

    def _validate_stages(
        self, index: Mapping[str, int], conflicts: frozenset[frozenset[str]]
    ) -> None:
        stages = tuple(self.stages)
        object.__setattr__(self, "stages", stages)
        if not stages:
            raise ScenarioError("a signal model needs at least one stage")
        stage_index: dict[str, int] = {}
        for i, stage in enumerate(stages):
            if not isinstance(stage, Stage):
                raise ValueError(f"stages[{i}] is not a Stage: {stage!r}")
            if stage.name in stage_index:
                raise ScenarioError(f"duplicate stage name '{stage.name}'")
            stage_index[stage.name] = i
            if not stage.green:
                raise ScenarioError(f"stage '{stage.name}' makes no group green")
            unknown = sorted(name for name in stage.green if name not in index)
            if unknown:
                raise ScenarioError(
                    f"stage '{stage.name}' names unknown group(s) {', '.join(unknown)}"
                )
            members = sorted(stage.green, key=index.__getitem__)
            for i_a, a in enumerate(members):
                for b in members[i_a + 1 :]:
                    if frozenset((a, b)) in conflicts:
                        raise ScenarioError(
                            f"stage '{stage.name}' makes conflicting groups {a} and {b} green"
                        )
        served = frozenset().union(*(stage.green for stage in stages))
        never = [g.name for g in self.groups if g.name not in served]
        if never:
            raise ScenarioError(f"group(s) {', '.join(never)} green in no stage")
        object.__setattr__(self, "_stage_index", MappingProxyType(stage_index))

    def __hash__(self) -> int:
        return hash(
            (self.groups, self.conflicts, tuple(sorted(self.intergreens.items())), self.stages)
        )

    def __reduce__(self) -> tuple[type[SignalModel], tuple[object, ...]]:
        """Pickle by the constructor's arguments, so an unpickled model is validated again."""
        return (SignalModel, (self.groups, self.conflicts, dict(self.intergreens), self.stages))

    @property
    def group_names(self) -> tuple[str, ...]:
        """Group names in state order."""
        return tuple(group.name for group in self.groups)

    def index_of(self, name: str) -> int:
        """Position of group ``name`` in every state tuple."""
        try:
            return self._index[name]
        except KeyError:
            raise ScenarioError(f"unknown signal group {name!r}") from None

    def group(self, name: str) -> SignalGroup:
        """The signal group called ``name``."""
        return self.groups[self.index_of(name)]

    def conflicting(self, a: str, b: str) -> bool:
        """Whether groups ``a`` and ``b`` must never be green together."""
        self.index_of(a)
        self.index_of(b)
        return frozenset((a, b)) in self.conflicts

    def intergreen(self, clearing: str, entering: str) -> float:
        """Intergreen in seconds from ``clearing`` to ``entering``; 0.0 without a conflict."""
        self.index_of(clearing)
        self.index_of(entering)
        return self.intergreens.get((clearing, entering), 0.0)

    def stage_index(self, name: str) -> int:
        """Index of the stage called ``name``."""
        try:
            return self._stage_index[name]
        except KeyError:
            raise ScenarioError(f"unknown stage {name!r}") from None

    def _check_stage(self, stage: int) -> int:
        if isinstance(stage, bool) or not isinstance(stage, int | np.integer):
            raise ValueError(f"stage index must be an int, got {stage!r}")
        if not 0 <= stage < len(self.stages):
            raise ValueError(
                f"stage index {stage} out of range (model has {len(self.stages)} stages)"
            )
        return int(stage)

    def interstage_duration(self, from_stage: int, to_stage: int, dt: float | None = None) -> float:
        """Duration in seconds of the transition the Sequencer builds from one stage to another.

        Valid when ``from_stage`` has been held long enough that the intergreens of
        earlier stages have run out (in practice: it served its minimum greens and was
        entered from switch-on or held at least the longest intergreen). With ``dt``,
        every part is rounded up to whole ticks as the Sequencer does.
        """
        from_stage = self._check_stage(from_stage)
        to_stage = self._check_stage(to_stage)
        if from_stage == to_stage:
            return 0.0
        step = None if dt is None else check_dt(dt)

        def rounded(seconds: float) -> float:
            return seconds if step is None else to_ticks(seconds, step) * step

        src = self.stages[from_stage].green
        dst = self.stages[to_stage].green
        leaving = sorted(src - dst)
        duration = 0.0
        for name in leaving:
            duration = max(duration, rounded(self.group(name).amber_s))
        for entering in sorted(dst - src):
            start = rounded(self.group(entering).red_amber_s)
            for clearing in leaving:
                if (clearing, entering) in self.intergreens:
                    start = max(start, rounded(self.intergreens[(clearing, entering)]))
            duration = max(duration, start)
        return duration

    def conflict_matrix(self) -> np.ndarray:
        """Boolean matrix ``[i, j]``: groups i and j conflict (state order)."""
        n = len(self.groups)
        matrix = np.zeros((n, n), dtype=bool)
        for pair in self.conflicts:
            a, b = (self._index[name] for name in pair)
            matrix[a, b] = matrix[b, a] = True
        return matrix

    def intergreen_matrix(self) -> np.ndarray:
        """Intergreen seconds ``[clearing, entering]`` (0 where no conflict)."""
        n = len(self.groups)
        matrix = np.zeros((n, n), dtype=float)
        for (clearing, entering), seconds in self.intergreens.items():
            matrix[self._index[clearing], self._index[entering]] = seconds
        return matrix
