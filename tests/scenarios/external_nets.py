"""Small SUMO networks and scenarios the external-scenario tests build themselves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scenarios.build import sumo_binary
from scenarios.tools import sumo_home


def netgenerate(out: Path, *options: str) -> Path:
    """Run netgenerate with the given options into ``out``."""
    proc = subprocess.run([sumo_binary("netgenerate"), *options, "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def grid(folder: Path, name: str, *extra: str) -> Path:
    """A 3x3 grid with a traffic light at every junction (two lanes per direction)."""
    return netgenerate(folder / f"{name}.net.xml", "--grid", "--grid.number=3",
                       "--grid.length", "200", "-j", "traffic_light",
                       "--default.lanenumber", "2", "--no-turnarounds", *extra)


def random_routes(net: Path, out: Path, end_s: float, period_s: float, seed: int = 1) -> Path:
    """Validated random routes with SUMO's randomTrips."""
    tool = sumo_home() / "tools" / "randomTrips.py"
    proc = subprocess.run([sys.executable, str(tool), "-n", str(net), "-r", str(out),
                           "-o", str(out.with_suffix(".trips.xml")), "-e", str(end_s),
                           "-p", str(period_s), "--seed", str(seed), "--validate"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def sumocfg(path: Path, net: Path, routes: Path | None, begin: float | None,
            end: float | None) -> Path:
    """A .sumocfg with relative file names."""
    parts = ["<configuration>", "  <input>", f'    <net-file value="{net.name}"/>']
    if routes is not None:
        parts.append(f'    <route-files value="{routes.name}"/>')
    parts += ["  </input>", "  <time>"]
    if begin is not None:
        parts.append(f'    <begin value="{begin:g}"/>')
    if end is not None:
        parts.append(f'    <end value="{end:g}"/>')
    parts += ["  </time>", "</configuration>", ""]
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
