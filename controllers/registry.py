"""Controllers by name, as the CLI and experiment configs refer to them (lookup only: the
builders are in :mod:`controllers.builders`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controllers import sumo_native
from controllers.base import Controller
from controllers.builders import BUILDERS
from controllers.common import attribute_docs
from controllers.context import BuildContext
from scenarios.scenario import Junction, Scenario
from signals.errors import ParameterError


@dataclass(frozen=True)
class ControllerInfo:
    """What ``ampel controllers`` shows for one controller."""

    name: str
    description: str
    #: (parameter, default as text, meaning) in declaration order, the common ones last
    params: tuple[tuple[str, str, str], ...]
    reference: bool = False


def parameter_rows(cls: type | None) -> list[tuple[str, str, str]]:
    """(parameter, default as text, meaning from the docstring) of a parameter dataclass."""
    if cls is None:
        return []
    defaults = cls()
    docs = attribute_docs(cls)
    return [(f.name, _text(getattr(defaults, f.name)), docs.get(f.name, ""))
            for f in dataclasses.fields(cls) if not f.name.startswith("_")]


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _params_of(name: str) -> list[tuple[str, str, str]]:
    """The parameters a controller accepts (from its parameter dataclass) with defaults."""
    import importlib

    source = _PARAMS.get(name)
    cls = None
    extra: list[tuple[str, str, str]] = []
    if isinstance(source, tuple):
        module, cls_name, extra = source[0], source[1], list(source[2])
        cls = getattr(importlib.import_module(module), cls_name) if cls_name else None
    elif name in sumo_native.SUMO_TYPES:
        # set by sumo_native.make_builder on its builders
        cls = BUILDERS[name].params  # type: ignore[attr-defined]
    return parameter_rows(cls) + extra


#: name -> (module, parameter dataclass, extra keys the builder consumes itself)
_PARAMS: dict[str, tuple[str, str, tuple[tuple[str, str, str], ...]]] = {
    "fixed-time": ("", "", (("plan", "the scenario's first plan", "name of the plan to run"),
                            ("greens", "the plan's", "stage greens, STAGE=SECONDS,..."),
                            ("offset_s", "the plan's", "offset of the cycle in seconds"))),
    "webster": ("controllers.webster", "WebsterParams",
                (("offset_s", "0", "offset of the cycle in seconds"),)),
    "actuated": ("controllers.actuated", "ActuatedParams", ()),
    "sotl": ("controllers.sotl", "SotlParams", ()),
    "max-pressure": ("controllers.max_pressure", "MaxPressureParams", ()),
    "coordinated": ("controllers.coordination", "CoordinationParams",
                    (("control", "fixed-time", "fixed-time or actuated inside the wave"),)),
    "bus-priority": ("controllers.bus_priority", "BusPriorityParams",
                     (("base", "fixed-time", "the controller bus priority wraps"),
                      ("base.KEY", "-", "a parameter KEY of the base controller"))),
    "rl": ("", "", (("policy", "the shipped policy", "path to policy.onnx"),
                    ("allow_other_layout", "false",
                     "apply a shared policy to another junction layout on purpose"))),
}


DESCRIPTIONS = {
    "fixed-time": "Fixed-time plan of the scenario (for a .sumocfg: the program SUMO runs, "
                  "with its cycle and offset).",
    "webster": "Fixed-time plan computed with Webster's method from the scenario's demand.",
    "actuated": "Gap-out / max-out actuated control on the detectors.",
    "sotl": "Self-organising traffic light (vehicle-count threshold).",
    "max-pressure": "Max-pressure control (queues in minus queues out).",
    "coordinated": "Green-wave coordination along the main axis (fixed-time or actuated).",
    "bus-priority": "Bus priority (extension, early green) around a base controller.",
    "rl": "Learned policy (ONNX) trained with ampel train.",
    "sumo-program": "Reference: SUMO runs the scenario's own programs, untouched.",
    "sumo-actuated": "Reference: SUMO's gap-based actuated control built from each program.",
    "sumo-delay-based": "Reference: SUMO's delay-based control built from each program.",
}


def _describe(name: str) -> str:
    if name in DESCRIPTIONS:
        return DESCRIPTIONS[name]
    doc = (BUILDERS[name].__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def controller_infos() -> list[ControllerInfo]:
    """Every registered controller with its description and parameters (with defaults)."""
    out = []
    for name in controller_names():
        params = _params_of(name) + [(k, v, COMMON_PARAM_DOCS[k])
                                     for k, v in COMMON_PARAMS.items()]
        out.append(ControllerInfo(name, _describe(name), tuple(params),
                                  reference=name in sumo_native.SUMO_TYPES))
    return out


def controller_names() -> list[str]:
    """Names accepted by ``--controller``."""
    return sorted(BUILDERS)


#: parameters every controller accepts, with their defaults (handled here, not by builders)
COMMON_PARAMS: dict[str, str] = {"intergreens": "rilsa"}
COMMON_PARAM_DOCS: dict[str, str] = {
    "intergreens": "rilsa: RiLSA transitions from the junction geometry; program: the "
                   "program's own amber and clearance where it has them (like-for-like "
                   "comparisons with SUMO)"}
INTERGREEN_MODES = ("rilsa", "program")


def intergreen_mode(params: dict[str, Any] | None) -> str:
    """The ``intergreens`` parameter: ``rilsa`` (default) or ``program``."""
    mode = str((params or {}).get("intergreens", COMMON_PARAMS["intergreens"])).strip()
    if mode not in INTERGREEN_MODES:
        raise ParameterError(f"parameter intergreens must be {' or '.join(INTERGREEN_MODES)}, "
                             f"got {mode!r}")
    return mode


def controller_factory(name: str, params: dict[str, Any] | None = None
                       ) -> Callable[[Junction, Scenario], Controller]:
    """A factory that builds the named controller for each junction of a scenario.

    ``intergreens`` (every controller): the junction's signal model with RiLSA
    intergreens (default) or the SUMO program's own (``program``, external scenarios).
    The controller is built on that model and carries the mode as ``intergreens``; the
    runner builds the sequencer and guard from the same model (``SignalledJunction``).
    The junctions built by one factory share one :class:`BuildContext`.
    """
    if name not in BUILDERS:
        known = ", ".join(controller_names())
        raise ParameterError(f"unknown controller {name!r} (known: {known})")
    builder = BUILDERS[name]
    params = dict(params or {})
    mode = intergreen_mode(params)
    params.pop("intergreens", None)
    ctx = BuildContext()

    def make(junction: Junction, scenario: Scenario) -> Controller:
        controller = builder(junction.with_intergreens(mode), scenario, params, ctx)
        # recorded on the instance for the run record; not part of the Controller protocol
        controller.intergreens = mode  # type: ignore[attr-defined]
        return controller

    return make
