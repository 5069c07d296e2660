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
    bad.write_text("name: x\ntitle: [unclosed\n")
    with pytest.raises(ValueError, match="invalid YAML") as err:
        load_spec(bad)
    # one line: file, line, column, problem (not PyYAML's 8-line report)
    assert str(err.value).startswith(f"{bad}:3:1: ") and "\n" not in str(err.value)


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


# issue 14: every number checked (finite, in range), names and netconvert options safe
@pytest.mark.parametrize("old, new, message", [
    ("greens: {S1_north_south: 34,", "greens: {S1_north_south: .nan,",
     "plan morning_peak.greens.S1_north_south: must be a finite number"),
    ("truck_share: 0.05", "truck_share: 5", "demand.truck_share: must be <= 1"),
    ("  duration_s: 3600", "  duration_s: -3600", "demand.duration_s: must be > 0"),
    ("  begin_s: 0", "  begin_s: -100", "demand.begin_s: must be >= 0"),
    ("upstream_distance_m: 35.0", "upstream_distance_m: 5000", "upstream_distance_m: must be <="),
    ("stopline_offset_m: 2.0", "stopline_offset_m: -10", "stopline_offset_m: must be >= 0"),
    ("[north_in, south_out, 360]", "[north_in, south_out, 1.0e7]",
     "flow north_in->south_out: must be <="),
    ("[north_in, south_out, 360]", "[north_in, south_out, fast]",
     "flow north_in->south_out: expected a number, got 'fast'"),
    ("K1: {kind: vehicle, speed_kmh: 50,", "K1: {kind: vehicle, amber_s: 5, speed_kmh: 50,",
     "group K1: unknown key.*amber_s"),
    ("name: westentor", "name: ../../escape", "scenario name '../../escape' must be"),
    ('netconvert_options: ["--crossings.guess",',
     'netconvert_options: ["--plain-output-prefix", "/tmp/x", "--crossings.guess",',
     "netconvert option '--plain-output-prefix' is not allowed"),
    ('netconvert_options: ["--crossings.guess",', 'netconvert_options: ["-o", "/tmp/x.net.xml",',
     "netconvert option '-o' is not allowed"),
])
def test_bad_values_are_refused_naming_the_key(tmp_path: Path, old: str, new: str,
                                               message: str) -> None:
    text = WESTENTOR.read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "scenario.yaml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ValueError, match=message) as err:
        load_spec(bad)
    assert "\n" not in str(err.value)


def test_groups_as_a_list_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "scenario.yaml"
    bad.write_text(WESTENTOR.read_text(encoding="utf-8").replace(
        "      K1: {kind: vehicle", "      - K1: {kind: vehicle", 1).replace(
        "    groups:\n", "    groups:\n", 1), encoding="utf-8")
    text = bad.read_text(encoding="utf-8").split("\n")
    # turn the whole groups mapping into a list
    start = next(i for i, line in enumerate(text) if line.strip() == "groups:")
    i = start + 1
    while text[i].startswith("      "):
        if not text[i].lstrip().startswith(("-", "#")):
            text[i] = "      - " + text[i].lstrip()
        i += 1
    bad.write_text("\n".join(text), encoding="utf-8")
    with pytest.raises(ValueError, match="'groups' must map group names"):
        load_spec(bad)


@pytest.mark.parametrize("edit", [
    lambda d: d["demand"].update(vehicles=5),
    lambda d: d["demand"].update(arms=[["only_one"]]),
    lambda d: d["junctions"]["westentor"].update(stages=7),
    lambda d: d["junctions"]["westentor"]["groups"]["K1"].update(movements=[3]),
    lambda d: d.update(sources=["nodes.nod.xml"]),
])
def test_wrong_shapes_are_one_value_error(tmp_path: Path, edit) -> None:
    import yaml

    data = yaml.safe_load(WESTENTOR.read_text(encoding="utf-8"))
    edit(data)
    bad = tmp_path / "scenario.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ValueError) as err:
        load_spec(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
