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
