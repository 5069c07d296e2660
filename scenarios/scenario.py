"""A ready-to-run scenario: spec + built network + signal layout + detectors."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from scenarios.build import build_network, default_cache_dir
from scenarios.demand import (
    demand_for_period,
    generate_departures,
    write_bus_stops,
    write_routes,
)
from scenarios.detectors import (
    LaneDetectors,
    plan_detectors,
    with_sensing,
    write_detector_file,
)
from scenarios.layout import JunctionLayout, build_layout
from scenarios.netfile import NetFile, read_net
from scenarios.observation import ApproachLane, JunctionInfo
from scenarios.registry import find_entry, find_spec
from scenarios.sensing import SensingProfile
from scenarios.session import SessionFiles, SumoSession
from scenarios.spec import DetectorSpec, JunctionSpec, PlanSpec, ScenarioSpec, select_plan
from signals.errors import ConfigError, ParameterError

if TYPE_CHECKING:
    from scenarios.external import ExternalSource


@dataclass(frozen=True)
class Junction:
    """One signalised junction of a scenario: layout, detectors, static info, plans."""

    layout: JunctionLayout
    detectors: tuple[LaneDetectors, ...]
    info: JunctionInfo
    plans: tuple[PlanSpec, ...]
    #: intergreen mode of this layout: ``rilsa`` or ``program`` (see scenarios.derive)
    intergreens: str = "rilsa"
    #: transition seconds per cycle the layout adds to the SUMO program's (external only)
    lengthened_s: float = 0.0
    #: the same junction in other intergreen modes (external scenarios)
    variants: tuple[Junction, ...] = ()

    def with_intergreens(self, mode: str) -> Junction:
        """This junction with the intergreens of ``mode`` (``rilsa`` or ``program``).

        A junction of a Hamm scenario runs ampel's own plans, so both modes are the same.
        """
        if mode not in ("rilsa", "program"):
            raise ParameterError(f"parameter intergreens must be rilsa or program, got {mode!r}")
        if mode == self.intergreens:
            return self
        return next((v for v in self.variants if v.intergreens == mode), self)

    @property
    def tls(self) -> str:
        """Traffic-light id in SUMO."""
        return self.layout.tls

    def plan(self, name: str | None = None) -> PlanSpec:
        """The named fixed-time plan, or the first one."""
        return select_plan(self.plans, name, f"junction {self.tls!r}")


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
        return self.external.duration_s if self.external is not None else 3600.0

    def for_period(self, period: str) -> Scenario:
        """This scenario with the demand of another time-of-day period as its default."""
        if self.external is not None:
            raise ConfigError("--period applies to registered Hamm scenarios only")
        spec = replace(self.spec, demand=demand_for_period(self.spec.demand, period))
        return replace(self, spec=spec)

    def with_sensing(self, profile: SensingProfile | str) -> Scenario:
        """This scenario with another sensing profile (its detectors and readings)."""
        if isinstance(profile, str):
            profile = SensingProfile(profile)
        junctions = tuple(replace(j, detectors=with_sensing(j.detectors, self.net, profile))
                          for j in self.junctions)
        return replace(self, junctions=junctions, sensing=profile)

    def session(self, seed: int, duration_s: float, out_dir: Path, demand_scale: float = 1.0,
                gui: bool = False, period: str | None = None) -> SumoSession:
        """Write this seed's demand and the detector file, and return an unstarted session.

        ``period`` picks a time-of-day profile (``scenarios.profiles``); default: the
        scenario's basis period (the morning peak).
        """
        if self.external is not None:
            return self.external.session(self, seed, duration_s, out_dir, demand_scale, gui)
        if duration_s <= 0:
            raise ConfigError(f"duration must be positive, got {duration_s}")
        out_dir.mkdir(parents=True, exist_ok=True)
        begin = self.spec.demand.begin_s
        demand = demand_for_period(self.spec.demand, period or self.spec.demand.period)
        routes = write_routes(
            generate_departures(demand, seed, demand_scale, duration_s),
            out_dir / "routes.rou.xml")
        all_detectors = tuple(d for j in self.junctions for d in j.detectors)
        additional: tuple[Path, ...] = (
            write_detector_file(all_detectors, out_dir / "detectors.add.xml"),)
        if demand.bus_stops:
            additional += (write_bus_stops(demand, out_dir / "busstops.add.xml"),)
        files = SessionFiles(net=self.net_path, routes=routes, additional=additional,
                             tripinfo=out_dir / "tripinfo.xml",
                             statistics=out_dir / "statistics.xml")
        return SumoSession(files=files, seed=seed, begin_s=begin, end_s=begin + duration_s,
                           gui=gui, sensing=self.sensing)


def make_junction(layout: JunctionLayout, net: NetFile, detector_spec: DetectorSpec,
                  plans: tuple[PlanSpec, ...]) -> Junction:
    """Detectors and the static controller view for one junction layout."""
    lanes = layout.incoming_lanes()
    detectors = plan_detectors(net, lanes, detector_spec)
    model = layout.model
    approach = []
    for lane_id in lanes:
        groups = layout.groups_of_lane(lane_id)
        stages = tuple(i for i, st in enumerate(model.stages) if st.green & set(groups))
        links = layout.link_groups_of_lane(lane_id)
        shares = tuple(sum(1 for g in links if g in model.stages[i].green) / len(links)
                       for i in stages) if links else ()
        lane = net.lanes[lane_id]
        approach.append(ApproachLane(lane=lane_id, groups=groups, stages=stages,
                                     outgoing=layout.outgoing_lanes(lane_id),
                                     is_bicycle=(lane.permits("bicycle")
                                                 and not lane.permits("passenger")),
                                     stage_shares=shares))
    info = JunctionInfo(
        junction=layout.tls,
        stage_names=tuple(s.name for s in model.stages),
        group_names=layout.group_names,
        lanes=tuple(approach),
        min_green_s=tuple(g.min_green_s for g in model.groups),
        max_green_s=tuple(g.max_green_s for g in model.groups),
    )
    return Junction(layout=layout, detectors=detectors, info=info, plans=plans)


def _junction(spec: JunctionSpec, net: NetFile, detector_spec: DetectorSpec) -> Junction:
    return make_junction(build_layout(spec, net), net, detector_spec, spec.plans)


def load_scenario(name: str, cache_dir: Path | None = None) -> Scenario:
    """Load a registered scenario by name and build (or reuse) its network.

    A path ending in ``.sumocfg``, or the name of a user scenario made of a ``.sumocfg``,
    loads an external scenario (:mod:`scenarios.external`).
    """
    if str(name).endswith(".sumocfg"):
        from scenarios.external import load_external

        return load_external(Path(name))
    entry = find_entry(name)
    if entry is not None and entry.sumocfg is not None:
        from scenarios.external import load_external

        return load_external(entry.sumocfg, name=entry.name)
    spec = find_spec(name)
    net_path = build_network(spec, cache_dir or default_cache_dir())
    net = read_net(net_path)
    junctions = tuple(_junction(j, net, spec.detectors) for j in spec.junctions)
    scenario = Scenario(spec=spec, net_path=net_path, net=net, junctions=junctions)
    if spec.detectors.sensing != "loops":
        scenario = scenario.with_sensing(spec.detectors.sensing)
    return scenario
