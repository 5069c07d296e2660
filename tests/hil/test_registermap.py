"""Register map profiles: the default loads, bad files give one clear error line."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from hil.codec import JunctionBinding, RegisterImage, decode_status, plan_reads
from hil.registermap import (
    DEFAULT_PROFILE,
    DecodeError,
    load_register_map,
    parse_register_map,
)


@pytest.fixture(scope="module")
def doc() -> dict:
    return yaml.safe_load(DEFAULT_PROFILE.read_text(encoding="utf-8"))


def test_default_profile_loads_with_every_issue_field() -> None:
    rm = load_register_map()
    assert rm.profile == "ampel-v1" and rm.map_version == 1
    for name in ("interface_version", "controller_heartbeat", "mode", "fault_bits",
                 "last_accepted_seq", "reject_reason", "active_stage", "time_in_stage"):
        assert rm.inputs.has(name)
    assert set(rm.inputs.blocks["groups"].fields) == {"state", "time_in_state"}
    assert set(rm.inputs.blocks["detectors"].fields) == {"presence", "count", "occupancy",
                                                         "fault"}
    for name in ("adapter_heartbeat", "requested_mode", "command_seq", "requested_stage", "hold",
                 "force_off"):
        assert rm.holding.has(name)
    assert rm.code("mode", "external") != rm.code("mode", "local")
    assert rm.name_of("group_state", rm.code("group_state", "green")) == "green"


def _mutate(doc: dict, path: str, value: object) -> dict:
    out = copy.deepcopy(doc)
    node = out
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return out


_DELETE = object()


@pytest.mark.parametrize(("path", "value", "message"), [
    ("holding_registers.hold.address", 2, "holding_registers: command_seq (2..2) overlaps hold"),
    ("input_registers.groups.address", 100, "overlaps"),
    ("input_registers.mode.address", 70000, "input_registers.mode.address = 70000 outside"),
    ("input_registers.detectors.count", 0, "input_registers.detectors.count = 0 outside 1..256"),
    ("input_registers.clock.words", 3, "input_registers.clock.words = 3 outside 1..2"),
    ("input_registers.color", {"address": 99}, "input_registers: unknown field(s) color"),
    ("input_registers.mode.adress", 5, "input_registers.mode: unknown key(s) adress"),
    ("holding_registers.command_seq", _DELETE, "required field(s) missing: command_seq"),
    ("codes.mode.external", 1, "codes.mode: external and local share value 1"),
    ("codes.group_state.purple", 9, "codes.group_state: unknown name(s) purple"),
    ("input_registers.mode.enum", "colours", "unknown code table 'colours'"),
    ("input_registers.active_stage.none", 3, "none value 3 lies inside 0..15"),
    ("map_version", "one", "map_version must be an integer"),
])
def test_invalid_profiles_give_one_clear_line(doc: dict, path: str, value: object,
                                              message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_register_map(_mutate(doc, path, value), "test.yaml")
    text = str(err.value)
    assert message in text and "\n" not in text and text.startswith("register map test.yaml")


def test_unreadable_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_register_map(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("profile: [unclosed\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_register_map(bad)


def test_user_profile_with_other_addresses_round_trips(doc: dict, tmp_path: Path) -> None:
    moved = _mutate(doc, "input_registers.groups.address", 1000)
    moved["codes"]["group_state"] = {"red": 10, "red_amber": 11, "green": 12, "amber": 13}
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(moved), encoding="utf-8")
    rm = load_register_map(path)
    assert rm.inputs.blocks["groups"].slot_address(2) == 1004
    assert rm.code("group_state", "green") == 12


def test_plan_reads_respects_the_modbus_limit() -> None:
    assert plan_reads([(0, 15), (32, 64)]) == [(0, 64)]
    assert plan_reads([(0, 300)]) == [(0, 125), (125, 125), (250, 50)]
    assert plan_reads([(0, 10), (500, 510)]) == [(0, 10), (500, 10)]


@pytest.mark.slow
def test_decode_rejects_garbage(westentor) -> None:
    rm = load_register_map()
    binding = JunctionBinding.for_junction(rm, westentor.junctions[0])
    from controllers.registry import controller_factory
    from hil.field import VirtualFieldController

    ctrl = VirtualFieldController(binding, controller_factory("fixed-time")(
        westentor.junctions[0], westentor), "westentor")
    for _ in range(5):
        ctrl.tick({})
    words = ctrl.input_words()
    image = RegisterImage()
    image.words.update(words)
    snap = decode_status(binding, image)
    assert snap.mode == "local" and snap.clock_s == pytest.approx(5.0)
    assert len(snap.group_states) == binding.group_count
    groups = rm.inputs.blocks["groups"]
    for addr, value, message in [
        (rm.inputs.fields["mode"].address, 77, "mode = 77 is not a mode code"),
        (groups.slot_address(3), 9, "groups.state = 9 is not a group_state code"),
        (rm.inputs.fields["active_stage"].address, 9, "active_stage = 9 but the junction has 4"),
        (rm.inputs.fields["interface_version"].address, 2, "interface_version = 2"),
        (rm.inputs.fields["group_count"].address, 5, "group_count = 5, the junction has 16"),
        (rm.inputs.fields["fault_bits"].address, 0x8000, "sets undefined bits"),
    ]:
        bad = RegisterImage()
        bad.words.update(words)
        bad.words[addr] = value
        with pytest.raises(DecodeError, match=message):
            decode_status(binding, bad)
