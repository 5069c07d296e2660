"""Binding a junction to a register map, and encoding/decoding register images.

A :class:`JunctionBinding` puts the junction's signal groups (signal-model order) and
detector loops (per approach lane: stop line, then upstream) into the profile's slots. A
:class:`FieldSnapshot` is one validated read of the controller's status registers.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hil.registermap import (
    CAMERA_PROFILE,
    MAX_READ,
    BlockSpec,
    DecodeError,
    FieldSpec,
    RegisterMap,
)
from scenarios.sensing import CameraReading
from signals import Colour, SignalModel
from signals.errors import ConfigError

if TYPE_CHECKING:
    from scenarios.scenario import Junction

__all__ = [
    "COLOUR_STATE",
    "CameraMismatch",
    "DetectorValue",
    "FieldSnapshot",
    "JunctionBinding",
    "JunctionMismatch",
    "camera_row",
    "decode_camera",
    "decode_cameras",
    "decode_detectors",
    "decode_status",
    "plan_reads",
    "to_raw",
]

class JunctionMismatch(DecodeError):
    """The field controller describes another junction than the one bound here."""


class CameraMismatch(JunctionMismatch):
    """The field controller has no (or other) camera inputs than the junction's lanes need."""


#: group_state code names of the four sequencer colours
COLOUR_STATE: dict[Colour, str] = {
    Colour.RED: "red",
    Colour.RED_AMBER: "red_amber",
    Colour.GREEN: "green",
    Colour.AMBER: "amber",
}
STATE_COLOUR: dict[str, Colour] = {v: k for k, v in COLOUR_STATE.items()}


@dataclass(frozen=True)
class JunctionBinding:
    """Which slot of the register map carries which signal group and detector loop.

    Attributes:
        regmap: the profile.
        model: the junction's signal model (group slots follow its order).
        lanes: detected approach lanes; loop slot ``2k`` is the stop-line loop of lane
            ``k``, slot ``2k+1`` its upstream loop, camera slot ``k`` its camera.
        cameras: whether this side reads (adapter) or feeds (bridge) camera values: the
            ``camera`` sensing profile. Needs a profile with camera registers.
    """

    regmap: RegisterMap
    model: SignalModel
    lanes: tuple[str, ...]
    cameras: bool = False

    def __post_init__(self) -> None:
        groups = self.regmap.inputs.blocks["groups"]
        detectors = self.regmap.inputs.blocks["detectors"]
        if self.group_count > groups.count:
            raise ConfigError(f"profile {self.regmap.profile} has {groups.count} group slots, "
                              f"the junction has {self.group_count} signal groups")
        if self.detector_count > detectors.count:
            raise ConfigError(f"profile {self.regmap.profile} has {detectors.count} detector "
                              f"slots, the junction has {self.detector_count} loops")
        inputs = self.regmap.holding.blocks.get("detector_inputs")
        if inputs is not None and self.detector_count > inputs.count:
            raise ConfigError(f"profile {self.regmap.profile} has {inputs.count} detector input "
                              f"slots, the junction has {self.detector_count} loops")
        cams = self.regmap.inputs.blocks.get("cameras")
        if self.cameras and cams is None:
            raise ConfigError(f"profile {self.regmap.profile} has no camera registers "
                              "(input block cameras): the camera sensing profile needs a camera "
                              f"profile such as --profile hil/profiles/{CAMERA_PROFILE.name}")
        for block in (cams, self.regmap.holding.blocks.get("camera_inputs")):
            if block is not None and len(self.lanes) > block.count:
                raise ConfigError(f"profile {self.regmap.profile} has {block.count} slots in "
                                  f"{block.name}, the junction has {len(self.lanes)} detected "
                                  "lanes")
        stage_field = self.regmap.holding.fields["requested_stage"]
        if self.stage_count - 1 > stage_field.max:
            raise ConfigError(f"profile {self.regmap.profile}: requested_stage allows at most "
                              f"{stage_field.max + 1} stages, the junction has {self.stage_count}")

    @classmethod
    def for_junction(cls, regmap: RegisterMap, junction: Junction) -> JunctionBinding:
        """Bind a scenario junction (``scenarios.scenario.Junction``)."""
        layout = junction.layout
        lanes = tuple(d.lane for d in junction.detectors)
        cameras = any(d.camera is not None for d in junction.detectors)
        return cls(regmap=regmap, model=layout.model, lanes=lanes, cameras=cameras)

    @property
    def junction_id(self) -> int:
        """CRC-32 of the junction's description (groups and kinds, stages, loops): what
        the field controller publishes so that a client of another junction is refused."""
        m = self.model
        text = "|".join([",".join(f"{g.name}:{g.kind.value}" for g in m.groups),
                         ";".join(f"{st.name}={'+'.join(sorted(st.green))}" for st in m.stages),
                         str(self.detector_count)])
        return zlib.crc32(text.encode()) & 0xFFFFFFFF

    @property
    def group_count(self) -> int:
        """Number of signal groups."""
        return len(self.model.groups)

    @property
    def stage_count(self) -> int:
        """Number of stages."""
        return len(self.model.stages)

    @property
    def detector_count(self) -> int:
        """Number of detector loops (two per lane)."""
        return 2 * len(self.lanes)

    @property
    def camera_count(self) -> int:
        """Camera slots a field controller serving this profile publishes (0: none)."""
        return len(self.lanes) if "cameras" in self.regmap.inputs.blocks else 0

    def status_ranges(self) -> list[tuple[int, int]]:
        """Address ranges ``[start, end)`` of the header and the used group slots."""
        first, last = self.regmap.inputs.scalar_span()
        groups = self.regmap.inputs.blocks["groups"]
        return [(first, last), (groups.address, groups.end(self.group_count))]

    def detector_ranges(self) -> list[tuple[int, int]]:
        """Address range of the used detector slots."""
        det = self.regmap.inputs.blocks["detectors"]
        return [(det.address, det.end(self.detector_count))]

    def camera_ranges(self) -> list[tuple[int, int]]:
        """Address range of the used camera slots (empty without camera registers)."""
        cams = self.regmap.inputs.blocks.get("cameras")
        return [(cams.address, cams.end(len(self.lanes)))] if cams is not None else []


