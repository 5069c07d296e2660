"""External .sumocfg scenarios: any SUMO scenario with traffic lights runs under ampel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from external_nets import grid, random_routes, sumocfg

from controllers.registry import controller_factory, controller_names
from controllers.runner import build_controllers, run_closed_loop
from experiments.cli import main
from scenarios.scenario import load_scenario

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cfgs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two 3x3 grids: netgenerate's programs with amber but no all-red, and with neither."""
    folder = tmp_path_factory.mktemp("external")
    out = {}
    for kind, extra in (("amber", ()), ("no_amber", ("--tls.yellow.time", "0"))):
        net = grid(folder, kind, *extra)
        routes = random_routes(net, folder / f"{kind}.rou.xml", end_s=700, period_s=1.5)
        out[kind] = sumocfg(folder / f"{kind}.sumocfg", net, routes, begin=100, end=700)
    return out


@pytest.mark.parametrize("kind", ["amber", "no_amber"])
def test_cli_runs_an_external_sumocfg_without_safety_violations(cfgs, kind: str,
                                                                tmp_path: Path) -> None:
    rc = main(["run", "--scenario", str(cfgs[kind]), "--controller", "fixed-time",
               "--out", str(tmp_path), "--quiet"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert rc == 0
    assert summary["safety_violations"] == 0
    assert summary["duration_s"] == 600.0  # end - begin of the .sumocfg
    assert summary["vehicles_departed"] > 150
    assert summary["vehicles_arrived"] > 0.6 * summary["vehicles_departed"]
    assert summary["stage_changes"] > 9 * 4  # nine traffic lights cycling for 600 s


def test_every_controller_runs_on_an_external_scenario(cfgs, tmp_path: Path) -> None:
    scenario = load_scenario(str(cfgs["amber"]))
    assert len(scenario.junctions) == 9
    assert scenario.default_duration_s == 600.0
    # 'rl' runs a policy trained for one scenario's junctions; it has none for this network
    for name in [n for n in controller_names() if n != "rl"]:
        controllers = build_controllers(scenario, controller_factory(name))
        result = run_closed_loop(scenario, controllers, seed=2, duration_s=240,
                                 out_dir=tmp_path / name)
        if result.reference:  # SUMO runs it; its departures from RiLSA are counted
            assert result.record()["safety_violations_source"] == "SUMO's program, not ampel"
        else:
            assert result.safety_violations == 0, (name, result.violation_messages)
        assert result.metrics["vehicles_departed"] > 0, name


def test_demand_scale_goes_to_sumo(cfgs, tmp_path: Path) -> None:
    scenario = load_scenario(str(cfgs["no_amber"]))
    departed = []
    for scale in (1.0, 0.5):
        controllers = build_controllers(scenario, controller_factory("fixed-time"))
        result = run_closed_loop(scenario, controllers, seed=1, duration_s=300,
                                 out_dir=tmp_path / str(scale), demand_scale=scale)
        assert result.safety_violations == 0
        departed.append(result.metrics["vehicles_departed"])
    assert 0.3 * departed[0] < departed[1] < 0.7 * departed[0]


def test_bad_sumocfg_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "x.sumocfg"
    cfg.write_text("<configuration><input/></configuration>", encoding="utf-8")
    assert main(["run", "--scenario", str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no net-file" in err and len(err.splitlines()) == 1
    assert main(["run", "--scenario", str(tmp_path / "nope.sumocfg"), "--out",
                 str(tmp_path / "o"), "--quiet"]) == 2
    assert "not found" in capsys.readouterr().err
