"""Scenario files: validation of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.registry import find_spec, registered
from scenarios.spec import load_spec

WESTENTOR = Path(__file__).resolve().parents[2] / "scenarios/hamm/westentor/scenario.yaml"


def test_registry_lists_westentor() -> None:
    assert "westentor" in [e.name for e in registered()]


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown scenario 'nowhere'.*westentor"):
        find_spec("nowhere")


def test_malformed_yaml_is_a_value_error(tmp_path: Path) -> None:
    bad = tmp_path / "scenario.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ValueError, match="cannot read scenario file"):
        load_spec(bad)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    bad = tmp_path / "scenario.yaml"
    bad.write_text(WESTENTOR.read_text() + "\nbogus: 1\n")
    with pytest.raises(ValueError, match="unknown key.*bogus"):
        load_spec(bad)


def test_unknown_group_kind(tmp_path: Path) -> None:
    bad = tmp_path / "scenario.yaml"
    bad.write_text(WESTENTOR.read_text().replace("K1: {kind: vehicle", "K1: {kind: tram"))
    with pytest.raises(ValueError, match="group K1 has unknown kind 'tram'"):
        load_spec(bad)


def test_westentor_spec_is_complete() -> None:
    spec = load_spec(WESTENTOR)
    kinds = {g.kind.value for g in spec.junctions[0].groups}
    assert kinds == {"vehicle", "bicycle", "pedestrian"}
    assert spec.demand.duration_s == 3600
    assert spec.junctions[0].plans[0].name == "morning_peak"
