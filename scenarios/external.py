"""Any SUMO scenario with traffic lights: ``--scenario path/to/x.sumocfg``.

The network, route and additional files and the begin/end times come from the
``.sumocfg``; signal groups, conflicts, stages, intergreens and the fixed-time plan are
derived from each traffic light's program (:mod:`scenarios.derive`). The routes are used
as they are: the seed goes to SUMO (``--seed``) and the demand scale to ``--scale``.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from scenarios.build import default_cache_dir
from scenarios.demand_source import SessionSite
from scenarios.derive import DerivedJunction, derive_junction
from scenarios.derive_cache import DeriveCache
from scenarios.detectors import write_detector_file
from scenarios.junction import Junction, make_junction
from scenarios.netfile import NetFile, TlProgram, active_programs
from scenarios.session import SessionFiles, SumoSession
from scenarios.spec import DemandSpec, DetectorSpec, ScenarioSpec
from signals.errors import ScenarioError

log = logging.getLogger(__name__)

#: simulated seconds when the .sumocfg gives no end time
DEFAULT_DURATION_S = 3600.0


@dataclass(frozen=True)
class SumoConfig:
    """What ampel takes from a ``.sumocfg``: files (absolute) and the time window."""

    path: Path
    net_file: Path
    route_files: tuple[Path, ...]
    additional_files: tuple[Path, ...]
    begin_s: float
    end_s: float | None


def _values(text: str | None) -> list[str]:
    return [v for v in (text or "").replace(",", " ").split() if v]


def _time(text: str | None, what: str, path: Path) -> float | None:
    if text is None:
        return None
    try:
        if ":" in text:  # SUMO also accepts h:m:s
            parts = [float(p) for p in text.split(":")]
            value = sum(p * 60 ** k for k, p in enumerate(reversed(parts)))
        else:
            value = float(text)
    except ValueError:
        raise ScenarioError(f"{path}: {what} {text!r} is not a time") from None
    return value


def read_sumocfg(path: str | Path) -> SumoConfig:
    """Parse a ``.sumocfg``; relative file names are resolved against its folder."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"SUMO configuration not found: {path}")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ScenarioError(f"{path} is not a valid SUMO configuration: {exc}") from None
    options: dict[str, str] = {}
    for el in root.iter():
        if el is not root and "value" in el.attrib:
            options[el.tag] = el.attrib["value"]
    base = path.parent

    def files(*keys: str) -> tuple[Path, ...]:
        out = []
        for key in keys:
            out += [(base / v).resolve() for v in _values(options.get(key))]
        return tuple(out)

    nets = files("net-file", "n")
    if not nets:
        raise ScenarioError(f"{path}: no net-file given")
    if not nets[0].is_file():
        raise ScenarioError(f"{path}: net-file {nets[0]} not found")
    routes = files("route-files", "r")
    additional = files("additional-files", "a")
    for f in routes + additional:
        if not f.is_file():
            raise ScenarioError(f"{path}: file {f} not found")
    begin = _time(options.get("begin", options.get("b")), "begin", path) or 0.0
    end = _time(options.get("end", options.get("e")), "end", path)
    if end is not None and end <= begin:
        raise ScenarioError(f"{path}: end {end:g} is not after begin {begin:g}")
    return SumoConfig(path=path, net_file=nets[0], route_files=routes,
                      additional_files=additional, begin_s=begin, end_s=end)


def route_flows(route_files: tuple[Path, ...], begin_s: float, end_s: float
                ) -> tuple[tuple[str, str, float], ...]:
    """Estimated veh/h per (first edge, last edge) from vehicles, trips and flows.

    Gives demand-based controllers (e.g. Webster) a view of the demand; persons and
    routes that cannot be read are skipped.
    """
    return _route_flows(route_files, begin_s, end_s)[0]


