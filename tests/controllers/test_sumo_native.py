"""SUMO's own controllers as references, the program replay against plain SUMO, and the
metrics on a network with its own vehicle type ids (real SUMO, RESCO networks)."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from resco_nets import MEASURED, resco, with_programs

from experiments.cli import main
from scenarios.build import sumo_binary
from scenarios.external import read_sumocfg
from scenarios.metrics import summarise
from scenarios.vclass import read_type_classes

pytestmark = pytest.mark.slow


def plain_sumo(cfg: Path, seed: int, out: Path, end: float | None = None) -> dict:
    """``sumo -c cfg`` with the same seed and the outputs ampel asks for, summarised."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sumo_binary("sumo"), "-c", str(cfg), "--seed", str(seed),
           "--tripinfo-output", str(out / "tripinfo.xml"),
           "--tripinfo-output.write-unfinished", "true",
           "--tripinfo-output.write-undeparted", "true",
           "--statistic-output", str(out / "statistics.xml"),
           "--device.emissions.probability", "1", "--no-step-log", "true"]
    if end is not None:
        cmd += ["--end", f"{end:g}"]
    subprocess.run(cmd, check=True, capture_output=True)
    config = read_sumocfg(cfg)
    types = read_type_classes([config.net_file, *config.additional_files,
                               *config.route_files])
    return summarise(out / "tripinfo.xml", out / "statistics.xml", types)


def ampel_run(tmp: Path, cfg: Path, controller: str, *extra: str) -> dict:
    rc = main(["run", "--scenario", str(cfg), "--controller", controller, "--seed", "3",
               "--out", str(tmp), "--quiet", *extra])
    assert rc == 0
    return json.loads((tmp / "summary.json").read_text())


def test_sumo_program_gives_exactly_plain_sumos_metrics(tmp_path: Path) -> None:
    cfg = resco("ingolstadt1")
    begin = read_sumocfg(cfg).begin_s
    plain = plain_sumo(cfg, 3, tmp_path / "plain", end=begin + 600)
    ours = ampel_run(tmp_path / "ampel", cfg, "sumo-program", "--duration", "600")
    assert plain["vehicles_departed"] > 200
    assert {k: ours[k] for k in plain} == plain
    # ampel's guard watched SUMO's program: its departures from RiLSA are SUMO's
    assert ours["safety_violations"] > 0
    assert ours["safety_violations_source"] == "SUMO's program, not ampel"
    assert ours["stage_changes"] > 0


def test_fixed_time_replays_the_program_within_15_percent(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    """ingolstadt1 with a measured program (other greens, offset 20 s) in an additional
    file: ampel's fixed-time with the program's transitions is within 15 % of SUMO; with
    RiLSA transitions it says how much it lengthened them."""
    cfg = with_programs(tmp_path, "ingolstadt1", MEASURED, begin=57600, end=57600 + 1200)
    plain = plain_sumo(cfg, 3, tmp_path / "plain")
    program = ampel_run(tmp_path / "program", cfg, "fixed-time", "--param",
                        "intergreens=program")
    capsys.readouterr()
    rilsa = ampel_run(tmp_path / "rilsa", cfg, "fixed-time")
    assert "transitions lengthened by 4 s per cycle" in capsys.readouterr().out
    assert program["intergreens"] == "program" and rilsa["intergreens"] == "rilsa"
    assert program["safety_violations"] == 0 == rilsa["safety_violations"]
    for key in ("mean_total_delay_s", "mean_delay_s"):
        assert abs(program[key] - plain[key]) <= 0.15 * plain[key], (key, program[key],
                                                                     plain[key])
    assert abs(program["vehicles_departed"] - plain["vehicles_departed"]) <= 0.02 * plain[
        "vehicles_departed"]


def test_total_delay_catches_an_entry_the_controller_blocks(tmp_path: Path) -> None:
    """A plan that starves one stage keeps vehicles outside the network: the time they
    wait to enter shows in the total delay, not in timeLoss."""
    cfg = resco("ingolstadt1")
    fair = ampel_run(tmp_path / "fair", cfg, "fixed-time", "--duration", "1200", "--param",
                     "intergreens=program")
    starved = ampel_run(tmp_path / "starved", cfg, "fixed-time", "--duration", "1200",
                        "--param", "intergreens=program", "--param", "greens=S1=40,S2=36,S3=5")
    assert starved["vehicles_not_departed"] > fair["vehicles_not_departed"] + 20
    gap_fair = fair["mean_total_delay_s"] - fair["mean_delay_s"]
    gap_starved = starved["mean_total_delay_s"] - starved["mean_delay_s"]
    assert gap_starved > 2 * gap_fair
    assert starved["mean_total_delay_s"] > fair["mean_total_delay_s"]


@pytest.mark.parametrize(("name", "kind"), [("sumo-actuated", "actuated"),
                                            ("sumo-delay-based", "delay_based")])
def test_sumo_switched_controllers_run_the_rebuilt_program(tmp_path: Path, name: str,
                                                           kind: str) -> None:
    cfg = resco("ingolstadt1")
    ours = ampel_run(tmp_path / "a", cfg, name, "--duration", "600")
    program = ET.parse(tmp_path / "a" / "sumo-programs.add.xml").getroot().find("tlLogic")
    assert program is not None and program.get("type") == kind
    greens = [p for p in program.iter("phase") if "y" not in p.get("state", "")]
    assert greens and all(p.get("minDur") and p.get("maxDur") for p in greens)
    fixed = ampel_run(tmp_path / "p", cfg, "sumo-program", "--duration", "600")
    assert ours["mean_delay_s"] != fixed["mean_delay_s"]  # SUMO switched the control
    assert ours["vehicles_departed"] > 200
    assert ours["safety_violations_source"] == "SUMO's program, not ampel"


@pytest.mark.parametrize("name", ["sumo-program", "sumo-actuated", "sumo-delay-based"])
def test_references_run_on_a_hamm_scenario(tmp_path: Path, name: str) -> None:
    summary = ampel_run(tmp_path, Path("westentor"), name, "--duration", "240")
    assert summary["vehicles_departed"] > 0 and summary["stage_changes"] > 0


def test_custom_vehicle_type_ids_are_all_counted(tmp_path: Path) -> None:
    """cologne1 calls its passenger cars ``pkw``: the summary matches a recomputation."""
    cfg = resco("cologne1")
    summary = ampel_run(tmp_path, cfg, "fixed-time", "--duration", "600")
    routes = ET.parse(read_sumocfg(cfg).route_files[0]).getroot()
    motor_types = {t.get("id") for t in routes.iter("vType")
                   if t.get("vClass", "passenger") in ("passenger", "bus", "truck")}
    assert "pkw" in motor_types
    trips = [t for t in ET.parse(tmp_path / "tripinfo.xml").getroot().iter("tripinfo")
             if t.get("vType") in motor_types]
    departed = [t for t in trips if float(t.get("depart", "-1")) >= 0]
    assert summary["vehicles_departed"] == len(departed) > 100
    assert summary["vehicles_not_departed"] == len(trips) - len(departed)
    assert summary["mean_delay_s"] == pytest.approx(
        sum(float(t.get("timeLoss")) for t in departed) / len(departed))
    assert summary["mean_total_delay_s"] == pytest.approx(
        sum(float(t.get("timeLoss")) + float(t.get("departDelay")) for t in trips)
        / len(trips))
