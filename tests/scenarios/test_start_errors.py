"""Issue 14: SUMO's and netconvert's refusals become one line naming the problem (exit 2)."""

from __future__ import annotations

import importlib.resources
import shutil
from pathlib import Path

import pytest

from experiments.cli import main

pytestmark = pytest.mark.slow

WESTENTOR = Path(__file__).resolve().parents[2] / "scenarios/hamm/westentor"


def user_copy(root: Path, name: str, edit=None, nodes: str | None = None) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    for src in WESTENTOR.glob("*.xml"):
        shutil.copyfile(src, folder / src.name)
    text = (WESTENTOR / "scenario.yaml").read_text(encoding="utf-8")
    text = text.replace("name: westentor", f"name: {name}", 1)
    (folder / "scenario.yaml").write_text(edit(text) if edit else text, encoding="utf-8")
    if nodes is not None:
        (folder / "nodes.nod.xml").write_text(nodes, encoding="utf-8")


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_demand_from_an_unknown_edge_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AMPEL_SCENARIOS", str(tmp_path / "users"))
    user_copy(tmp_path / "users", "badedge", lambda t: t.replace(
        "[north_in, south_out, 360]", "[nowhere_in, south_out, 360]"))
    code = main(["run", "--scenario", "badedge", "--duration", "60", "--out",
                 str(tmp_path / "o"), "--quiet"])
    assert code == 2
    assert "SUMO refused to start" in one_error_line(capsys)


def test_sumocfg_routes_on_unknown_edges_is_one_line(tmp_path: Path, capsys) -> None:
    net = importlib.resources.files("sumo_rl") / "nets/RESCO/cologne1"
    shutil.copyfile(str(net / "cologne1.net.xml"), tmp_path / "cologne1.net.xml")
    shutil.copyfile(str(net / "cologne1.sumocfg"), tmp_path / "cologne1.sumocfg")
    (tmp_path / "cologne1.rou.xml").write_text(
        '<routes><vehicle id="a" depart="25200"><route edges="nope"/></vehicle></routes>')
    code = main(["run", "--scenario", str(tmp_path / "cologne1.sumocfg"), "--duration", "60",
                 "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    assert "edge 'nope'" in one_error_line(capsys)


def test_netconvert_error_shows_its_first_error_line(tmp_path: Path, monkeypatch,
                                                     capsys) -> None:
    monkeypatch.setenv("AMPEL_SCENARIOS", str(tmp_path / "users"))
    nodes = (WESTENTOR / "nodes.nod.xml").read_text(encoding="utf-8")
    broken = nodes.replace('id="westentor"', 'id="westentor" x="abc"', 1)
    assert broken != nodes
    user_copy(tmp_path / "users", "badnodes", nodes=broken)
    code = main(["run", "--scenario", "badnodes", "--duration", "60", "--out",
                 str(tmp_path / "o"), "--quiet"])
    assert code == 2
    line = one_error_line(capsys)
    assert "netconvert failed for scenario badnodes: Error:" in line
    assert "Quitting" not in line


def test_calibrate_help_shows_a_plain_percent(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["calibrate", "--help"])
    out = capsys.readouterr().out
    assert "85 % of the points" in " ".join(out.split()) and "%%" not in out
