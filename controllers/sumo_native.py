"""SUMO's own traffic-light control as reference baselines, registered like any controller.

* ``sumo-program`` — the programs SUMO runs from the scenario's files, untouched;
* ``sumo-actuated`` — each program switched to SUMO's gap-based actuated control
  (``type="actuated"``), as ``netconvert --tls.default-type actuated`` builds it: green
  phases get ``minDur``/``maxDur`` (the program's own where it has them);
* ``sumo-delay-based`` — the same with SUMO's delay-based control (``type="delay_based"``).

The runner does not command these traffic lights; SUMO runs them. ampel's ``SafetyGuard``
still watches every tick (SUMO's link states mapped to ampel's signal groups) and counts
what breaks ampel's rules, named in the summary as SUMO's program, not ampel. They are
simulation references only: ``hil deploy`` refuses them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard
from xml.sax.saxutils import quoteattr

from controllers.base import StageRequest
from controllers.common import parse_params, require_positive
from controllers.context import BuildContext
from scenarios.netfile import Phase, TlProgram, active_programs
from scenarios.observation import Observation
from scenarios.scenario import Junction, Scenario
from signals import Colour
from signals.errors import ParameterError, ScenarioError

log = logging.getLogger(__name__)

#: registered name -> SUMO tlLogic type to switch to (None: the program untouched)
SUMO_TYPES: dict[str, str | None] = {"sumo-program": None, "sumo-actuated": "actuated",
                                     "sumo-delay-based": "delay_based"}
#: how summaries name the origin of these controllers' safety violations
VIOLATION_SOURCE = "SUMO's program, not ampel"
PROGRAM_ID = "ampel-{kind}"


@dataclass(frozen=True)
class SumoProgramParams:
    """``sumo-program`` has no parameters of its own."""


@dataclass(frozen=True)
class SumoSwitchedParams:
    """Parameters of ``sumo-actuated`` and ``sumo-delay-based``.

    Args:
        min_dur_s: shortest green phase where the program gives no ``minDur``
            (netconvert's ``--tls.min-dur`` default).
        max_dur_s: longest green phase where the program gives no ``maxDur``
            (netconvert's ``--tls.max-dur`` default).
    """

    min_dur_s: float = 5.0
    max_dur_s: float = 50.0

    def __post_init__(self) -> None:
        require_positive(min_dur_s=self.min_dur_s, max_dur_s=self.max_dur_s)
        if self.max_dur_s < self.min_dur_s:
            raise ParameterError(f"max_dur_s {self.max_dur_s:g} is below min_dur_s "
                                 f"{self.min_dur_s:g}")


class SumoNativeController:
    """A traffic light SUMO runs itself; ampel only watches it (``runs_in_sumo``)."""

    needs_detectors = False
    decision_interval_s = 1.0
    runs_in_sumo = True

    def __init__(self, name: str, program: TlProgram | None,
                 params: SumoSwitchedParams | None = None) -> None:
        self.name = name
        self.program_type = SUMO_TYPES[name]
        self.program = program
        self.params = params or SumoSwitchedParams()

    def decide(self, obs: Observation) -> StageRequest:
        """Never asked by the runner (SUMO decides); keeps the stage shown."""
        return StageRequest(obs.stage if obs.stage is not None else 0, "SUMO decides")

    def tl_logic_xml(self) -> str:
        """The ``<tlLogic>`` SUMO should load last (empty for the untouched program)."""
        if self.program_type is None or self.program is None:
            return ""
        p = self.program
        lines = [f"    <tlLogic id={quoteattr(p.tls)} type=\"{self.program_type}\" "
                 f"programID=\"{PROGRAM_ID.format(kind=self.program_type)}\" "
                 f"offset=\"{p.offset_s:g}\">"]
        for phase in p.phases:
            lines.append("        " + _phase_xml(phase, self.params))
        lines.append("    </tlLogic>")
        return "\n".join(lines)


def _is_green_phase(phase: Phase) -> bool:
    return any(ch in "Gg" for ch in phase.state) and not any(ch in "yYu" for ch in phase.state)


def _phase_xml(phase: Phase, params: SumoSwitchedParams) -> str:
    attrs = f'duration="{phase.duration_s:g}" state="{phase.state}"'
    if _is_green_phase(phase):
        lo = phase.min_dur_s if phase.min_dur_s is not None else min(params.min_dur_s,
                                                                      phase.duration_s)
        hi = phase.max_dur_s if phase.max_dur_s is not None else max(params.max_dur_s,
                                                                      phase.duration_s)
        attrs += f' minDur="{lo:g}" maxDur="{hi:g}"'
    return f"<phase {attrs}/>"


def is_reference(controller: object) -> TypeGuard[SumoNativeController]:
    """Whether SUMO runs this controller's traffic light (a reference baseline)."""
    return bool(getattr(controller, "runs_in_sumo", False))


def scenario_programs(scenario: Scenario) -> dict[str, TlProgram]:
    """The program each traffic light of the scenario starts with in SUMO."""
    additional = scenario.external.config.additional_files if scenario.external else ()
    return active_programs(scenario.net, tuple(additional))


def make_builder(name: str
                 ) -> Callable[[Junction, Scenario, dict[str, Any], BuildContext | None],
                               SumoNativeController]:
    """The registry builder of one of :data:`SUMO_TYPES`."""
    cls = SumoProgramParams if SUMO_TYPES[name] is None else SumoSwitchedParams

    def build(junction: Junction, scenario: Scenario, params: dict[str, Any],
              ctx: BuildContext | None = None) -> SumoNativeController:
        p = parse_params(cls, params, name, extra=frozenset({"plan"}))
        program = None
        if SUMO_TYPES[name] is not None:
            cache = (ctx or BuildContext()).programs
            key = str(scenario.net_path)
            if key not in cache:
                cache[key] = scenario_programs(scenario)
            program = cache[key].get(junction.tls)
            if program is None:
                raise ScenarioError(f"{name}: traffic light {junction.tls} has no program in "
                                    "the network")
        return SumoNativeController(name, program,
                                    p if isinstance(p, SumoSwitchedParams) else None)

    build.__doc__ = {"sumo-program": "SUMO runs the scenario's own programs, untouched "
                                     "(reference).",
                     "sumo-actuated": "SUMO's gap-based actuated control built from each "
                                      "program (reference).",
                     "sumo-delay-based": "SUMO's delay-based control built from each "
                                         "program (reference)."}[name]
    # the registry reads a builder's parameter class from this attribute
    build.params = cls  # type: ignore[attr-defined]
    return build


def write_programs(controllers: Sequence[object], path: Path) -> Path | None:
    """An additional file with the switched programs of the reference controllers (loaded
    last, so SUMO starts with them); None when no program is switched."""
    logics = [c.tl_logic_xml() for c in controllers if is_reference(c)]
    logics = [x for x in logics if x]
    if not logics:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("<additional>\n" + "\n".join(logics) + "\n</additional>\n",
                    encoding="utf-8")
    return path


_COLOUR_RANK = ((frozenset("Ggs"), Colour.GREEN), (frozenset("yY"), Colour.AMBER),
                (frozenset("u"), Colour.RED_AMBER))


class StateDecoder:
    """SUMO link states → ampel signal-group colours (the guard's view of SUMO's lights).

    A group shows the most permissive colour of its links: green if any link is green
    (``G``, ``g``, ``s``),
    else amber, else red-amber, else red (``r`` and the ``o``/``O`` off states).
    """

    def __init__(self, link_group: tuple[int, ...], n_groups: int) -> None:
        self._members = [[i for i, g in enumerate(link_group) if g == gi]
                         for gi in range(n_groups)]
        self._last: tuple[str, tuple[Colour, ...]] | None = None

    def decode(self, state: str) -> tuple[Colour, ...]:
        """Group colours of a SUMO state string (memoised on the last call)."""
        if self._last is not None and self._last[0] == state:
            return self._last[1]
        out = []
        for members in self._members:
            chars = {state[i] for i in members if i < len(state)}
            colour = next((c for keys, c in _COLOUR_RANK if chars & keys), Colour.RED)
            out.append(colour)
        colours = tuple(out)
        self._last = (state, colours)
        return colours