def plan_reads(ranges: Iterable[tuple[int, int]], limit: int = MAX_READ) -> list[tuple[int, int]]:
    """Merge ``[start, end)`` ranges into as few ``(start, count)`` reads of ``limit`` as fit."""
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and end - merged[-1][0] <= limit and start <= merged[-1][1] + limit:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    reads = []
    for start, end in merged:
        while start < end:
            count = min(limit, end - start)
            reads.append((start, count))
            start += count
    return reads


class RegisterImage:
    """Register words by protocol address, filled from one or more reads."""

    def __init__(self) -> None:
        self.words: dict[int, int] = {}

    def put(self, start: int, values: Iterable[int]) -> None:
        """Store words read from ``start`` on."""
        for i, value in enumerate(values):
            self.words[start + i] = int(value)

    def raw(self, regmap: RegisterMap, spec: FieldSpec, base: int = 0) -> int:
        """Decode ``spec`` at ``base + spec.address`` (DecodeError when invalid or missing)."""
        addr = base + spec.address
        try:
            words = [self.words[addr + i] for i in range(spec.words)]
        except KeyError:
            raise DecodeError(f"{spec.name}: register {addr} was not read") from None
        return regmap.decode(spec, words, 0)


@dataclass(frozen=True)
class DetectorValue:
    """One detector loop as read from the controller."""

    presence: bool
    count: int
    occupancy: float
    fault: bool


