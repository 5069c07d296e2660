"""Experiment configs: a YAML matrix of scenarios × controllers × seeds × demand scales.

Example (see ``experiments/configs/example.yaml``)::

    name: westentor-morning-peak
    scenarios: [westentor]                 # registered names or paths to .sumocfg files
    controllers:
      - fixed-time                         # a registered controller, default parameters
      - {name: fixed-time, label: short-cycle, params: {greens: {...}}}
      - {name: rl, policy: policies/westentor.zip}
    seeds: [1, 2, 3]
    demand_scales: [1.0, 1.2]
    sensing: [loops, "camera:noise=0.1,dropout=0.05"]  # profiles (scenarios/sensing.py)
    period: midday                         # time of day: its demand and plan
    duration_s: 3600                       # or 'scenario': each scenario's own length
    baseline: fixed-time                   # a controller label
    output: runs/westentor-morning-peak    # relative to the current folder
    queue_sample_s: 30
    los: {D: 70, f_unfinished_share: 0.1}  # overrides of experiments/los.py

Every key and value is checked when the config is loaded; a mistake gives one ValueError
line naming the key. Paths of .sumocfg scenarios and policy files are relative to the
config file's folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from experiments.los import LosTable, los_table
from scenarios.profiles import BASIS_PERIOD, period_names
from scenarios.rebuilt import REBUILT_REFERENCES
from scenarios.sensing import parse_sensing
from signals.errors import ConfigError
from signals.numbers import MAX_DEMAND_SCALE, MAX_DURATION_S, MAX_SEED, check_number

log = logging.getLogger(__name__)

TOP_KEYS = ("name", "scenarios", "controllers", "seeds", "demand_scales", "sensing",
            "period", "duration_s", "baseline", "output", "queue_sample_s", "los")
CONTROLLER_KEYS = ("name", "label", "params", "policy")


@dataclass(frozen=True)
class ControllerEntry:
    """One controller of the matrix: a registered name, its parameters, a display label."""

    label: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSpec:
    """One simulation of the sweep (picklable, sent to a worker)."""

    scenario: str
    controller: str  # label
    controller_name: str
    params: dict[str, Any]
    seed: int
    demand_scale: float
    duration_s: float | None  # None: the scenario's own length
    queue_sample_s: float
    sensing: str = "loops"
    period: str | None = None  # None: the basis period (morning peak)

    @property
    def run_id(self) -> str:
        """Stable hash of what determines the result (not the label or queue sampling)."""
        duration = None if self.duration_s is None else float(self.duration_s)
        parts: list[Any] = [self.scenario, self.controller_name, self.params, self.seed,
                            float(self.demand_scale), duration]
        if self.sensing != "loops":  # ids of loop runs stay as they were before profiles
            parts.append(self.sensing)
        if self.period not in (None, BASIS_PERIOD):  # ... and before periods
            parts.append(self.period)
        key = json.dumps(parts, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """Plain form (JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated experiment config."""

    name: str
    scenarios: tuple[str, ...]
    controllers: tuple[ControllerEntry, ...]
    seeds: tuple[int, ...]
    demand_scales: tuple[float, ...] = (1.0,)
    sensing: tuple[str, ...] = ("loops",)
    period: str | None = None
    duration_s: float | None = 3600.0
    baseline: str = ""
    output: Path = Path("runs")
    queue_sample_s: float = 30.0
    los: LosTable = field(default_factory=LosTable)
    source: str = ""  # the config file's text, recorded with the results

    def runs(self) -> list[RunSpec]:
        """Every run of the matrix, in a deterministic order."""
        return [RunSpec(scenario=s, controller=c.label, controller_name=c.name,
                        params=c.params, seed=seed, demand_scale=d, duration_s=self.duration_s,
                        queue_sample_s=self.queue_sample_s, sensing=sensing,
                        period=self.period)
                for s in self.scenarios for d in self.demand_scales for sensing in self.sensing
                for c in self.controllers for seed in self.seeds]

    def _period(self) -> dict[str, str]:
        # configs without a period are recorded as before periods existed (resume)
        return {} if self.period is None else {"period": self.period}

    def to_dict(self) -> dict[str, Any]:
        """Resolved config (JSON), as recorded in ``experiment.json``."""
        return {"name": self.name, "scenarios": list(self.scenarios),
                "controllers": [asdict(c) for c in self.controllers],
                "seeds": list(self.seeds), "demand_scales": list(self.demand_scales),
                "sensing": list(self.sensing), **self._period(),
                "duration_s": self.duration_s,
                "baseline": self.baseline,
                "output": str(self.output), "queue_sample_s": self.queue_sample_s,
                "los": self.los.to_dict()}


def _number(value: Any, where: str, high: float | None = None) -> float:
    """A finite number > 0 (at most ``high``), from YAML (text is not a number here)."""
    if isinstance(value, str):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    return float(check_number(value, where, low=0.0, low_open=True, high=high))


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a non-empty list, got {value!r}")
    return value


def _check_keys(data: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(known)})")


def _scenario(value: Any, where: str, base: Path) -> str:
    from scenarios.registry import find_entry, registered

    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a scenario name or .sumocfg path, got {value!r}")
    if value.endswith(".sumocfg"):
        path = (base / value).resolve()
        if not path.is_file():
            raise ConfigError(f"{where}: scenario file {value!r} not found (looked at {path})")
        return str(path)
    if find_entry(value) is None:  # a refused user scenario raises its own error here
        known = [e.name for e in registered()]
        raise ConfigError(f"{where}: unknown scenario {value!r} (known: {', '.join(known)}; "
                          "or a path ending in .sumocfg)")
    return value


def _controller(value: Any, where: str, base: Path, known: list[str]) -> ControllerEntry:
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a controller name or a mapping, got {value!r}")
    _check_keys(value, CONTROLLER_KEYS, where)
    name = value.get("name")
    if not isinstance(name, str):
        raise ConfigError(f"{where}.name: expected a controller name, got {name!r}")
    if name not in known:
        raise ConfigError(f"{where}.name: unknown controller {name!r} (known: "
                          f"{', '.join(known)})")
    params = value.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{where}.params: expected a mapping, got {params!r}")
    params = dict(params)
    if "policy" in value:
        policy = value["policy"]
        if not isinstance(policy, str):
            raise ConfigError(f"{where}.policy: expected a file path, got {policy!r}")
        path = (base / policy).resolve()
        if not path.exists():
            raise ConfigError(f"{where}.policy: policy file {policy!r} not found (looked at "
                              f"{path})")
        params["policy"] = str(path)
    try:
        json.dumps(params, sort_keys=True)
    except TypeError as exc:
        raise ConfigError(f"{where}.params: values must be plain numbers, strings, lists or "
                          f"mappings ({exc})") from None
    label = value.get("label", name)
    if not isinstance(label, str) or not label:
        raise ConfigError(f"{where}.label: expected a non-empty string, got {label!r}")
    return ControllerEntry(label=label, name=name, params=params)


def _is_external(scenario: str) -> bool:
    from scenarios.registry import find_entry

    if scenario.endswith(".sumocfg"):
        return True
    entry = find_entry(scenario)
    return entry is not None and entry.sumocfg is not None


def _period(value: Any, scenarios: tuple[str, ...]) -> str | None:
    """A known period name, for registered (Hamm) scenarios only; None when not given."""
    if value is None:
        return None
    if value not in period_names():
        raise ConfigError(f"period: unknown period {value!r} (known: "
                          f"{', '.join(period_names())})")
    external = [s for s in scenarios if _is_external(s)]
    if external:
        raise ConfigError(f"period: applies to registered Hamm scenarios only, not to "
                          f"{external[0]} (an external scenario brings its own demand)")
    return str(value)


def _duration(value: Any) -> float | None:
    if value == "scenario":
        return None
    return _number(value, "duration_s", MAX_DURATION_S)


def label_entry(text: str) -> dict[str, Any]:
    """The config entry of a ``NAME[:KEY=VALUE;KEY=VALUE]`` label (the scripts'
    ``--controllers``): that name with those (string) parameters, labelled ``text``."""
    name, _, rest = text.partition(":")
    params: dict[str, Any] = {}
    for item in rest.split(";"):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"controller {text!r}: expected KEY=VALUE, got {item!r}")
        params[key] = value
    return {"name": name, "label": text, "params": params}


def parse_config(data: Any, base: Path = Path("."), source: str = "",
                 skip_missing_controllers: bool = False) -> ExperimentConfig:
    """Validate a config mapping (``base``: folder that relative input paths start from).

    With ``skip_missing_controllers`` (the demo), controllers not in the registry are left
    out with a logged note instead of being an error.
    """
    from controllers.registry import controller_names

    if not isinstance(data, dict):
        raise ConfigError("experiment config: expected a mapping of keys (name, scenarios, "
                          "controllers, seeds, ...)")
    _check_keys(data, TOP_KEYS, "experiment config")
    for key in ("scenarios", "controllers", "seeds"):
        if key not in data:
            raise ConfigError(f"experiment config: missing key {key!r}")
    name = data.get("name", "experiment")
    if not isinstance(name, str) or not name or "/" in name:
        raise ConfigError(f"name: expected a short name without '/', got {name!r}")
    scenarios = tuple(_scenario(v, f"scenarios[{i}]", base)
                      for i, v in enumerate(_list(data["scenarios"], "scenarios")))
    if len(set(scenarios)) != len(scenarios):
        raise ConfigError(f"scenarios: listed twice: {list(scenarios)}")
    known = [*controller_names(), *REBUILT_REFERENCES]
    entries = []
    for i, value in enumerate(_list(data["controllers"], "controllers")):
        try:
            entries.append(_controller(value, f"controllers[{i}]", base, known))
        except ValueError as exc:
            if skip_missing_controllers and "unknown controller" in str(exc):
                log.info("skipping %s", exc)
                continue
            raise
    if not entries:
        raise ConfigError(f"controllers: none of them is registered (known: {', '.join(known)})")
    labels = [c.label for c in entries]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"controllers: labels must be unique, got {labels} (give each entry a "
                          "'label')")
    seeds = _list(data["seeds"], "seeds")
    for i, s in enumerate(seeds):
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED:
            raise ConfigError(f"seeds[{i}]: expected an integer in 0..{MAX_SEED}, got {s!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds: listed twice: {seeds}")
    scales = tuple(_number(v, f"demand_scales[{i}]", MAX_DEMAND_SCALE)
                   for i, v in enumerate(_list(data.get("demand_scales", [1.0]),
                                               "demand_scales")))
    if len(set(scales)) != len(scales):
        raise ConfigError(f"demand_scales: listed twice: {list(scales)}")
    sensing = tuple(_list(data.get("sensing", ["loops"]), "sensing"))
    for i, v in enumerate(sensing):
        try:
            parse_sensing(str(v))
        except ConfigError as exc:
            raise ConfigError(f"sensing[{i}]: {exc}") from None
    if len(set(sensing)) != len(sensing):
        raise ConfigError(f"sensing: listed twice: {list(sensing)}")
    baseline = data.get("baseline", labels[0])
    if baseline not in labels:
        raise ConfigError(f"baseline: {baseline!r} is not a controller label of this config "
                          f"(labels: {', '.join(labels)})")
    output = data.get("output", f"runs/{name}")
    if not isinstance(output, str) or not output:
        raise ConfigError(f"output: expected a folder path, got {output!r}")
    los = data.get("los") or {}
    if not isinstance(los, dict):
        raise ConfigError(f"los: expected a mapping of thresholds, got {los!r}")
    return ExperimentConfig(
        name=name, scenarios=scenarios, controllers=tuple(entries), seeds=tuple(seeds),
        demand_scales=scales, sensing=sensing, period=_period(data.get("period"), scenarios),
        duration_s=_duration(data.get("duration_s", 3600)),
        baseline=baseline, output=Path(output),
        queue_sample_s=_number(data.get("queue_sample_s", 30), "queue_sample_s",
                               MAX_DURATION_S),
        los=los_table(los), source=source)


def load_config(path: Path, skip_missing_controllers: bool = False) -> ExperimentConfig:
    """Read and validate an experiment config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read experiment config {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        from scenarios.spec import yaml_error_line

        raise ConfigError(yaml_error_line(path, exc)) from None
    try:
        return parse_config(data, path.resolve().parent, text, skip_missing_controllers)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