def _route_flows(route_files: tuple[Path, ...], begin_s: float, end_s: float
                 ) -> tuple[tuple[tuple[str, str, float], ...], bool]:
    """:func:`route_flows`, and whether every route file could be read."""
    complete = True
    span_h = max(end_s - begin_s, 1.0) / 3600.0
    routes: dict[str, list[str]] = {}
    counts: dict[tuple[str, str], float] = defaultdict(float)
    for path in route_files:
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError:
            log.warning("cannot read route file %s; its demand is not estimated", path)
            complete = False
            continue
        for el in root.iter("route"):
            if el.get("id"):
                routes[el.get("id", "")] = el.get("edges", "").split()
        for el in root:
            if el.tag not in ("vehicle", "trip", "flow"):
                continue
            edges: list[str] = []
            if el.get("from") and el.get("to"):
                edges = [el.get("from", ""), el.get("to", "")]
            elif el.get("route") in routes:
                edges = routes[el.get("route", "")]
            else:
                inner = el.find("route")
                if inner is not None:
                    edges = inner.get("edges", "").split()
            if len(edges) < 1:
                continue
            if el.tag == "flow":
                f_begin = float(el.get("begin", begin_s))
                f_end = float(el.get("end", end_s))
                if el.get("vehsPerHour"):
                    n = float(el.get("vehsPerHour", "0")) * max(0.0, f_end - f_begin) / 3600
                elif el.get("period") and not el.get("period", "").startswith("exp"):
                    n = max(0.0, f_end - f_begin) / max(float(el.get("period", "1")), 1e-9)
                elif el.get("probability"):
                    n = float(el.get("probability", "0")) * max(0.0, f_end - f_begin)
                else:
                    n = float(el.get("number", "0"))
            else:
                depart = el.get("depart", "0")
                try:
                    t = float(depart)
                except ValueError:
                    t = begin_s
                if not begin_s <= t < end_s:
                    continue
                n = 1.0
            counts[(edges[0], edges[-1])] += n
    return tuple((a, b, round(n / span_h, 1)) for (a, b), n in sorted(counts.items())), complete


@dataclass
class ExternalSumoSession(SumoSession):
    """A session over the scenario's own route files, scaled with SUMO's ``--scale``."""

    route_files: tuple[Path, ...] = ()
    scale: float = 1.0
    extra_args: tuple[str, ...] = field(default=())

    def command(self) -> list[str]:
        """SUMO command line: the base command with the scenario's routes and the scale."""
        cmd = super().command()
        i = cmd.index("-r")
        if self.route_files:
            cmd[i + 1] = ",".join(str(p) for p in self.route_files)
        else:
            del cmd[i:i + 2]
        return cmd + ["--scale", f"{self.scale:g}", *self.extra_args]


@dataclass(frozen=True)
class ExternalSource:
    """Where an external scenario's demand and time window come from."""

    config: SumoConfig

    @property
    def begin_s(self) -> float:
        """Simulation begin from the .sumocfg (default 0)."""
        return self.config.begin_s

    @property
    def duration_s(self) -> float:
        """end - begin from the .sumocfg, or :data:`DEFAULT_DURATION_S` without an end."""
        if self.config.end_s is None:
            return DEFAULT_DURATION_S
        return self.config.end_s - self.config.begin_s

    def session(self, site: SessionSite, seed: int, duration_s: float, out_dir: Path,
                demand_scale: float = 1.0, gui: bool = False, period: str | None = None
                ) -> SumoSession:
        """An unstarted session from begin to begin + duration over the cfg's routes
        (``period`` does not apply: the routes are the cfg's own)."""
        if duration_s <= 0:
            raise ScenarioError(f"duration must be positive, got {duration_s}")
        if demand_scale < 0:
            raise ScenarioError(f"demand scale must be >= 0, got {demand_scale}")
        out_dir.mkdir(parents=True, exist_ok=True)
        detectors = tuple(d for j in site.junctions for d in j.detectors)
        det_file = write_detector_file(detectors, out_dir / "detectors.add.xml")
        files = SessionFiles(net=site.net_path,
                             routes=self.config.route_files[0] if self.config.route_files
                             else out_dir / "none.rou.xml",
                             additional=(*self.config.additional_files, det_file),
                             tripinfo=out_dir / "tripinfo.xml",
                             statistics=out_dir / "statistics.xml")
        begin = self.begin_s
        return ExternalSumoSession(files=files, seed=seed, begin_s=begin,
                                   end_s=begin + duration_s, gui=gui,
                                   sensing=site.sensing,
                                   route_files=self.config.route_files, scale=demand_scale)


