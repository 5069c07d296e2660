"""Validation of every registered Hamm scenario: sources, demand profile, build, safety of its
plans, and one simulated hour of fixed-time control per period at nominal demand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from controllers.fixed_time import FixedTimeController, FixedTimePlan
from controllers.registry import controller_factory
from controllers.runner import build_controllers, run_closed_loop
from scenarios.demand import demand_for_period, generate_departures
from scenarios.profiles import cross_section_ratio, period_names
from scenarios.registry import HAMM_DIR, registered
from scenarios.spec import load_spec
from signals import GroupKind, SafetyGuard, Sequencer

ENTRIES = registered(HAMM_DIR)
NAMES = [e.name for e in ENTRIES]
SPECS = {e.name: load_spec(e.folder / "scenario.yaml") for e in ENTRIES}

#: Hamm's bounding box (generous): every scenario must be geo-referenced inside it
HAMM_LAT, HAMM_LON = (51.60, 51.76), (7.70, 7.98)
#: demand tolerance: the mean count over SEEDS seeds lies within this many Poisson sd
SEEDS, SIGMAS = 6, 4.0


def test_hamm_has_five_junctions_and_a_corridor() -> None:
    assert {"westentor", "marker_allee", "hauptbahnhof"} <= set(NAMES)
    single = [n for n in NAMES if len(SPECS[n].junctions) == 1]
    corridors = [n for n in NAMES if len(SPECS[n].junctions) >= 4]
    assert len(single) >= 5 and corridors


@pytest.mark.parametrize("name", NAMES)
def test_sources_are_complete_and_geo_referenced(name: str) -> None:
    spec = SPECS[name]
    assert HAMM_LAT[0] < spec.lat < HAMM_LAT[1] and HAMM_LON[0] < spec.lon < HAMM_LON[1]
    nodes = (spec.folder / spec.sources["nodes"]).read_text(encoding="utf-8")
    assert 'x="7.' in nodes and 'y="51.' in nodes  # lon/lat, projected by netconvert
    card = (spec.folder / "CARD.md").read_text(encoding="utf-8")
    for section in ("## Known", "## Assumed", "## Replace the assumptions"):
        assert section in card, f"{name}: CARD.md lacks {section!r}"
    for junction in spec.junctions:
        kinds = {g.kind for g in junction.groups}
        assert {GroupKind.VEHICLE, GroupKind.BICYCLE, GroupKind.PEDESTRIAN} <= kinds


@pytest.mark.parametrize("name", NAMES)
def test_bus_lines_serve_stops_on_their_route(name: str) -> None:
    demand = SPECS[name].demand
    stops = {s.id: s for s in demand.bus_stops}
    for line in demand.bus_lines:
        for stop in line.stops:
            edge = stops[stop].lane.rsplit("_", 1)[0]
            assert edge in line.route, f"{line.line}: stop {stop} is not on its route"


@pytest.mark.parametrize("name", NAMES)
def test_bicycle_share_follows_the_modal_split(name: str) -> None:
    demand = SPECS[name].demand
    ratio = sum(f for *_, f in demand.bicycles) / sum(f for *_, f in demand.vehicles)
    expected = cross_section_ratio("bicycle")
    assert expected / 2 <= ratio <= expected * 2, f"{name}: {ratio:.2f} vs {expected:.2f}"


@pytest.mark.parametrize("period", period_names())
@pytest.mark.parametrize("name", NAMES)
def test_generated_demand_matches_the_profile(name: str, period: str) -> None:
    demand = demand_for_period(SPECS[name].demand, period)
    for kind, flows in (("motor", demand.vehicles), ("bicycle", demand.bicycles),
                        ("pedestrian", demand.pedestrians)):
        expected = sum(f for *_, f in flows)
        counts = []
        for seed in range(SEEDS):
            deps = generate_departures(demand, seed)
            counts.append(sum(1 for d in deps if (d.kind in ("car", "truck")
                                                   if kind == "motor" else d.kind == kind)))
        mean = sum(counts) / SEEDS
        tolerance = SIGMAS * math.sqrt(expected / SEEDS)
        assert abs(mean - expected) <= tolerance, f"{kind}: {mean:.0f} vs {expected:.0f}"
    buses = [d for d in generate_departures(demand, 1) if d.kind == "bus"]
    assert len(buses) == round(sum(ln.buses_per_hour(period) for ln in demand.bus_lines))


@pytest.fixture(scope="module")
def scenarios(ampel_cache: Path) -> dict:
    from scenarios.scenario import load_scenario

    return {name: load_scenario(name) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_builds_with_one_traffic_light_per_junction(scenarios: dict, name: str) -> None:
    scenario = scenarios[name]
    spec = SPECS[name]
    assert sorted(scenario.net.tls_ids) == sorted(j.tls for j in spec.junctions)
    assert scenario.net.projection.startswith("+proj=utm +zone=32")
    for junction in scenario.junctions:
        assert junction.detectors, f"{junction.tls}: no detectors"
        for det in junction.detectors:
            lane = scenario.net.lanes[det.lane]
            assert lane.length - det.upstream_pos_m == pytest.approx(35.0, abs=0.5)


@pytest.mark.parametrize("name", NAMES)
def test_plans_pass_the_safety_checks(scenarios: dict, name: str) -> None:
    for junction in scenarios[name].junctions:
        model = junction.layout.model
        assert len(set(model.intergreens.values())) > 2  # from geometry, per pair
        for plan_spec in junction.plans:
            plan = FixedTimePlan.build(model, plan_spec.greens, plan_spec.offset_s)
            controller = FixedTimeController(plan)
            sequencer = Sequencer(model)
            guard = SafetyGuard(model, strict=True)
            served = set()
            for t in range(int(3 * plan.cycle_s)):
                sequencer.request(controller.stage_at(float(t)))
                guard.check(sequencer.step())
                served.add(sequencer.current_stage)
            assert not guard.violations
            assert set(plan.order) <= served, f"{junction.tls}/{plan_spec.name}"


@pytest.mark.slow
@pytest.mark.parametrize("period", period_names())
@pytest.mark.parametrize("name", NAMES)
def test_one_hour_of_fixed_time_control(scenarios: dict, name: str, period: str,
                                        tmp_path: Path) -> None:
    scenario = scenarios[name].for_period(period)
    plan = period if all(any(p.name == period for p in j.plans)
                         for j in scenario.junctions) else None
    controllers = build_controllers(
        scenario, controller_factory("fixed-time", {"plan": plan} if plan else None))
    result = run_closed_loop(scenario, controllers, seed=1, duration_s=3600, out_dir=tmp_path)
    m = result.metrics
    expected = sum(f for *_, f in scenario.spec.demand.vehicles)
    assert result.safety_violations == 0
    assert m["teleports"] == 0
    assert m["vehicles_departed"] >= 0.9 * expected  # no spillback blocking the entries
    assert m["vehicles_arrived"] >= 0.94 * m["vehicles_departed"]  # no gridlock
    assert m["max_waiting_s"] < 300  # nobody waits through several cycles
    assert m["mean_delay_s"] < 70  # HBS level of service D or better: not oversaturated
