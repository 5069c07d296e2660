"""The one Controller protocol: an observation goes in, a stage request comes out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from scenarios.observation import Observation


@dataclass(frozen=True)
class StageRequest:
    """The stage a controller wants next; the sequencer decides when it may come."""

    stage: int
    reason: str = ""


class JunctionState(NamedTuple):
    """What a decision needs of a junction's sequencer (an ``Observation`` without lanes;
    the batches of :mod:`controllers.batch` decide from it)."""

    stage: int | None
    target_stage: int | None
    time_in_stage_s: float


@runtime_checkable
class Controller(Protocol):
    """Anything that picks stages. Controllers never touch signal colours directly."""

    name: str
    #: seconds between decisions
    decision_interval_s: float
    #: whether observations must carry detector readings (fixed time needs none)
    needs_detectors: bool

    def decide(self, obs: Observation) -> StageRequest:
        """Choose the stage to request at this decision point."""
        ...
