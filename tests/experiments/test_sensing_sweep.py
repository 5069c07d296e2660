"""Experiment configs sweep sensing profiles like demand scales (fast, no SUMO)."""

from __future__ import annotations

import pytest

from experiments.config import parse_config

BASE = {"scenarios": ["westentor"], "controllers": ["fixed-time"], "seeds": [1, 2]}


def test_sensing_is_swept_and_loop_run_ids_stay_as_before() -> None:
    plain = parse_config(BASE)
    swept = parse_config({**BASE, "sensing": ["loops", "camera"]})
    assert [r.sensing for r in plain.runs()] == ["loops", "loops"]
    runs = swept.runs()
    assert sorted(r.sensing for r in runs) == ["camera", "camera", "loops", "loops"]
    loops_ids = {r.run_id for r in runs if r.sensing == "loops"}
    assert loops_ids == {r.run_id for r in plain.runs()}
    assert loops_ids.isdisjoint(r.run_id for r in runs if r.sensing == "camera")
    assert swept.to_dict()["sensing"] == ["loops", "camera"]


@pytest.mark.parametrize("value", [["radar"], ["loops", "loops"], [], "camera"])
def test_bad_sensing_names_the_key(value) -> None:
    with pytest.raises(ValueError, match="sensing"):
        parse_config({**BASE, "sensing": value})


@pytest.mark.slow
def test_run_records_the_sensing_profile(tmp_path, capsys) -> None:
    import json

    from experiments.cli import main

    rc = main(["run", "--scenario", "westentor", "--controller", "actuated", "--duration", "60",
               "--sensing", "camera", "--camera-noise", "0.1", "--out", str(tmp_path),
               "--quiet"])
    assert rc == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["sensing"], summary["camera_noise"], summary["camera_dropout"]) == \
        ("camera", 0.1, 0.0)
    assert "__cam" in (tmp_path / "detectors.add.xml").read_text()
    rc = main(["run", "--scenario", "westentor", "--duration", "60", "--sensing", "camera",
               "--camera-dropout", "1.5", "--out", str(tmp_path / "bad"), "--quiet"])
    assert rc == 2 and "dropout" in capsys.readouterr().err


def test_sensing_options_are_swept_as_their_own_profile() -> None:
    noisy = "camera:noise=0.1,dropout=0.05"
    config = parse_config({**BASE, "sensing": ["camera", noisy]})
    runs = config.runs()
    assert sorted({r.sensing for r in runs}) == ["camera", noisy]
    assert len({r.run_id for r in runs}) == 4


@pytest.mark.parametrize("value", ["camera:noise", "camera:gain=2", "camera:noise=high",
                                   "camera:dropout=1.5", "radar:noise=0.1"])
def test_bad_sensing_options_name_the_key(value) -> None:
    with pytest.raises(ValueError, match=r"sensing\[0\]"):
        parse_config({**BASE, "sensing": [value]})


@pytest.mark.slow
def test_an_experiment_runs_a_noisy_camera(tmp_path) -> None:
    from experiments.backends import LocalBackend
    from experiments.sweep import run_all

    noisy = "camera:noise=0.2,dropout=0.5"
    config = parse_config({**BASE, "controllers": ["max-pressure"], "seeds": [1],
                           "sensing": ["camera", noisy], "duration_s": 300,
                           "output": str(tmp_path / "out")})
    records = {r.sensing: r for r in run_all(config.runs(), LocalBackend(1))}
    assert set(records) == {"camera", noisy}
    assert all(r.status == "ok" and r.safety_violations == 0 for r in records.values())
    # half the camera readings missing changes what max-pressure sees, so its decisions
    assert records[noisy].stage_changes != records["camera"].stage_changes


@pytest.mark.slow
def test_preflight_builds_controllers_under_profiles_with_options(ampel_cache) -> None:
    from experiments.sweep import preflight

    config = parse_config({**BASE, "controllers": ["actuated", "max-pressure"],
                           "sensing": ["loops", "camera:noise=0.1,dropout=0.05"]})
    assert [c.name for c in preflight(config).controllers] == ["actuated", "max-pressure"]
