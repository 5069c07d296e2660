"""Build a user scenario from an OpenStreetMap extract (``ampel scenarios import-osm``).

netconvert reads the extract (``--osm-files``), guesses traffic lights from OSM's
``highway=traffic_signals`` nodes (``--tls.guess-signals``, joined per junction cluster)
and writes a static program per traffic light; ampel then derives signal groups, conflicts,
stages, intergreens and a fixed-time plan from each program (:mod:`scenarios.derive`).
Demand is assumed (random trips between fringe edges) until counts replace it
(``ampel calibrate``). The result is a folder in the user scenario directory with the
network, routes, a ``.sumocfg`` and a generated ``CARD.md``; the registry lists it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from scenarios.build import sumo_binary
from scenarios.derive import DerivedJunction, derive_junction
from scenarios.netfile import read_net
from scenarios.registry import HAMM_DIR, registered, user_scenario_dir
from scenarios.tools import run_tool

log = logging.getLogger(__name__)

#: netconvert options for OSM imports (see README, "Replacing assumptions with real data")
OSM_OPTIONS = (
    "--proj.utm", "--geometry.remove", "--roundabouts.guess", "--ramps.guess",
    "--junctions.join", "--tls.guess-signals", "--tls.join", "--tls.discard-simple",
    "--tls.default-type", "static", "--output.street-names", "--no-turnarounds",
    "--no-warnings",
)
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: assumed demand until counts replace it: vehicles per hour over the whole network
DEFAULT_VEHICLES_PER_HOUR = 600.0


@dataclass(frozen=True)
class ImportResult:
    """What an import produced."""

    name: str
    folder: Path
    sumocfg: Path
    traffic_lights: tuple[DerivedJunction, ...]


def check_name(name: str) -> str:
    """A scenario name: lower-case letters, digits, '-' and '_'; not taken yet."""
    if not NAME_PATTERN.match(name):
        raise ValueError(f"scenario name {name!r} must be lower-case letters, digits, '-' or "
                         "'_' (at most 64 characters)")
    if name in {e.name for e in registered(HAMM_DIR)}:
        raise ValueError(f"scenario name {name!r} is taken by a registered Hamm scenario")
    return name


def _check_osm(path: Path) -> None:
    if not path.is_file():
        raise ValueError(f"OSM file not found: {path}")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path} is not valid OSM XML: {exc}") from None
    if root.tag != "osm":
        raise ValueError(f"{path} is not an OSM extract (root element <{root.tag}>, "
                         "expected <osm>)")
    if root.find("way") is None:
        raise ValueError(f"{path} has no ways: nothing to build a network from")


def write_sumocfg(path: Path, net: str, routes: tuple[str, ...], begin_s: float,
                  end_s: float, additional: tuple[str, ...] = ()) -> Path:
    """A minimal ``.sumocfg`` (file names relative to its folder), written atomically."""
    lines = ["<configuration>", "    <input>", f'        <net-file value="{net}"/>']
    if routes:
        lines.append(f'        <route-files value="{",".join(routes)}"/>')
    if additional:
        lines.append(f'        <additional-files value="{",".join(additional)}"/>')
    lines += ["    </input>", "    <time>", f'        <begin value="{begin_s:g}"/>',
              f'        <end value="{end_s:g}"/>', "    </time>", "</configuration>", ""]
    _write_text(path, "\n".join(lines))
    return path


def _write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def junction_table(derived: tuple[DerivedJunction, ...]) -> list[str]:
    """Markdown table of the derived signal layout per traffic light."""
    lines = ["| traffic light | signal groups | stages | plan greens [s] | program amber / "
             "all-red |", "|---|---|---|---|---|"]
    for d in derived:
        model = d.layout.model
        groups = ", ".join(f"{g.name} ({g.kind.value})" for g in model.groups)
        stages = "; ".join(f"{s.name}: {'+'.join(sorted(s.green))}" for s in model.stages)
        greens = ", ".join(f"{g:g}" for _, g in d.plan.greens)
        lines.append(f"| {d.layout.tls} | {groups} | {stages} | {greens} | "
                     f"{'yes' if d.program_has_amber else 'no'} / "
                     f"{'yes' if d.program_has_all_red else 'no'} |")
    return lines


def _card(name: str, osm: Path, derived: tuple[DerivedJunction, ...], vehicles_per_hour: float,
          seed: int, n_edges: int) -> str:
    today = dt.date.today().isoformat()
    return "\n".join([
        f"# {name} (imported from OpenStreetMap)", "",
        f"Generated by `ampel scenarios import-osm {osm.name} --name {name}` on {today}. "
        "Everything below the network was derived or assumed by the importer; edit nothing "
        "generated by hand, re-import or calibrate instead.", "",
        "## Known (from the extract)", "",
        f"- Road network from `{osm.name}`: {n_edges} edges, geometry, lanes, speed limits and "
        "street names as tagged in OpenStreetMap, projected to UTM by netconvert.",
        f"- {len(derived)} signalised junction(s) where OSM has `highway=traffic_signals` "
        "nodes (netconvert `--tls.guess-signals`, signals of one junction cluster joined).",
        "", "## Derived", "",
        "- Signal programs: netconvert's static default programs for the guessed traffic "
        "lights (not the city's plans).",
        "- Signal groups, conflicts, stages, intergreens and the fixed-time plan `program` "
        "are derived from those programs and the network's foe relations (rules in the "
        "README, section \"External SUMO scenarios\").", "",
        *junction_table(derived), "",
        "## Assumed", "",
        f"- Demand: {vehicles_per_hour:g} passenger cars per hour as random trips between "
        f"fringe edges (SUMO randomTrips, seed {seed}), 0-3600 s. No trucks, buses, bicycles "
        "or pedestrians.",
        "- OSM lane counts and turn lanes are often incomplete; netconvert fills gaps with its "
        "defaults.", "",
        "## How to replace the assumptions", "",
        f"- Counts: `ampel calibrate --scenario {name} --counts counts.csv` fits the routes to "
        "measured counts (SUMO routeSampler) and reports GEH per counting point.",
        "- Signal plans: replace the `<tlLogic>` programs with the city's plans "
        "(netconvert `--tllogic-files`), then re-derive by loading the scenario.",
        "- Network: fix the data in OpenStreetMap (lanes, turn:lanes, maxspeed) and import "
        "again.", "",
    ])


def import_osm(osm_path: str | Path, name: str, root: Path | None = None, seed: int = 1,
               vehicles_per_hour: float = DEFAULT_VEHICLES_PER_HOUR) -> ImportResult:
    """Build the scenario folder ``root/name`` from an OSM extract; ValueError on bad input."""
    osm = Path(osm_path)
    check_name(name)
    _check_osm(osm)
    if vehicles_per_hour <= 0:
        raise ValueError(f"vehicles per hour must be positive, got {vehicles_per_hour:g}")
    root = root or user_scenario_dir()
    folder = root / name
    if folder.exists():
        raise ValueError(f"scenario folder {folder} exists already; choose another --name or "
                         "remove it")
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}-"))
    try:
        net_path = work / f"{name}.net.xml"
        cmd = [sumo_binary("netconvert"), "--osm-files", str(osm.resolve()), *OSM_OPTIONS,
               "-o", str(net_path)]
        log.info("import %s: %s", name, " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not net_path.exists():
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ValueError(f"netconvert could not build {osm}: {last[0]}")
        net = read_net(net_path)
        if not net.tls_ids:
            raise ValueError(f"{osm} has no traffic lights: tag the signalised junctions (or "
                             "nodes next to them) highway=traffic_signals")
        derived = []
        for tls in net.tls_ids:
            try:
                derived.append(derive_junction(net, tls))
            except ValueError as exc:
                raise ValueError(f"{osm}: traffic light {tls}: {exc}") from None
        routes = work / "routes.rou.xml"
        run_tool("randomTrips.py",
                 ["-n", str(net_path), "-o", str(work / "trips.trips.xml"), "-r", str(routes),
                  "--seed", str(seed), "-b", "0", "-e", "3600",
                  "-p", f"{3600.0 / vehicles_per_hour:.4f}", "--fringe-factor", "10",
                  "--validate", "--remove-loops"], f"demand for {name}")
        for leftover in ("trips.trips.xml", "routes.rou.alt.xml"):
            (work / leftover).unlink(missing_ok=True)
        cfg = write_sumocfg(work / f"{name}.sumocfg", net_path.name, (routes.name,), 0.0, 3600.0)
        n_edges = sum(1 for e, f in net.edge_functions.items() if f == "normal")
        _write_text(work / "CARD.md", _card(name, osm, tuple(derived), vehicles_per_hour, seed,
                                            n_edges))
        shutil.copyfile(osm, work / "source.osm.xml")
        os.replace(work, folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return ImportResult(name=name, folder=folder, sumocfg=folder / cfg.name,
                        traffic_lights=tuple(derived))
