"""Shared helpers of the rule-based controllers: lane/stage maps, calls, gaps, parameters.

Everything here works from a junction's static ``JunctionInfo`` and the detector
``LaneReading`` s of an ``Observation``; nothing assumes a particular junction.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from scenarios.observation import JunctionInfo, LaneReading, Observation
from signals.errors import ParameterError
from signals.numbers import check_number

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

P = TypeVar("P", bound="DataclassInstance")

#: keys every builder accepts besides its own dataclass fields (handled by the registry)
COMMON_KEYS = frozenset({"plan", "greens", "offset_s"})


def _coerce(value: Any, target: Any, key: str, where: str) -> Any:
    """Turn a CLI string or config value into the type of the dataclass default."""
    if isinstance(target, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ParameterError(f"{where}: parameter {key!r} expects true/false, got {value!r}")
    if isinstance(target, int | float):
        return check_number(value, f"{where}: parameter {key!r}",
                            integer=isinstance(target, int))
    return value if value is None or isinstance(value, str) else str(value)


def attribute_docs(cls: type) -> dict[str, str]:
    """Descriptions of a dataclass's fields from the ``Attributes:`` section of its docstring.

    Google style: ``name: text`` on one line, continuation lines indented deeper;
    ``a, b: text`` documents several fields at once.
    """
    doc = inspect.getdoc(cls) or ""
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Attributes:")
    except StopIteration:
        return {}
    out: dict[str, str] = {}
    names: list[str] = []
    base_indent: int | None = None
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if base_indent is None:
            base_indent = indent
        if indent < base_indent:
            break
        match = re.match(r"^([\w, ]+):\s*(.*)$", line.strip())
        if indent == base_indent and match:
            names = [n.strip() for n in match.group(1).split(",")]
            for n in names:
                out[n] = match.group(2).strip()
        elif names:
            for n in names:
                out[n] = f"{out[n]} {line.strip()}".strip()
    return out


def parse_params(cls: type[P], params: Mapping[str, Any], where: str,
                 extra: frozenset[str] = frozenset()) -> P:
    """Build the parameter dataclass ``cls`` from a dict, refusing unknown keys.

    ``extra`` are keys the caller consumes itself (ignored here). Values may be strings
    (from ``--param key=value``); they are converted to the type of the default. A key
    starting with ``_`` is never a parameter: it is refused like any unknown key.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    defaults = cls()
    values: dict[str, Any] = {}
    for key, value in params.items():
        if key in extra:
            continue
        if key not in fields or key.startswith("_"):
            known = ", ".join(sorted(k for k in set(fields) | set(extra) if not k.startswith("_")))
            raise ParameterError(f"{where}: unknown parameter {key!r} (known: {known})")
        values[key] = _coerce(value, getattr(defaults, key), key, where)
    try:
        return cls(**values)
    except ValueError as exc:
        raise ParameterError(f"{where}: {exc}") from None


def require_positive(**values: float) -> None:
    """Raise ValueError naming the first value that is not > 0."""
    for key, value in values.items():
        if not value > 0:
            raise ParameterError(f"parameter {key!r} must be > 0, got {value:g}")


def require_non_negative(**values: float) -> None:
    """Raise ValueError naming the first value that is negative."""
    for key, value in values.items():
        if value < 0:
            raise ParameterError(f"parameter {key!r} must be >= 0, got {value:g}")


#: the lanes of no stage (a transition shows none)
NO_LANES: frozenset[int] = frozenset()

#: a stage serves a lane "fully" when this share of its movements is green in it
FULL_SHARE = 0.999