@dataclass(frozen=True)
class FieldSnapshot:
    """The controller's status registers, decoded and range-checked."""

    interface_version: int
    controller_heartbeat: int
    mode: str
    fault_bits: frozenset[str]
    last_accepted_seq: int
    reject_reason: str
    active_stage: int | None
    target_stage: int | None
    time_in_stage_s: float
    allowed: tuple[bool, ...]
    clock_s: float
    clock_raw: int
    group_states: tuple[str, ...]
    group_times_s: tuple[float, ...]
    owner_id: int = 0  # adapter session holding external control (0: none or not mapped)

    def colours(self) -> tuple[Colour | None, ...]:
        """Sequencer colours per group (None for dark / flashing)."""
        return tuple(STATE_COLOUR.get(s) for s in self.group_states)

    def greens(self) -> tuple[bool, ...]:
        """Whether each group shows green."""
        return tuple(s == "green" for s in self.group_states)


def conflicting_greens(model: SignalModel, greens: tuple[bool, ...]) -> list[tuple[str, str]]:
    """Pairs of conflicting groups that are green together (checked against the matrix)."""
    names = model.group_names
    on = [names[i] for i, g in enumerate(greens) if g]
    return [(a, b) for i, a in enumerate(on) for b in on[i + 1:] if model.conflicting(a, b)]


def _stage(binding: JunctionBinding, spec: FieldSpec, raw: int) -> int | None:
    if spec.none is not None and raw == spec.none:
        return None
    if raw >= binding.stage_count:
        raise DecodeError(f"{spec.name} = {raw} but the junction has {binding.stage_count} stages")
    return raw


def decode_status(binding: JunctionBinding, image: RegisterImage) -> FieldSnapshot:
    """Validate and decode header and group slots; DecodeError on anything implausible."""
    rm = binding.regmap
    f = rm.inputs.fields

    def get(name: str) -> int:
        return image.raw(rm, f[name])

    version = get("interface_version")
    if version != rm.map_version:
        raise DecodeError(f"interface_version = {version}, profile {rm.profile} expects "
                          f"{rm.map_version}")
    for name, expected in (("group_count", binding.group_count),
                           ("stage_count", binding.stage_count),
                           ("detector_count", binding.detector_count)):
        value = get(name)
        if value != expected:
            raise JunctionMismatch(f"{name} = {value}, the junction has {expected}: the "
                                   "controller runs another junction or scenario")
    if binding.cameras and "camera_count" in f:
        cams = get("camera_count")
        if cams != len(binding.lanes):
            raise CameraMismatch(f"camera_count = {cams}, the junction has {len(binding.lanes)} "
                                 "detected lanes: the controller does not serve a camera per "
                                 "lane (serve it with a camera profile)")
    if "junction_id" in f:
        jid = get("junction_id")
        if jid != binding.junction_id:
            raise JunctionMismatch(f"junction_id = {jid:#010x}, this junction's is "
                                   f"{binding.junction_id:#010x}: the controller runs another "
                                   "junction or scenario")
    fault_raw = get("fault_bits")
    faults = frozenset(n for n, bit in rm.codes["fault_bits"].items() if fault_raw >> bit & 1)
    allowed_raw = get("allowed_stages")
    if allowed_raw >> binding.stage_count:
        raise DecodeError(f"allowed_stages = {allowed_raw:#06x} names stages beyond "
                          f"{binding.stage_count}")
    groups: BlockSpec = rm.inputs.blocks["groups"]
    states, times = [], []
    for slot in range(binding.group_count):
        base = groups.slot_address(slot)
        states.append(rm.name_of("group_state", image.raw(rm, groups.fields["state"], base)))
        tspec = groups.fields["time_in_state"]
        times.append(image.raw(rm, tspec, base) * tspec.scale)
    clock_raw = get("clock")
    return FieldSnapshot(
        interface_version=version,
        controller_heartbeat=get("controller_heartbeat"),
        mode=rm.name_of("mode", get("mode")) or "",
        fault_bits=faults,
        last_accepted_seq=get("last_accepted_seq"),
        reject_reason=rm.name_of("reject_reason", get("reject_reason")) or "",
        active_stage=_stage(binding, f["active_stage"], get("active_stage")),
        target_stage=_stage(binding, f["target_stage"], get("target_stage")),
        time_in_stage_s=get("time_in_stage") * f["time_in_stage"].scale,
        allowed=tuple(bool(allowed_raw >> i & 1) for i in range(binding.stage_count)),
        clock_s=clock_raw * f["clock"].scale,
        clock_raw=clock_raw,
        group_states=tuple(s or "" for s in states),
        group_times_s=tuple(times),
        owner_id=get("owner_id") if "owner_id" in f else 0,
    )


