"""Experiment configs, LOS table and statistics: fast unit tests (no SUMO)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from experiments.config import label_entry, load_config, parse_config
from experiments.los import LosTable, los_table
from experiments.results import RunRecord, record_problem
from experiments.stats import mean_ci, paired

BASE = {"scenarios": ["westentor"], "controllers": ["fixed-time"], "seeds": [1, 2]}


def cfg(**changes):
    return parse_config({**BASE, **changes})


def test_minimal_config_expands_to_runs() -> None:
    c = cfg(controllers=["fixed-time", {"name": "fixed-time", "label": "b",
                                        "params": {"offset_s": 5}}],
            demand_scales=[1.0, 1.2], duration_s=600)
    runs = c.runs()
    assert len(runs) == 1 * 2 * 2 * 2
    assert {r.controller for r in runs} == {"fixed-time", "b"}
    assert len({r.run_id for r in runs}) == len(runs)
    assert c.baseline == "fixed-time" and c.output == Path("runs/experiment")


def test_run_id_is_stable_and_ignores_label() -> None:
    a = cfg(controllers=[{"name": "fixed-time", "label": "x"}]).runs()
    b = cfg(controllers=[{"name": "fixed-time", "label": "y"}]).runs()
    assert [r.run_id for r in a] == [r.run_id for r in b]
    c = cfg(duration_s=1200).runs()
    assert {r.run_id for r in a}.isdisjoint(r.run_id for r in c)


@pytest.mark.parametrize("changes, needle", [
    ({"seedz": [1]}, "unknown key 'seedz'"),
    ({"controllers": [{"name": "fixed-time", "parms": {}}]}, "controllers[0]: unknown key 'parms'"),
    ({"controllers": ["fixed-time", "magic"]}, "controllers[1].name: unknown controller 'magic'"),
    ({"scenarios": ["atlantis"]}, "scenarios[0]: unknown scenario 'atlantis'"),
    ({"scenarios": ["nowhere/x.sumocfg"]}, "scenarios[0]: scenario file 'nowhere/x.sumocfg' not"),
    ({"seeds": [1, -2]}, "seeds[1]: expected an integer in 0..2147483647"),
    ({"seeds": [2147483648]}, "seeds[0]: expected an integer in 0..2147483647"),
    ({"duration_s": 1e30}, "duration_s: must be <= 604800"),
    ({"duration_s": float("nan")}, "duration_s: must be a finite number"),
    ({"demand_scales": [1e6]}, "demand_scales[0]: must be <= 10"),
    ({"seeds": []}, "seeds: expected a non-empty list"),
    ({"duration_s": 0}, "duration_s: must be > 0"),
    ({"duration_s": "long"}, "duration_s: expected a number"),
    ({"demand_scales": [1.0, -1]}, "demand_scales[1]: must be > 0"),
    ({"baseline": "webster-x"}, "baseline: 'webster-x' is not a controller label"),
    ({"controllers": ["fixed-time", "fixed-time"]}, "labels must be unique"),
    ({"controllers": [{"name": "fixed-time", "policy": "nope.zip"}]},
     "controllers[0].policy: policy file 'nope.zip' not found"),
    ({"los": {"G": 3}}, "los: unknown key 'G'"),
    ({"los": {"A": 40}}, "thresholds must increase"),
    ({"period": "rush_hour"}, "period: unknown period 'rush_hour' (known: "),
    ({"period": ["midday"]}, "period: unknown period ['midday']"),
    ({"duration_s": "scenarios"}, "duration_s: expected a number"),
])
def test_bad_config_names_the_key(changes, needle) -> None:
    with pytest.raises(ValueError) as err:
        cfg(**changes)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_key_and_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="missing key 'seeds'"):
        parse_config({"scenarios": ["westentor"], "controllers": ["fixed-time"]})
    with pytest.raises(ValueError, match="cannot read experiment config"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios: [westentor\n")
    with pytest.raises(ValueError, match=r"bad.yaml:2:1: invalid YAML"):
        load_config(bad)


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "net.sumocfg").write_text("<configuration/>")
    (tmp_path / "pol.zip").write_bytes(b"x")
    path = tmp_path / "c.yaml"
    path.write_text("scenarios: [net.sumocfg]\nseeds: [1]\ncontrollers:\n"
                    "  - {name: fixed-time, policy: pol.zip}\n")
    c = load_config(path)
    assert c.scenarios == (str(tmp_path / "net.sumocfg"),)
    assert c.controllers[0].params["policy"] == str(tmp_path / "pol.zip")
    assert c.source.startswith("scenarios:")


def test_demo_mode_skips_unregistered_controllers() -> None:
    c = parse_config({**BASE, "controllers": ["fixed-time", "no-such-controller"]},
                     skip_missing_controllers=True)
    assert [e.label for e in c.controllers] == ["fixed-time"]


@pytest.mark.parametrize("delay, unfinished, level", [
    (0.0, 0.0, "A"), (20.0, 0.0, "A"), (20.1, 0.0, "B"), (35.0, 0.5, "B"), (49.9, 0.0, "C"),
    (70.0, 0.0, "D"), (70.1, 0.0, "E"), (90.0, 0.09, "E"), (90.0, 0.10, "F"),
])
def test_los_levels(delay, unfinished, level) -> None:
    assert LosTable().rate(delay, unfinished) == level


def test_los_overrides() -> None:
    t = los_table({"A": 10, "f_unfinished_share": 0.5})
    assert t.rate(15) == "B" and t.rate(100, 0.4) == "E" and t.rate(100, 0.5) == "F"


def test_mean_ci_matches_t_interval() -> None:
    x = [10.0, 12.0, 15.0, 11.0]
    mean, half = mean_ci(x)
    lo, hi = sps.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=sps.sem(x))
    assert mean == pytest.approx(12.0)
    assert half == pytest.approx((hi - lo) / 2)
    assert math.isnan(mean_ci([3.0])[1])


def test_paired_comparison_pairs_by_seed() -> None:
    base = {1: 50.0, 2: 60.0, 3: 55.0, 4: 70.0}
    other = {4: 61.0, 3: 50.0, 2: 52.0, 1: 46.0, 9: 1.0}  # seed 9 has no partner
    p = paired(base, other)
    assert p.n == 4
    assert p.diff == pytest.approx(np.mean([-4, -8, -5, -9]))
    assert p.p_t == pytest.approx(sps.ttest_rel([46, 52, 50, 61], [50, 60, 55, 70]).pvalue)
    assert p.significant() and p.rel_change < 0
    same = paired(base, base)
    assert same.diff == 0 and same.p_t == 1.0 and not same.significant()


def test_period_is_part_of_the_runs_and_their_ids() -> None:
    plain, peak, midday = cfg().runs(), cfg(period="morning_peak").runs(), \
        cfg(period="midday").runs()
    assert {r.period for r in midday} == {"midday"} and {r.period for r in plain} == {None}
    # the basis period named or not: the same runs (ids of older sweeps stay valid)
    assert [r.run_id for r in plain] == [r.run_id for r in peak]
    assert {r.run_id for r in plain}.isdisjoint(r.run_id for r in midday)
    assert cfg(period="midday").to_dict()["period"] == "midday"
    assert "period" not in cfg().to_dict()


def test_period_is_refused_for_an_external_scenario(tmp_path: Path) -> None:
    (tmp_path / "net.sumocfg").write_text("<configuration/>")
    with pytest.raises(ValueError, match="period: applies to registered Hamm scenarios only"):
        parse_config({**BASE, "scenarios": [str(tmp_path / "net.sumocfg")],
                      "period": "midday"})


def test_duration_scenario_means_each_scenarios_own_length() -> None:
    runs = cfg(duration_s="scenario").runs()
    assert {r.duration_s for r in runs} == {None}
    assert {r.run_id for r in runs}.isdisjoint(r.run_id for r in cfg().runs())


def test_label_entry_parses_the_scripts_controller_labels() -> None:
    assert label_entry("sotl:theta=20;mu=3") == {"name": "sotl", "label": "sotl:theta=20;mu=3",
                                                 "params": {"theta": "20", "mu": "3"}}
    assert label_entry("actuated") == {"name": "actuated", "label": "actuated", "params": {}}
    with pytest.raises(ValueError, match="expected KEY=VALUE, got 'theta'"):
        label_entry("sotl:theta")


def test_run_record_round_trips_and_reads_metrics_and_counters() -> None:
    spec = cfg(period="midday").runs()[0]
    rec = RunRecord(run_id=spec.run_id, **spec.to_dict(), metrics={"mean_delay_s": 41.5},
                    safety_violations=2, approaches={"j": {"n": {
                        "vehicles": 3, "delay_sum_s": 30.0, "unfinished": 1}}})
    data = rec.to_dict()
    assert record_problem(data, spec.run_id) is None
    assert RunRecord.from_dict(data) == rec
    assert rec.value("mean_delay_s") == 41.5 and rec.value("safety_violations") == 2.0
    assert math.isnan(rec.value("no_such_metric"))
    assert rec.unsafe and not RunRecord.from_dict(
        {**data, "safety_violations_source": "SUMO's program, not ampel"}).unsafe
    row = rec.row()
    assert row["mean_delay_s"] == 41.5 and row["period"] == "midday"
    assert "approaches" not in row and row["params"] == "{}"
    missing = {k: v for k, v in data.items() if k != "controller_name"}
    assert "missing controller_name" in (record_problem(missing, spec.run_id) or "")