@dataclass(frozen=True)
class StageMap:
    """Which detected lanes each stage serves, from the static junction description.

    ``lanes_of_stage[s]`` are indices into ``Observation.lanes`` (same order as
    ``JunctionInfo.lanes``) of lanes with a group that is green in stage ``s``;
    ``full_lanes_of_stage[s]`` only those whose movements are *all* green in ``s`` (a
    shared lane whose through traffic is red in ``s`` is served only partly: its
    detections say nothing about the movement that ``s`` serves). ``share[s][i]`` is the
    share of lane ``i``'s movements that ``s`` serves.

    ``calling_stages_of_lane[i]`` are the stages a detection on lane ``i`` calls: the
    stages serving it fully, or, when none does, every stage serving it. A stage that no
    lane calls this way (e.g. a left-turn arrow on shared lanes whose left turners may
    also go permissively) is *partial-only*: loops cannot tell a turning vehicle from a
    through one, so it runs only when a vehicle is seen blocked at the head of a green
    lane (it waits for a movement not served, see the controllers).
    """

    n_stages: int
    lanes_of_stage: tuple[tuple[int, ...], ...]
    stages_of_lane: tuple[tuple[int, ...], ...]
    lane_ids: tuple[str, ...]
    full_lanes_of_stage: tuple[tuple[int, ...], ...] = ()
    share: tuple[dict[int, float], ...] = ()
    calling_stages_of_lane: tuple[tuple[int, ...], ...] = ()

    @classmethod
    def from_info(cls, info: JunctionInfo) -> StageMap:
        """Derive the map from ``JunctionInfo``."""
        n = len(info.stage_names)
        per_stage: list[list[int]] = [[] for _ in range(n)]
        full: list[list[int]] = [[] for _ in range(n)]
        share: list[dict[int, float]] = [{} for _ in range(n)]
        calling: list[tuple[int, ...]] = []
        for i, lane in enumerate(info.lanes):
            shares = lane.stage_shares if len(lane.stage_shares) == len(lane.stages) \
                else (1.0,) * len(lane.stages)
            own = []
            for s, sh in zip(lane.stages, shares, strict=True):
                if 0 <= s < n:
                    per_stage[s].append(i)
                    share[s][i] = sh
                    if sh >= FULL_SHARE:
                        full[s].append(i)
                        own.append(s)
            calling.append(tuple(own) if own
                           else tuple(s for s in lane.stages if 0 <= s < n))
        return cls(n_stages=n, lanes_of_stage=tuple(tuple(x) for x in per_stage),
                   stages_of_lane=tuple(tuple(lane.stages) for lane in info.lanes),
                   lane_ids=tuple(lane.lane for lane in info.lanes),
                   full_lanes_of_stage=tuple(tuple(x) for x in full),
                   share=tuple(share), calling_stages_of_lane=tuple(calling))

    @cached_property
    def full_sets(self) -> tuple[frozenset[int], ...]:
        """Per stage, :meth:`full` as a set (derived once: controllers ask every tick)."""
        return tuple(frozenset(self.full(s)) for s in range(self.n_stages))

    @cached_property
    def lane_sets(self) -> tuple[frozenset[int], ...]:
        """Per stage, ``lanes_of_stage`` as a set."""
        return tuple(frozenset(lanes) for lanes in self.lanes_of_stage)

    @cached_property
    def partial_only_stages(self) -> tuple[bool, ...]:
        """Per stage, :meth:`partial_only`."""
        return tuple(self.partial_only(s) for s in range(self.n_stages))

    def full(self, stage: int) -> tuple[int, ...]:
        """Lanes all of whose movements ``stage`` serves."""
        return self.full_lanes_of_stage[stage] if self.full_lanes_of_stage \
            else self.lanes_of_stage[stage]

    def called_by(self, stage: int) -> tuple[int, ...]:
        """Lanes whose detections call ``stage``."""
        if not self.calling_stages_of_lane:
            return self.lanes_of_stage[stage]
        return tuple(i for i in self.lanes_of_stage[stage]
                     if stage in self.calling_stages_of_lane[i])

    def partial_only(self, stage: int) -> bool:
        """Whether the stage serves detected lanes but no lane's detections call it."""
        return bool(self.lanes_of_stage[stage]) and not self.called_by(stage)

    def detected(self, stage: int) -> bool:
        """Whether the stage serves at least one detected lane."""
        return bool(self.lanes_of_stage[stage])

    def next_in_cycle(self, current: int, wanted: list[bool]) -> int | None:
        """The first stage after ``current`` in cyclic order for which ``wanted`` is true."""
        for k in range(1, self.n_stages + 1):
            s = (current + k) % self.n_stages
            if s != current and wanted[s]:
                return s
        return None


