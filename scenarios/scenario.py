"""A ready-to-run scenario: spec + built network + signal layout + detectors."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from scenarios.build import build_network, default_cache_dir
from scenarios.demand import demand_for_period
from scenarios.demand_source import DemandSource, GeneratedDemand
from scenarios.detectors import with_sensing
from scenarios.external import (
    ExternalSource,
    derive_cache,
    external_junctions,
    external_spec,
    read_sumocfg,
)
from scenarios.junction import Junction, make_junction
from scenarios.layout import build_layout
from scenarios.netfile import NetFile, read_net
from scenarios.registry import find_entry, find_spec
from scenarios.sensing import SensingProfile, parse_sensing
from scenarios.session import SumoSession
from scenarios.spec import DetectorSpec, JunctionSpec, ScenarioSpec
from signals.errors import ConfigError

__all__ = ["Junction", "Scenario", "load_external", "load_scenario", "make_junction"]


@dataclass(frozen=True)
class Scenario:
    """A scenario whose network is built; nothing is simulated until a session starts."""

    spec: ScenarioSpec
    net_path: Path
    net: NetFile
    junctions: tuple[Junction, ...]
    #: set for an external ``.sumocfg`` scenario: its routes and time window (demand source)
    external: ExternalSource | None = None
    #: the detectors every approach lane has (:mod:`scenarios.sensing`)
    sensing: SensingProfile = SensingProfile()

    @property
    def name(self) -> str:
        """Registered name."""
        return self.spec.name

    @property
    def default_duration_s(self) -> float:
        """Simulated seconds when none are given: a .sumocfg's end - begin, else 3600."""
        return self.demand_source.duration_s

    @property
    def demand_source(self) -> DemandSource:
        """Where this scenario's demand comes from: the .sumocfg's routes or generated."""
        if self.external is not None:
            return self.external
        return GeneratedDemand(self.spec.demand)

    def for_period(self, period: str) -> Scenario:
        """This scenario with the demand of another time-of-day period as its default."""
        if self.external is not None:
            raise ConfigError("--period applies to registered Hamm scenarios only")
        spec = replace(self.spec, demand=demand_for_period(self.spec.demand, period))
        return replace(self, spec=spec)

    def with_sensing(self, profile: SensingProfile | str) -> Scenario:
        """This scenario with another sensing profile (its detectors and readings); text
        may carry options, e.g. ``camera:noise=0.1,dropout=0.05``."""
        if isinstance(profile, str):
            profile = parse_sensing(profile)
        junctions = tuple(replace(j, detectors=with_sensing(j.detectors, self.net, profile))
                          for j in self.junctions)
        return replace(self, junctions=junctions, sensing=profile)

    def session(self, seed: int, duration_s: float, out_dir: Path, demand_scale: float = 1.0,
                gui: bool = False, period: str | None = None) -> SumoSession:
        """Write this seed's demand and the detector file, and return an unstarted session.

        ``period`` picks a time-of-day profile (``scenarios.profiles``); default: the
        scenario's basis period (the morning peak).
        """
        return self.demand_source.session(self, seed, duration_s, out_dir, demand_scale, gui,
                                          period)


def _junction(spec: JunctionSpec, net: NetFile, detector_spec: DetectorSpec) -> Junction:
    return make_junction(build_layout(spec, net), net, detector_spec, spec.plans)


def load_scenario(name: str, cache_dir: Path | None = None) -> Scenario:
    """Load a registered scenario by name and build (or reuse) its network.

    A path ending in ``.sumocfg``, or the name of a user scenario made of a ``.sumocfg``,
    loads an external scenario (:mod:`scenarios.external`).
    """
    if str(name).endswith(".sumocfg"):
        return load_external(Path(name))
    entry = find_entry(name)
    if entry is not None and entry.sumocfg is not None:
        return load_external(entry.sumocfg, name=entry.name)
    spec = find_spec(name)
    net_path = build_network(spec, cache_dir or default_cache_dir())
    net = read_net(net_path)
    junctions = tuple(_junction(j, net, spec.detectors) for j in spec.junctions)
    scenario = Scenario(spec=spec, net_path=net_path, net=net, junctions=junctions)
    if spec.detectors.sensing != "loops":
        scenario = scenario.with_sensing(spec.detectors.sensing)
    return scenario


def load_external(path: str | Path, name: str | None = None) -> Scenario:
    """Load a ``.sumocfg`` as an ampel Scenario with derived signal layouts."""
    config = read_sumocfg(path)
    cache = derive_cache(config)
    net = cache.net(config.net_file, read_net)
    junctions = external_junctions(config, net, cache=cache)
    source = ExternalSource(config)
    spec = external_spec(name or config.path.name.removesuffix(".sumocfg"), config, net,
                         source.duration_s, cache)
    return Scenario(spec=spec, net_path=config.net_file, net=net, junctions=junctions,
                    external=source)
