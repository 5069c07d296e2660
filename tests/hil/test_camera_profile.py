"""The camera register profile ``ampel-camera-v1``: loading, the codec round trip of the
camera block, clear errors for missing or invalid camera registers."""

from __future__ import annotations

import copy
import math
import random

import pytest
import yaml

from hil.codec import RegisterImage, camera_row, decode_camera
from hil.registermap import (
    CAMERA_PROFILE,
    DEFAULT_PROFILE,
    DecodeError,
    RegisterMap,
    load_register_map,
    parse_register_map,
)
from scenarios.sensing import CameraReading
from signals.errors import ConfigError


@pytest.fixture(scope="module")
def camera_map() -> RegisterMap:
    return load_register_map(CAMERA_PROFILE)


@pytest.fixture(scope="module")
def camera_doc() -> dict:
    return yaml.safe_load(CAMERA_PROFILE.read_text(encoding="utf-8"))


def test_camera_profile_is_ampel_v1_plus_cameras(camera_map: RegisterMap) -> None:
    base = load_register_map(DEFAULT_PROFILE)
    assert camera_map.profile == "ampel-camera-v1"
    assert camera_map.map_version == base.map_version  # a loop-only adapter still talks to it
    assert camera_map.codes == base.codes
    for mine, theirs in ((camera_map.inputs, base.inputs), (camera_map.holding, base.holding)):
        for name, spec in theirs.fields.items():
            assert mine.fields[name] == spec, name
        for name, block in theirs.blocks.items():
            assert mine.blocks[name] == block, name
    assert "camera_count" not in base.inputs.fields and "cameras" not in base.inputs.blocks
    cams = camera_map.inputs.blocks["cameras"]
    assert set(cams.fields) == {"valid", "queue", "approaching", "speed"}
    assert cams.count >= base.inputs.blocks["detectors"].count // 2  # a slot per lane
    inputs = camera_map.holding.blocks["camera_inputs"].fields
    for name, spec in cams.fields.items():  # the bridge feeds what the adapter reads
        other = inputs[name]
        assert (other.address, other.scale, other.max, other.none) == \
            (spec.address, spec.scale, spec.max, spec.none)


def _round_trip(rm: RegisterMap, block_name: str, reading: CameraReading | None
                ) -> CameraReading:
    block = (rm.inputs.blocks.get(block_name) or rm.holding.blocks[block_name])
    row = camera_row(block, reading)
    image = RegisterImage()
    base = block.slot_address(3)
    for name, raw in row.items():
        spec = block.fields[name]
        image.put(base + spec.address, rm.encode(spec, raw))
    return decode_camera(rm, block, image, 3)


@pytest.mark.parametrize("block_name", ["cameras", "camera_inputs"])
def test_camera_block_round_trip_within_resolution(camera_map: RegisterMap,
                                                   block_name: str) -> None:
    fs = (camera_map.inputs.blocks.get(block_name)
          or camera_map.holding.blocks[block_name]).fields
    rng = random.Random(7)
    cases = [CameraReading(0.0, 0.0, None), CameraReading(12.0, 3.0, 4.25),
             CameraReading(0.004, 0.006, 0.0)]
    cases += [CameraReading(rng.uniform(0, 600), rng.uniform(0, 600),
                            rng.choice([None, rng.uniform(0, 60)])) for _ in range(500)]
    for sent in cases:
        got = _round_trip(camera_map, block_name, sent)
        assert got.queue is not None and got.approaching is not None
        assert sent.queue is not None and sent.approaching is not None
        assert abs(got.queue - sent.queue) <= fs["queue"].scale / 2 + 1e-9, sent
        assert abs(got.approaching - sent.approaching) <= fs["approaching"].scale / 2 + 1e-9
        if sent.speed_mps is None:
            assert got.speed_mps is None
        else:
            assert got.speed_mps is not None
            assert abs(got.speed_mps - sent.speed_mps) <= fs["speed"].scale / 2 + 1e-9
    # whole vehicle counts (a camera without noise) come back exactly
    for n in range(0, 70):
        got = _round_trip(camera_map, block_name, CameraReading(float(n), float(n // 2), None))
        assert (got.queue, got.approaching) == (float(n), float(n // 2))


def test_dropout_and_saturation(camera_map: RegisterMap) -> None:
    for lost in (None, CameraReading(None, None, None)):
        assert _round_trip(camera_map, "cameras", lost) == CameraReading(None, None, None)
    top = camera_map.inputs.blocks["cameras"].fields["queue"]
    got = _round_trip(camera_map, "cameras", CameraReading(1e6, 1.0, 1e6))
    assert got.queue == pytest.approx(top.max * top.scale)  # clipped, not wrapped
    assert got.speed_mps is not None and got.speed_mps < 700


@pytest.mark.parametrize(("field", "raw", "message"), [
    ("valid", 2, "cameras.valid = 2 outside 0..1"),
    ("queue", 65535, "cameras.queue = 65535 outside 0..65534"),
])
def test_invalid_camera_values_are_decode_errors(camera_map: RegisterMap, field: str, raw: int,
                                                 message: str) -> None:
    block = camera_map.inputs.blocks["cameras"]
    image = RegisterImage()
    for name, value in camera_row(block, CameraReading(1.0, 2.0, 3.0)).items():
        image.put(block.address + block.fields[name].address, [value])
    image.put(block.address + block.fields[field].address, [raw])
    with pytest.raises(DecodeError, match=message):
        decode_camera(camera_map, block, image, 0)
    missing = RegisterImage()
    with pytest.raises(DecodeError, match="was not read"):
        decode_camera(camera_map, block, missing, 0)


def _without(doc: dict, *path: str) -> dict:
    out = copy.deepcopy(doc)
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


def _with(doc: dict, value: object, *path: str) -> dict:
    out = copy.deepcopy(doc)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: _without(d, "input_registers", "camera_count"),
     "camera registers come together: camera_count missing"),
    (lambda d: _without(d, "input_registers", "cameras"),
     "camera registers come together: the cameras block missing"),
    (lambda d: _without(_without(d, "input_registers", "cameras"), "input_registers",
                        "camera_count"),
     "holding_registers.camera_inputs needs the input block cameras"),
    (lambda d: _with(d, {"offset": 0, "max": 2}, "input_registers", "cameras", "fields",
                     "valid"), "input_registers.cameras.fields.valid must be a flag"),
    (lambda d: _with(d, {"offset": 3, "scale": 0.01}, "holding_registers", "camera_inputs",
                     "fields", "speed"),
     "holding_registers.camera_inputs.fields.speed needs a none value"),
    (lambda d: _without(d, "input_registers", "cameras", "fields", "approaching"),
     "input_registers.cameras.fields: missing approaching"),
    (lambda d: _with(d, 300, "input_registers", "cameras", "address"), "overlaps"),
])
def test_invalid_camera_registers_give_one_clear_line(camera_doc: dict, change,
                                                      message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_register_map(change(camera_doc), "cam.yaml")
    text = str(err.value)
    assert message in text and "\n" not in text and text.startswith("register map cam.yaml")


def test_scales_in_the_profile_are_what_its_header_states(camera_map: RegisterMap) -> None:
    """The header comment promises 0.01 vehicle and 0.01 m/s; keep file and text together."""
    fs = camera_map.inputs.blocks["cameras"].fields
    assert math.isclose(fs["queue"].scale, 0.01) and math.isclose(fs["speed"].scale, 0.01)
    assert fs["speed"].none == 65535
    assert "0.01 vehicles" in CAMERA_PROFILE.read_text(encoding="utf-8")