def decode_detectors(binding: JunctionBinding, image: RegisterImage) -> tuple[DetectorValue, ...]:
    """Validate and decode the used detector slots."""
    rm = binding.regmap
    block = rm.inputs.blocks["detectors"]
    fs = block.fields
    out = []
    for slot in range(binding.detector_count):
        base = block.slot_address(slot)
        out.append(DetectorValue(
            presence=bool(image.raw(rm, fs["presence"], base)),
            count=image.raw(rm, fs["count"], base),
            occupancy=image.raw(rm, fs["occupancy"], base) * fs["occupancy"].scale,
            fault=bool(image.raw(rm, fs["fault"], base)),
        ))
    return tuple(out)


def decode_cameras(binding: JunctionBinding, image: RegisterImage) -> tuple[CameraReading, ...]:
    """Validate and decode the camera slot of every lane: a dropout (``valid`` 0) gives
    all three values None, an empty view (``speed`` = its none value) a None speed."""
    rm = binding.regmap
    block = rm.inputs.blocks["cameras"]
    return tuple(decode_camera(rm, block, image, slot) for slot in range(len(binding.lanes)))


def decode_camera(rm: RegisterMap, block: BlockSpec, image: RegisterImage,
                  slot: int) -> CameraReading:
    """One camera slot of ``block`` (``cameras`` or ``camera_inputs``); DecodeError when a
    value is out of range or was not read."""
    fs = block.fields
    base = block.slot_address(slot)
    raws = {name: image.raw(rm, spec, base) for name, spec in fs.items()}
    if not raws["valid"]:
        return CameraReading(None, None, None)
    speed = fs["speed"]
    return CameraReading(
        queue=raws["queue"] * fs["queue"].scale,
        approaching=raws["approaching"] * fs["approaching"].scale,
        speed_mps=None if raws["speed"] == speed.none else raws["speed"] * speed.scale)


def camera_row(block: BlockSpec, reading: CameraReading | None) -> dict[str, int]:
    """Raw register values of one camera slot of ``block`` (``cameras`` or
    ``camera_inputs``): values rounded to the field's scale and clipped to its range; no
    reading or a dropout gives ``valid`` 0."""
    fs = block.fields
    if reading is None or reading.queue is None or reading.approaching is None:
        return {"valid": 0, "queue": 0, "approaching": 0,
                "speed": _speed_none(fs["speed"])}
    speed = (_speed_none(fs["speed"]) if reading.speed_mps is None
             else to_raw(reading.speed_mps, fs["speed"]))
    return {"valid": 1, "queue": to_raw(reading.queue, fs["queue"]),
            "approaching": to_raw(reading.approaching, fs["approaching"]), "speed": speed}


def _speed_none(spec: FieldSpec) -> int:
    return spec.none if spec.none is not None else 0


def to_raw(value: float, spec: FieldSpec) -> int:
    """Engineering value -> raw register value: rounded to the scale, clipped to the range."""
    return max(spec.min, min(spec.max, int(round(value / spec.scale))))


def encode_fields(regmap: RegisterMap, values: Mapping[FieldSpec, int], base: int = 0
                  ) -> dict[int, int]:
    """Words by address for raw field values (``base`` added to block field offsets)."""
    words: dict[int, int] = {}
    for spec, raw in values.items():
        for i, w in enumerate(regmap.encode(spec, raw)):
            words[base + spec.address + i] = w
    return words
