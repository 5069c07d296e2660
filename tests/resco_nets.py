"""The RESCO benchmark networks shipped with sumo-rl (test extra), found without importing
sumo_rl (its import needs SUMO_HOME). Never copied into the repository (licences)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

#: ingolstadt1's traffic light and a "measured" program for it: other greens, offset 20 s
INGOLSTADT1_TLS = "gneJ207"
MEASURED = """    <tlLogic id="gneJ207" type="static" programID="measured" offset="20">
        <phase duration="30" state="GGgGrGGG"/>
        <phase duration="3"  state="yygyryyy"/>
        <phase duration="10" state="GGGrrrrr"/>
        <phase duration="3"  state="yyyrrrrr"/>
        <phase duration="41" state="rrrGGGrr"/>
        <phase duration="3"  state="rrryyyrr"/>
    </tlLogic>"""


def resco(name: str) -> Path:
    """``nets/RESCO/<name>/<name>.sumocfg`` of the installed sumo-rl; skips without it."""
    spec = importlib.util.find_spec("sumo_rl")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("sumo-rl (test extra) is not installed")
    path = Path(spec.submodule_search_locations[0]) / "nets" / "RESCO" / name / f"{name}.sumocfg"
    if not path.is_file():
        pytest.skip(f"RESCO network {name} not found in sumo-rl")
    return path


def with_programs(folder: Path, name: str, programs: str, begin: float | None = None,
                  end: float | None = None) -> Path:
    """A .sumocfg in ``folder`` running RESCO ``name`` with an additional file of
    ``<tlLogic>`` programs (absolute paths to the installed network and routes)."""
    base = resco(name)
    add = folder / f"{name}.programs.add.xml"
    add.write_text(f"<additional>\n{programs}\n</additional>\n", encoding="utf-8")
    times = []
    if begin is not None:
        times.append(f'    <begin value="{begin:g}"/>')
    if end is not None:
        times.append(f'    <end value="{end:g}"/>')
    cfg = folder / f"{name}-programs.sumocfg"
    cfg.write_text("\n".join([
        "<configuration>", "  <input>",
        f'    <net-file value="{base.parent / f"{name}.net.xml"}"/>',
        f'    <route-files value="{base.parent / f"{name}.rou.xml"}"/>',
        f'    <additional-files value="{add.name}"/>', "  </input>", "  <time>", *times,
        "  </time>", "</configuration>", ""]), encoding="utf-8")
    return cfg