def external_spec(name: str, config: SumoConfig, net: NetFile, duration_s: float,
                  cache: DeriveCache | None = None) -> ScenarioSpec:
    """A ScenarioSpec describing an external scenario (no plain sources, estimated demand;
    with ``cache``, the estimate is kept there per route files' bytes and window)."""
    window = (config.begin_s, config.begin_s + duration_s)
    estimate = partial(_route_flows, config.route_files, *window)
    vehicles = (cache.route_flows(config.route_files, window, estimate) if cache is not None
                else estimate()[0])
    demand = DemandSpec(period="external", begin_s=config.begin_s, duration_s=duration_s,
                        truck_share=0.0, vehicles=vehicles)
    return ScenarioSpec(name=name, title=f"external SUMO scenario {config.path.name}",
                        folder=config.path.parent, lon=0.0, lat=0.0, sources={},
                        netconvert_options=(), junctions=(), demand=demand)


def _derive(config: SumoConfig, net: NetFile, program: TlProgram | None, mode: str,
            tls: str) -> DerivedJunction:
    """One traffic light's signal layout derived in ``mode`` (errors name the .sumocfg)."""
    try:
        return derive_junction(net, tls, program=program, mode=mode, begin_s=config.begin_s)
    except ValueError as exc:
        message = str(exc)
        if not message.startswith(f"traffic light {tls}"):
            message = f"traffic light {tls}: {message}"
        raise ScenarioError(f"{config.path}: {message}") from None


def _junction_of(derived: DerivedJunction, net: NetFile, mode: str) -> Junction:
    return replace(make_junction(derived.layout, net, DetectorSpec(), (derived.plan,)),
                   intergreens=mode, lengthened_s=derived.lengthened_s)


def _variant(config: SumoConfig, net: NetFile, cache: DeriveCache, tls: str,
             program: TlProgram | None, rilsa: Junction, mode: str) -> Junction:
    """The ``mode`` variant of a ``rilsa`` junction, derived when first asked for."""
    derived = cache.get_or_derive((tls,), (mode, config.begin_s, program),
                                  lambda t: _derive(config, net, program, mode, t))[tls]
    return replace(_junction_of(derived, net, mode), variants=(rilsa,))


def derive_cache(config: SumoConfig, cache_dir: Path | None = None) -> DeriveCache:
    """The cache of parsed networks and derived layouts for a ``.sumocfg``'s network, in
    ``cache_dir`` (default ``$AMPEL_CACHE``) under ``derived/``."""
    return DeriveCache.for_network(config.net_file,
                                   (cache_dir or default_cache_dir()) / "derived")


def external_junctions(config: SumoConfig, net: NetFile, cache_dir: Path | None = None,
                       cache: DeriveCache | None = None) -> tuple[Junction, ...]:
    """The junctions of a ``.sumocfg``'s network with derived signal layouts (``rilsa``;
    the ``program`` variant is derived when a controller first asks for it,
    ``Junction.with_intergreens``); :func:`scenarios.scenario.load_external` makes the
    Scenario. Derived layouts are cached in ``cache`` (default: :func:`derive_cache` of
    ``cache_dir``; :mod:`scenarios.derive_cache`)."""
    if not net.tls_ids:
        raise ScenarioError(f"{config.path}: the network has no traffic lights")
    programs = active_programs(net, config.additional_files)
    cache = cache or derive_cache(config, cache_dir)
    tls_ids = tuple(net.tls_ids)
    options = ("rilsa", config.begin_s, tuple(programs.get(tls) for tls in tls_ids))
    derived = cache.get_or_derive(
        tls_ids, options, lambda tls: _derive(config, net, programs.get(tls), "rilsa", tls))
    junctions = []
    for tls in tls_ids:
        rilsa = _junction_of(derived[tls], net, "rilsa")
        junctions.append(replace(rilsa, derive_variant=partial(
            _variant, config, net, cache, tls, programs.get(tls), rilsa)))
    return tuple(junctions)
