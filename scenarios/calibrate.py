"""Fit a scenario's routes to measured counts (``ampel calibrate``) and report GEH.

1. Counts: ``counts.csv`` with the columns ``edge`` and ``count`` (vehicles counted on the
   edge in the interval) and optionally ``point`` (name of the counting point, default the
   edge), ``begin_s`` and ``end_s`` (interval, default 0-3600 s).
2. Candidate routes: SUMO's randomTrips between the network's fringe edges (passenger
   cars, validated with duarouter), seeded.
3. SUMO's routeSampler draws routes from the candidates so that the edge counts match
   (integer linear programme with ``--optimize full``).
4. Fit: the calibrated routes are counted per point (a vehicle counts on every edge of its
   route when it departs in the point's interval), both flows are scaled to vehicles per
   hour, and ``GEH = sqrt(2 (M - C)^2 / (M + C))`` compares modelled M and counted C.
5. Result: a user scenario ``NAME-calibrated`` (network copy, calibrated routes,
   ``.sumocfg``, ``geh.csv``, ``calibration.json``, ``CARD.md``) that
   ``ampel run --scenario NAME-calibrated`` runs as an external scenario.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

from scenarios.netfile import NetFile
from scenarios.osm import junction_table, write_sumocfg
from scenarios.outpaths import foreign_files, writable_dir
from scenarios.registry import user_scenario_dir
from scenarios.tools import run_tool
from signals.errors import ConfigError, ScenarioError

log = logging.getLogger(__name__)

#: GEH below this is an acceptable fit for hourly flows (common practice)
GEH_OK = 5.0
_MARKER = "calibration.json"


@dataclass(frozen=True)
class CountPoint:
    """One counting point: vehicles counted on an edge in ``[begin_s, end_s)``."""

    point: str
    edge: str
    count: float
    begin_s: float = 0.0
    end_s: float = 3600.0

    @property
    def per_hour(self) -> float:
        """Counted flow in vehicles per hour."""
        return self.count * 3600.0 / (self.end_s - self.begin_s)


@dataclass(frozen=True)
class GehRow:
    """Fit at one counting point (flows in vehicles per hour)."""

    point: str
    edge: str
    counted_per_h: float
    modelled_per_h: float
    geh: float


@dataclass(frozen=True)
class CalibrationResult:
    """The calibrated scenario and its fit."""

    name: str
    folder: Path
    routes: Path
    points: tuple[GehRow, ...]

    @property
    def share_below_5(self) -> float:
        """Share of counting points with GEH < 5."""
        if not self.points:
            return 0.0
        return sum(p.geh < GEH_OK for p in self.points) / len(self.points)


def geh(modelled: float, counted: float) -> float:
    """GEH statistic of two hourly flows (0 when both are 0)."""
    if modelled < 0 or counted < 0:
        raise ValueError("GEH needs non-negative flows")
    total = modelled + counted
    return 0.0 if total == 0 else math.sqrt(2.0 * (modelled - counted) ** 2 / total)


def _number(text: str | None, what: str, where: str) -> float:
    try:
        value = float(text or "")
    except ValueError:
        raise ScenarioError(f"{where}: {what} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ScenarioError(f"{where}: {what} {text!r} must be a non-negative number")
    return value


def read_counts(path: Path, net: NetFile | None = None) -> tuple[CountPoint, ...]:
    """Read and validate ``counts.csv``; errors name the offending line."""
    if not path.is_file():
        raise ScenarioError(f"counts file not found: {path}")
    edges = {lane.edge for lane in net.lanes.values()} if net is not None else None
    points: list[CountPoint] = []
    seen: set[str] = set()
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = {"edge", "count"} - set(header)
        if missing:
            raise ScenarioError(f"{path} line 1: header needs the columns edge,count "
                                f"(missing: {', '.join(sorted(missing))})")
        reader.fieldnames = header
        for row in reader:
            where = f"{path} line {reader.line_num}"
            if None in row or any(v is None for v in row.values()):
                raise ScenarioError(f"{where}: expected {len(header)} fields")
            edge = (row.get("edge") or "").strip()
            if not edge:
                raise ScenarioError(f"{where}: empty edge")
            if edges is not None and edge not in edges:
                raise ScenarioError(f"{where}: edge {edge!r} is not in the network")
            if net is not None and (edge.startswith(":")
                                    or net.edge_functions.get(edge, "normal") != "normal"):
                raise ScenarioError(f"{where}: edge {edge!r} is an internal (junction) edge or "
                                    "a crossing; count on a normal road edge")
            count = _number(row.get("count"), "count", where)
            begin = _number(row.get("begin_s") or "0", "begin_s", where)
            end = _number(row.get("end_s") or "3600", "end_s", where)
            if end <= begin:
                raise ScenarioError(f"{where}: end_s {end:g} is not after begin_s {begin:g}")
            name = (row.get("point") or "").strip() or edge
            if name in seen:
                raise ScenarioError(f"{where}: counting point {name!r} appears twice")
            seen.add(name)
            points.append(CountPoint(name, edge, count, begin, end))
    if not points:
        raise ScenarioError(f"{path}: no counting points")
    return tuple(points)


def write_edgedata(points: tuple[CountPoint, ...], path: Path) -> Path:
    """The counts as SUMO edgeData (one interval per distinct begin/end)."""
    intervals: dict[tuple[float, float], list[CountPoint]] = {}
    for p in points:
        intervals.setdefault((p.begin_s, p.end_s), []).append(p)
    lines = ["<data>"]
    for k, ((begin, end), members) in enumerate(sorted(intervals.items())):
        lines.append(f'    <interval id="counts{k}" begin="{begin:g}" end="{end:g}">')
        totals: dict[str, float] = {}
        for p in members:
            totals[p.edge] = totals.get(p.edge, 0.0) + p.count
        lines += [f'        <edge id="{e}" count="{c:g}"/>' for e, c in sorted(totals.items())]
        lines.append("    </interval>")
    lines.append("</data>\n")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def route_edge_counts(routes: Path, points: tuple[CountPoint, ...]) -> dict[str, float]:
    """Vehicles per counting point: routes over its edge departing in its interval."""
    root = ET.parse(routes).getroot()
    named = {r.get("id", ""): r.get("edges", "").split() for r in root.iter("route")
             if r.get("id")}
    counts = {p.point: 0.0 for p in points}
    for veh in root:
        if veh.tag not in ("vehicle", "trip"):
            continue
        inner = veh.find("route")
        edges = (inner.get("edges", "").split() if inner is not None
                 else named.get(veh.get("route", ""), []))
        depart = float(veh.get("depart", "0"))
        on = set(edges)
        for p in points:
            if p.edge in on and p.begin_s <= depart < p.end_s:
                counts[p.point] += 1
    return counts


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _target(name: str, out_dir: Path | None) -> Path:
    """The folder to write; an earlier calibration there may only be replaced when it
    holds nothing but the files ampel wrote, unchanged (a user's files are never lost)."""
    folder = (out_dir if out_dir is not None else user_scenario_dir() / name)
    if str(folder).strip() == "":
        raise ConfigError("--out: an empty path; give a folder name")
    folder = folder.expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out {folder} is a file, not a folder; choose a folder")
    if not folder.exists():
        return folder
    if not (folder / _MARKER).exists():
        raise ConfigError(f"{folder} exists and is not a calibrated scenario; choose another "
                          "--out")
    try:
        written = json.loads((folder / _MARKER).read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError, AttributeError):
        written = {}
    changed = [f for f in foreign_files(folder, list(written) + [_MARKER])]
    changed += [f for f, digest in written.items()
                if not (folder / f).is_file() or _digest(folder / f) != digest]
    if not written or changed:
        shown = ", ".join(sorted(changed)[:3]) or _MARKER
        raise ConfigError(f"{folder} holds an earlier calibration with files ampel did not "
                          f"write or that were edited ({shown}); move them away or choose "
                          "another --out")
    return folder


def _card(name: str, source: str, counts: Path, result_rows: tuple[GehRow, ...], share: float,
          seed: int, table: list[str]) -> str:
    rows = ["| point | edge | counted veh/h | modelled veh/h | GEH |", "|---|---|---|---|---|"]
    rows += [f"| {r.point} | {r.edge} | {r.counted_per_h:.0f} | {r.modelled_per_h:.0f} | "
             f"{r.geh:.2f} |" for r in result_rows]
    return "\n".join([
        f"# {name} (calibrated to counts)", "",
        f"Generated by `ampel calibrate --scenario {source} --counts {counts.name}` on "
        f"{dt.date.today().isoformat()}. Routes drawn by SUMO routeSampler from random "
        f"candidate routes (seed {seed}) to match the counts.", "",
        "## Known", "", f"- Network of scenario `{source}` (copied).",
        f"- Counts from `{counts.name}` ({len(result_rows)} counting points).", "",
        "## Fit", "", *rows, "",
        f"GEH < {GEH_OK:g} at {share * 100:.0f} % of the counting points (modelled = routes "
        "over the counted edge departing in the counting interval; not simulated).", "",
        "## Derived", "",
        "- This scenario runs as an external SUMO scenario: signal groups, stages and the "
        "fixed-time plan are derived from the network's traffic-light programs (README, "
        "\"External SUMO scenarios\"), not from a scenario.yaml.", "", *table, "",
        "## Assumed", "",
        "- All calibrated vehicles are passenger cars (SUMO's default type); edges without "
        "counts carry whatever the sampled routes put on them.",
        "- Departures are spread uniformly over each counting interval.", "",
        "## How to replace the assumptions", "",
        "- More counting points (turning counts as via edges) constrain the routes further; "
        f"run `ampel calibrate --scenario {source} --counts NEW.csv` again.", "",
    ])


def calibrate(scenario: str, counts_path: Path, out_dir: Path | None = None, seed: int = 1,
              candidate_trips: int = 2000) -> CalibrationResult:
    """Fit routes of ``scenario`` to the counts; write the calibrated user scenario."""
    from scenarios.derive import derive_junction
    from scenarios.scenario import load_scenario

    if not Path(counts_path).is_file():
        raise ScenarioError(f"counts file not found: {counts_path}")
    loaded = load_scenario(scenario)
    points = read_counts(Path(counts_path), loaded.net)
    folder = _target(f"{loaded.name}-calibrated", out_dir)
    name = folder.name
    writable_dir(folder.parent, "calibration output folder")
    work = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{name}-"))
    try:
        net_copy = work / f"{name}.net.xml"
        shutil.copyfile(loaded.net_path, net_copy)
        additional: list[str] = []
        if loaded.external is not None:
            for k, f in enumerate(loaded.external.config.additional_files):
                target = work / f"additional{k}_{f.name}"
                shutil.copyfile(f, target)
                additional.append(target.name)
        begin = min(p.begin_s for p in points)
        end = max(p.end_s for p in points)
        candidates = work / "candidates.rou.xml"
        run_tool("randomTrips.py",
                 ["-n", str(net_copy), "-o", str(work / "candidates.trips.xml"),
                  "-r", str(candidates), "--seed", str(seed), "-b", "0",
                  "-e", str(candidate_trips), "-p", "1", "--fringe-factor", "10",
                  "--validate", "--remove-loops"], "candidate routes", cwd=work)
        edgedata = write_edgedata(points, work / "counts.edgedata.xml")
        routes = work / "calibrated.rou.xml"
        run_tool("routeSampler.py",
                 ["-r", str(candidates), "-d", str(edgedata), "-o", str(routes),
                  "--edgedata-attribute", "count", "--optimize", "full",
                  "--seed", str(seed), "--prefix", "cal", "-b", f"{begin:g}", "-e", f"{end:g}"],
                 "routeSampler", cwd=work)
        for leftover in ("candidates.trips.xml", "candidates.rou.alt.xml"):
            (work / leftover).unlink(missing_ok=True)
        modelled = route_edge_counts(routes, points)
        rows = []
        for p in points:
            m_h = modelled[p.point] * 3600.0 / (p.end_s - p.begin_s)
            rows.append(GehRow(p.point, p.edge, round(p.per_hour, 3), round(m_h, 3),
                               round(geh(m_h, p.per_hour), 3)))
        result_rows = tuple(rows)
        cfg = write_sumocfg(work / f"{name}.sumocfg", net_copy.name, (routes.name,), begin,
                            end, tuple(additional))
        with (work / "geh.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["point", "edge", "counted_per_h", "modelled_per_h", "geh"])
            writer.writerows([r.point, r.edge, r.counted_per_h, r.modelled_per_h, r.geh]
                             for r in result_rows)
        share = sum(r.geh < GEH_OK for r in result_rows) / len(result_rows)
        from scenarios.netfile import read_net

        net = read_net(net_copy)
        table = junction_table(tuple(derive_junction(net, t) for t in net.tls_ids))
        (work / "CARD.md").write_text(_card(name, loaded.name, Path(counts_path), result_rows,
                                            share, seed, table), encoding="utf-8")
        files = {str(p.relative_to(work)): _digest(p) for p in sorted(work.rglob("*"))
                 if p.is_file()}
        (work / _MARKER).write_text(json.dumps({
            "source_scenario": loaded.name, "counts": str(Path(counts_path).resolve()),
            "seed": seed, "share_geh_below_5": share,
            "points": [asdict(r) for r in result_rows], "files": files}, indent=2) + "\n",
            encoding="utf-8")
        if folder.exists():  # checked by _target: only ampel's own, unchanged files
            _target(name, folder)
            shutil.rmtree(folder)
        os.replace(work, folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    log.info("calibrated %s written to %s (%s)", name, folder, cfg.name)
    return CalibrationResult(name=name, folder=folder, routes=folder / routes.name,
                             points=result_rows)