@dataclass(frozen=True)
class GreenLimits:
    """Per-stage green bounds as the sequencer enforces them, seen from the stage start.

    ``min_green[s]`` is the largest minimum green of the stage's groups.
    ``max_green[p][s]`` is the smallest maximum green of the groups of stage ``s`` less
    the interstage time from ``p`` (a group may turn green that early in the transition),
    less one tick of margin; the controller's own maximum is capped by it so that the
    sequencer never has to force a change.
    """

    min_green: tuple[float, ...]
    max_green: tuple[tuple[float, ...], ...]

    @classmethod
    def unbounded(cls, n_stages: int) -> GreenLimits:
        """No bounds beyond the controller's own (for unit tests with hand-made inputs)."""
        return cls((0.0,) * n_stages, ((math.inf,) * n_stages,) * n_stages)

    def bounded(self, min_green_s: float, max_green_s: float) -> GreenLimits:
        """These limits combined with a controller's own minimum and maximum green."""
        return GreenLimits(tuple(max(min_green_s, m) for m in self.min_green),
                           tuple(tuple(min(max_green_s, m) for m in row)
                                 for row in self.max_green))

    def capped(self, per_stage_max: dict[int, float]) -> GreenLimits:
        """These limits with further per-stage maximum greens (never below the minimum)."""
        rows = tuple(tuple(min(m, max(per_stage_max.get(s, math.inf), self.min_green[s]))
                           for s, m in enumerate(row)) for row in self.max_green)
        return GreenLimits(self.min_green, rows)

    def max_for(self, previous: int | None, stage: int) -> float:
        """Maximum green of ``stage`` when it was entered from ``previous``."""
        if previous is None or previous == stage:
            return min(row[stage] for row in self.max_green)
        return self.max_green[previous][stage]


class StageHistory:
    """Remembers the stage shown before the current one and when each was last shown."""

    def __init__(self) -> None:
        self.current: int | None = None
        self.previous: int | None = None
        self._last_shown: dict[int, float] = {}
        self._start: float | None = None

    def update(self, obs: Observation) -> None:
        """Track stage changes from the observation."""
        if self._start is None:
            self._start = obs.time_s
        if obs.stage is not None:
            self._last_shown[obs.stage] = obs.time_s
            if obs.stage != self.current:
                self.previous, self.current = self.current, obs.stage

    def red_s(self, stage: int, now: float) -> float:
        """Seconds since ``stage`` was last shown (since the first observation if never)."""
        start = self._start if self._start is not None else now
        return now - self._last_shown.get(stage, start)


def hold(obs: Observation) -> int:
    """The stage to request when a controller wants no change: the current or target one."""
    if obs.stage is not None:
        return obs.stage
    if obs.target_stage is not None:
        return obs.target_stage
    return 0


def bus_count(reading: LaneReading) -> int:
    """Buses detected on the lane since the last observation (0 if the sensing lacks it)."""
    return int(getattr(reading, "bus_count", 0) or 0)


class HeadBlocking:
    """Calls of partial-only stages from vehicles blocked at the head of a green lane.

    Loops cannot tell a left turner from a through vehicle. A vehicle that stands on the
    stop-line loop of a fully green lane for ``blocked_s`` while the loop counts nothing
    waits for a movement that is not (freely) served, e.g. a permissive left turn without
    a gap. After standing ``call_s`` it calls the lane's stages that serve it only partly
    (a left-turn arrow; ``call_s`` <= 0: never). A call is cleared when its stage is shown.
    """

    def __init__(self, stage_map: StageMap, blocked_s: float = 5.0,
                 call_s: float | None = None) -> None:
        self._map = stage_map
        self._blocked_s = blocked_s
        self._call_s = blocked_s if call_s is None else call_s
        self._called: set[int] = set()
        self.blocked: list[bool] = [False] * len(stage_map.lane_ids)

    def update(self, obs: Observation, since_count: list[float]) -> frozenset[int]:
        """The partial-only stages called after this observation."""
        shown = obs.stage
        if shown is not None:
            self._called.discard(shown)
        full = self._map.full_sets[shown] if shown is not None else NO_LANES
        calling = self._map.calling_stages_of_lane
        blocked, blocked_s, call_s = self.blocked, self._blocked_s, self._call_s
        in_stage = obs.time_in_stage_s
        for i, r in enumerate(obs.lanes):
            standing = min(in_stage, since_count[i]) if r.presence and i in full else 0.0
            blocked[i] = standing >= blocked_s
            if 0 < call_s <= standing and calling:
                self._called.update(s for s in self._map.stages_of_lane[i]
                                    if s not in calling[i])
        return frozenset(self._called)
