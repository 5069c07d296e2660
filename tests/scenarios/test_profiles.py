"""Time-of-day periods, bus timetables and bus detection."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from scenarios.demand import demand_for_period, generate_departures, write_routes
from scenarios.profiles import PROFILES, cross_section_ratio, profile, share_ratio
from scenarios.registry import find_spec
from scenarios.spec import BusLineSpec, load_spec

WESTENTOR = Path(__file__).resolve().parents[2] / "scenarios/hamm/westentor/scenario.yaml"


@pytest.fixture(scope="module")
def westentor_demand():
    return find_spec("westentor").demand


def _flows(demand) -> dict[tuple[str, str], float]:
    return {(a, b): q for a, b, q in demand.vehicles}


def test_morning_peak_is_the_basis_unchanged(westentor_demand) -> None:
    assert demand_for_period(westentor_demand, "morning_peak") is westentor_demand


def test_midday_halves_and_balances_directions(westentor_demand) -> None:
    base, mid = _flows(westentor_demand), _flows(demand_for_period(westentor_demand, "midday"))
    factor = share_ratio("midday", "vehicle")
    assert factor == pytest.approx(0.5)
    north_south = ("north_in", "south_out")
    south_north = ("south_in", "north_out")
    assert mid[north_south] == pytest.approx(factor * (base[north_south] + base[south_north]) / 2)
    assert mid[north_south] == pytest.approx(mid[south_north])


def test_afternoon_mirrors_the_morning_tide(westentor_demand) -> None:
    base = _flows(westentor_demand)
    pm = _flows(demand_for_period(westentor_demand, "afternoon_peak"))
    k = PROFILES["afternoon_peak"].vehicle_share / PROFILES["morning_peak"].vehicle_share
    # afternoon north -> east is the morning east -> north, scaled by the share ratio
    assert pm[("north_in", "east_out")] == pytest.approx(k * base[("east_in", "north_out")])
    assert pm[("west_in", "north_out")] == pytest.approx(k * base[("north_in", "west_out")])
    assert sum(pm.values()) == pytest.approx(k * sum(base.values()))


def test_unknown_period_names_the_known_ones(westentor_demand) -> None:
    with pytest.raises(ValueError, match="unknown period 'night'.*midday"):
        demand_for_period(westentor_demand, "night")


def test_mirroring_needs_the_arms(westentor_demand) -> None:
    without = dataclasses.replace(westentor_demand, arms=())
    with pytest.raises(ValueError, match="demand.arms"):
        demand_for_period(without, "afternoon_peak")


def test_shares_are_documented_assumptions() -> None:
    assert profile("morning_peak").vehicle_share == 0.12  # hamm.de: peak hour = 12 %
    assert 0.1 < cross_section_ratio("bicycle") < 0.2
    assert cross_section_ratio("walking") < cross_section_ratio("bicycle")


def test_buses_run_to_the_timetable_and_ignore_the_demand_scale() -> None:
    demand = find_spec("hauptbahnhof").demand
    for period in PROFILES:
        d = demand_for_period(demand, period)
        expected = sum(line.buses_per_hour(period) for line in d.bus_lines)
        for seed, scale in ((1, 1.0), (2, 1.3)):
            buses = [x for x in generate_departures(d, seed, scale) if x.kind == "bus"]
            assert len(buses) == expected
    line = demand.bus_lines[0]
    times = sorted(x.time_s for x in generate_departures(demand, 5)
                   if x.kind == "bus" and x.line == line.line)
    gaps = {round(b - a, 6) for a, b in zip(times, times[1:], strict=False)}
    assert gaps == {3600 / line.buses_per_hour("morning_peak")}  # a fixed headway


def test_bus_route_file_has_routes_and_stops(tmp_path: Path) -> None:
    demand = find_spec("hauptbahnhof").demand
    path = write_routes(generate_departures(demand, 1), tmp_path / "r.rou.xml")
    buses = [el for el in ET.parse(path).getroot() if el.tag == "vehicle"]
    assert buses and all(el.get("type") == "bus" for el in buses)
    first = buses[0]
    assert first.find("route").get("edges").split()[0] in {ln.route[0] for ln in
                                                           demand.bus_lines}
    assert first.find("stop").get("busStop") == "zob"


def test_bus_line_with_unknown_stop_is_refused(tmp_path: Path) -> None:
    text = WESTENTOR.read_text().replace(
        "  arms:", "  bus_lines:\n    - {line: X, route: [north_in, south_out], stops: [nowhere]}"
        "\n  arms:")
    bad = tmp_path / "scenario.yaml"
    bad.write_text(text)
    with pytest.raises(ValueError, match="unknown stop.*nowhere"):
        load_spec(bad)


def test_buses_per_hour_defaults_to_zero() -> None:
    line = BusLineSpec(line="x", route=("a",), per_hour=(("morning_peak", 4.0),))
    assert line.buses_per_hour("midday") == 0.0


@pytest.mark.slow
def test_upstream_loops_report_buses(ampel_cache: Path, tmp_path: Path) -> None:
    from controllers.registry import controller_factory
    from controllers.runner import SignalledJunction, build_controllers
    from scenarios.scenario import load_scenario

    scenario = load_scenario("hauptbahnhof")
    junction = scenario.junctions[0]
    controller = build_controllers(scenario, controller_factory("fixed-time"))[0]
    signalled = SignalledJunction.create(junction, controller)
    bus_lanes: dict[str, int] = {}
    other = 0
    session = scenario.session(seed=2, duration_s=1200, out_dir=tmp_path)
    with session:
        while not session.finished():
            signalled.control_step(session, session.time_s)
            session.step()
            if int(session.time_s) % 7 == 0:
                for r in session.read_lanes(junction.detectors):
                    if r.bus_count:
                        bus_lanes[r.lane] = bus_lanes.get(r.lane, 0) + r.bus_count
                    other += r.upstream_count - r.bus_count
    routes = ET.parse(tmp_path / "routes.rou.xml").getroot()
    buses = [el for el in routes if el.tag == "vehicle"]
    trips = ET.parse(tmp_path / "tripinfo.xml").getroot()
    arrived = sum(1 for el in trips if el.tag == "tripinfo" and el.get("vType") == "bus"
                  and float(el.get("arrival", "-1")) >= 0)
    # each finished bus passed two detected approaches: its entry and the ZOB exit
    assert 2 * arrived <= sum(bus_lanes.values()) <= 2 * len(buses)
    assert {lane.rsplit("_", 1)[0] for lane in bus_lanes} <= {
        "northeast_in", "west_in", "north_in", "south_in"}
    assert not any(lane.endswith("_1") for lane in bus_lanes)  # never on a bicycle lane
    assert other > 100  # cars, trucks and bicycles are not counted as buses


@pytest.mark.slow
def test_cli_period_option(ampel_cache: Path, tmp_path: Path) -> None:
    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "experiments.cli", "run", "--scenario", "marker_allee",
             "--duration", "600", "--quiet", *extra], capture_output=True, text=True,
            env=os.environ.copy(), timeout=300)

    peak = run("--out", str(tmp_path / "peak"))
    mid = run("--period", "midday", "--out", str(tmp_path / "mid"))
    assert peak.returncode == 0 and mid.returncode == 0, peak.stderr + mid.stderr
    s_peak = json.loads((tmp_path / "peak" / "summary.json").read_text())
    s_mid = json.loads((tmp_path / "mid" / "summary.json").read_text())
    assert s_peak["period"] == "morning_peak" and s_mid["period"] == "midday"
    assert s_mid["vehicles_departed"] < 0.7 * s_peak["vehicles_departed"]
    bad = run("--period", "night", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "invalid choice: 'night'" in bad.stderr
