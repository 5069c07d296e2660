"""Where a scenario's demand and time window come from: the demand-source protocol and the
generated (Hamm) source. The other source, a ``.sumocfg``'s own routes, is
:class:`scenarios.external.ExternalSource`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from scenarios.demand import demand_for_period, generate_departures, write_bus_stops, write_routes
from scenarios.detectors import write_detector_file
from scenarios.junction import Junction
from scenarios.sensing import SensingProfile
from scenarios.session import SessionFiles, SumoSession
from scenarios.spec import DemandSpec
from signals.errors import ConfigError


class SessionSite(Protocol):
    """What a demand source needs of a scenario to write a session: the network, the
    junctions (their detectors) and the sensing profile."""

    @property
    def net_path(self) -> Path: ...

    @property
    def junctions(self) -> tuple[Junction, ...]: ...

    @property
    def sensing(self) -> SensingProfile: ...


class DemandSource(Protocol):
    """A scenario's demand: its default duration and the session files of one seed."""

    @property
    def duration_s(self) -> float:
        """Simulated seconds when none are given."""
        ...

    def session(self, site: SessionSite, seed: int, duration_s: float, out_dir: Path,
                demand_scale: float = 1.0, gui: bool = False, period: str | None = None
                ) -> SumoSession:
        """Write this seed's demand (and the detector file) and return an unstarted
        session."""
        ...


@dataclass(frozen=True)
class GeneratedDemand:
    """Demand generated from the scenario's flows (registered Hamm scenarios)."""

    demand: DemandSpec

    @property
    def duration_s(self) -> float:
        """An hour."""
        return 3600.0

    def session(self, site: SessionSite, seed: int, duration_s: float, out_dir: Path,
                demand_scale: float = 1.0, gui: bool = False, period: str | None = None
                ) -> SumoSession:
        """Generate this seed's departures; ``period`` picks a time-of-day profile
        (``scenarios.profiles``), default the demand's basis period (the morning peak)."""
        if duration_s <= 0:
            raise ConfigError(f"duration must be positive, got {duration_s}")
        out_dir.mkdir(parents=True, exist_ok=True)
        begin = self.demand.begin_s
        demand = demand_for_period(self.demand, period or self.demand.period)
        routes = write_routes(
            generate_departures(demand, seed, demand_scale, duration_s),
            out_dir / "routes.rou.xml")
        all_detectors = tuple(d for j in site.junctions for d in j.detectors)
        additional: tuple[Path, ...] = (
            write_detector_file(all_detectors, out_dir / "detectors.add.xml"),)
        if demand.bus_stops:
            additional += (write_bus_stops(demand, out_dir / "busstops.add.xml"),)
        files = SessionFiles(net=site.net_path, routes=routes, additional=additional,
                             tripinfo=out_dir / "tripinfo.xml",
                             statistics=out_dir / "statistics.xml")
        return SumoSession(files=files, seed=seed, begin_s=begin, end_s=begin + duration_s,
                           gui=gui, sensing=site.sensing)
