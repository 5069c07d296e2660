"""The Modbus register map of a field controller profile, loaded from a versioned YAML file.

A profile names every register ampel reads (input registers, function code 4) and writes
(holding registers, function codes 3/6/16), the code tables of enumerations and bit
fields, and the per-slot layout of signal groups and detectors. Loading validates it:
unknown or missing fields, overlapping addresses and out-of-range values give one clear
:class:`~signals.errors.ConfigError` line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from signals.errors import ConfigError

__all__ = [
    "DEFAULT_PROFILE",
    "MAX_READ",
    "CAMERA_FIELDS",
    "CAMERA_PROFILE",
    "BlockSpec",
    "DecodeError",
    "FieldSpec",
    "RegisterMap",
    "RegisterTable",
    "load_register_map",
    "shipped_profiles",
]

#: the profile used when none is given
DEFAULT_PROFILE = Path(__file__).with_name("profiles") / "ampel-v1.yaml"
#: the shipped profile with camera inputs (ampel-v1 plus cameras)
CAMERA_PROFILE = Path(__file__).with_name("profiles") / "ampel-camera-v1.yaml"
#: Modbus limit of registers per read request
MAX_READ = 125
#: Modbus limit of registers per write request
MAX_WRITE = 123

_U16 = 0xFFFF
_U32 = 0xFFFFFFFF

#: required code tables and the names each must define
REQUIRED_CODES: dict[str, tuple[str, ...]] = {
    "mode": ("local", "external", "flashing", "fault"),
    "group_state": ("red", "red_amber", "green", "amber"),
    "fault_bits": ("watchdog", "conflict"),
    "reject_reason": ("none",),
}
OPTIONAL_CODES: dict[str, tuple[str, ...]] = {
    "mode": ("dark",),
    "group_state": ("dark", "flashing_amber"),
    "fault_bits": ("safety_guard", "detector", "config", "foreign_session"),
    "reject_reason": ("not_external", "unknown_stage", "invalid_mode", "hold_and_force_off",
                      "invalid_flag", "fault", "not_owner"),
}

# name -> required?
_INPUT_SCALARS = {name: True for name in (
    "interface_version", "controller_heartbeat", "mode", "fault_bits", "last_accepted_seq",
    "reject_reason", "active_stage", "target_stage", "time_in_stage", "allowed_stages", "clock",
    "group_count", "stage_count", "detector_count")} | {"owner_id": False, "junction_id": False,
                                                        "camera_count": False}
#: the fields of a camera slot (``cameras`` input block, ``camera_inputs`` holding block)
CAMERA_FIELDS = {"valid": True, "queue": True, "approaching": True, "speed": True}
_INPUT_BLOCKS = {
    "groups": (True, {"state": True, "time_in_state": True}),
    "detectors": (True, {"presence": True, "count": True, "occupancy": True, "fault": True}),
    "cameras": (False, CAMERA_FIELDS),
}
_HOLDING_SCALARS = {"adapter_heartbeat": True, "requested_mode": True, "command_seq": True,
                    "requested_stage": True, "hold": True, "force_off": True,
                    "bridge_ack": False, "owner_id": False}
_HOLDING_BLOCKS = {
    "detector_inputs": (False, {"presence": True, "count": True, "occupancy": True}),
    "camera_inputs": (False, CAMERA_FIELDS),
}
_FIELD_KEYS = {"address", "offset", "words", "scale", "min", "max", "enum", "bits", "none",
               "unit", "description"}
_BLOCK_KEYS = {"address", "count", "stride", "fields", "description"}
_TOP_KEYS = {"profile", "map_version", "device_id", "codes", "input_registers",
             "holding_registers", "description"}


class DecodeError(ValueError):
    """A register value read from the field is out of range or not a known code."""


@dataclass(frozen=True)
class FieldSpec:
    """One value of one or two registers.

    Attributes:
        name: field name (``block.field`` for block fields).
        address: protocol address (for block fields: offset within the slot).
        words: 1 (16 bit) or 2 (32 bit, high word first).
        scale: engineering value = raw * scale.
        min, max: allowed raw range.
        enum: code table the raw value must belong to.
        bits: code table naming the bits of a bit field.
        none: raw value meaning "no value".
    """

    name: str
    address: int
    words: int = 1
    scale: float = 1.0
    min: int = 0
    max: int = _U16
    enum: str | None = None
    bits: str | None = None
    none: int | None = None
    unit: str = ""
    description: str = ""


@dataclass(frozen=True)
class BlockSpec:
    """A repeated layout: ``count`` slots of ``stride`` registers from ``address``."""

    name: str
    address: int
    count: int
    stride: int
    fields: Mapping[str, FieldSpec]

    def slot_address(self, slot: int) -> int:
        """Protocol address of the first register of ``slot``."""
        if not 0 <= slot < self.count:
            raise ValueError(f"{self.name}: slot {slot} outside 0..{self.count - 1}")
        return self.address + slot * self.stride

    def end(self, slots: int | None = None) -> int:
        """One past the last address of the first ``slots`` slots (default: all)."""
        return self.address + (self.count if slots is None else slots) * self.stride


@dataclass(frozen=True)
class RegisterTable:
    """The scalar fields and blocks of one register table (input or holding)."""

    kind: str
    fields: Mapping[str, FieldSpec]
    blocks: Mapping[str, BlockSpec]

    def has(self, name: str) -> bool:
        """Whether the profile defines the scalar field ``name``."""
        return name in self.fields

    def scalar_span(self) -> tuple[int, int]:
        """(first address, one past the last) of the scalar fields."""
        first = min(f.address for f in self.fields.values())
        last = max(f.address + f.words for f in self.fields.values())
        return first, last


@dataclass(frozen=True)
class RegisterMap:
    """A validated controller profile. Use :func:`load_register_map` to create one."""

    profile: str
    map_version: int
    device_id: int
    codes: Mapping[str, Mapping[str, int]]
    inputs: RegisterTable
    holding: RegisterTable
    source: str = ""
    _names: Mapping[str, Mapping[int, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = {table: MappingProxyType({v: k for k, v in entries.items()})
                 for table, entries in self.codes.items()}
        object.__setattr__(self, "_names", MappingProxyType(names))

    def code(self, table: str, name: str) -> int:
        """Raw value of ``name`` in code table ``table``; ValueError if undefined."""
        try:
            return self.codes[table][name]
        except KeyError:
            raise ConfigError(f"profile {self.profile}: code {table}.{name} not defined") from None

    def has_code(self, table: str, name: str) -> bool:
        """Whether the profile defines code ``table.name``."""
        return name in self.codes.get(table, {})

    def name_of(self, table: str, value: int) -> str | None:
        """Name of raw ``value`` in ``table``, or None when it is not a known code."""
        return self._names.get(table, {}).get(value)

    # ----------------------------------------------------------------- decoding
    def decode(self, spec: FieldSpec, words: list[int] | tuple[int, ...], offset: int) -> int:
        """Raw value of ``spec`` from ``words`` (``offset`` = index of its first word).

        Raises DecodeError when the value is outside its range or not a known code.
        """
        if spec.words == 2:
            raw = (words[offset] << 16) | words[offset + 1]
        else:
            raw = words[offset]
        if spec.none is not None and raw == spec.none:
            return raw
        if not spec.min <= raw <= spec.max:
            raise DecodeError(f"{spec.name} = {raw} outside {spec.min}..{spec.max}")
        if spec.enum and self.name_of(spec.enum, raw) is None:
            raise DecodeError(f"{spec.name} = {raw} is not a {spec.enum} code")
        if spec.bits:
            known = 0
            for bit in self.codes[spec.bits].values():
                known |= 1 << bit
            if raw & ~known:
                raise DecodeError(f"{spec.name} = {raw:#06x} sets undefined bits")
        return raw

    @staticmethod
    def encode(spec: FieldSpec, raw: int) -> list[int]:
        """Register words of raw value ``raw`` (clipped to the field's width)."""
        raw = int(raw)
        if spec.words == 2:
            raw &= _U32
            return [(raw >> 16) & _U16, raw & _U16]
        return [raw & _U16]


def _fail(source: str, message: str) -> ConfigError:
    return ConfigError(f"register map {source}: {message}")


def _int(source: str, where: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(source, f"{where} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise _fail(source, f"{where} = {value} outside {lo}..{hi}")
    return value


def _mapping(source: str, where: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise _fail(source, f"{where} must be a mapping, got {type(value).__name__}")
    return value


def _codes(source: str, raw: Any) -> dict[str, dict[str, int]]:
    raw = _mapping(source, "codes", raw)
    unknown = sorted(set(raw) - set(REQUIRED_CODES))
    if unknown:
        raise _fail(source, f"unknown code table(s) {', '.join(unknown)} "
                    f"(known: {', '.join(REQUIRED_CODES)})")
    out: dict[str, dict[str, int]] = {}
    for table, required in REQUIRED_CODES.items():
        if table not in raw:
            raise _fail(source, f"codes.{table} missing")
        entries = _mapping(source, f"codes.{table}", raw[table])
        allowed = set(required) | set(OPTIONAL_CODES[table])
        extra = sorted(set(entries) - allowed)
        if extra:
            raise _fail(source, f"codes.{table}: unknown name(s) {', '.join(extra)} "
                        f"(known: {', '.join(sorted(allowed))})")
        missing = [n for n in required if n not in entries]
        if missing:
            raise _fail(source, f"codes.{table}: missing {', '.join(missing)}")
        hi = 15 if table == "fault_bits" else _U16
        values: dict[str, int] = {}
        seen: dict[int, str] = {}
        for name, value in entries.items():
            v = _int(source, f"codes.{table}.{name}", value, 0, hi)
            if v in seen:
                raise _fail(source, f"codes.{table}: {name} and {seen[v]} share value {v}")
            seen[v] = name
            values[name] = v
        out[table] = values
    return out


def _field(source: str, where: str, name: str, raw: Any, codes: Mapping[str, Mapping[str, int]],
           in_block: bool) -> FieldSpec:
    raw = _mapping(source, where, raw)
    extra = sorted(set(raw) - _FIELD_KEYS)
    if extra:
        raise _fail(source, f"{where}: unknown key(s) {', '.join(extra)} "
                    f"(known: {', '.join(sorted(_FIELD_KEYS))})")
    pos_key = "offset" if in_block else "address"
    if pos_key not in raw:
        raise _fail(source, f"{where}: '{pos_key}' missing")
    wrong = "address" if in_block else "offset"
    if wrong in raw:
        raise _fail(source, f"{where}: use '{pos_key}', not '{wrong}'")
    words = _int(source, f"{where}.words", raw.get("words", 1), 1, 2)
    top = _U32 if words == 2 else _U16
    address = _int(source, f"{where}.{pos_key}", raw[pos_key], 0, _U16)
    lo = _int(source, f"{where}.min", raw.get("min", 0), 0, top)
    hi = _int(source, f"{where}.max", raw.get("max", top), 0, top)
    if lo > hi:
        raise _fail(source, f"{where}: min {lo} > max {hi}")
    scale = raw.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not (
            math.isfinite(scale) and scale > 0):
        raise _fail(source, f"{where}.scale must be a positive number, got {scale!r}")
    none = raw.get("none")
    if none is not None:
        none = _int(source, f"{where}.none", none, 0, top)
        if lo <= none <= hi:
            raise _fail(source, f"{where}: none value {none} lies inside {lo}..{hi}")
    for key in ("enum", "bits"):
        table = raw.get(key)
        if table is not None and table not in codes:
            raise _fail(source, f"{where}.{key}: unknown code table {table!r}")
    if raw.get("enum") and raw.get("bits"):
        raise _fail(source, f"{where}: give enum or bits, not both")
    return FieldSpec(name=name, address=address, words=words, scale=float(scale), min=lo, max=hi,
                     enum=raw.get("enum"), bits=raw.get("bits"), none=none,
                     unit=str(raw.get("unit", "")), description=str(raw.get("description", "")))


def _table(source: str, kind: str, raw: Any, scalars: dict[str, bool],
           blocks: dict[str, tuple[bool, dict[str, bool]]],
           codes: Mapping[str, Mapping[str, int]]) -> RegisterTable:
    raw = _mapping(source, kind, raw)
    known = set(scalars) | set(blocks)
    extra = sorted(set(raw) - known)
    if extra:
        raise _fail(source, f"{kind}: unknown field(s) {', '.join(extra)} "
                    f"(known: {', '.join(sorted(known))})")
    missing = [n for n, req in scalars.items() if req and n not in raw]
    missing += [n for n, (req, _) in blocks.items() if req and n not in raw]
    if missing:
        raise _fail(source, f"{kind}: required field(s) missing: {', '.join(missing)}")
    fields = {name: _field(source, f"{kind}.{name}", name, raw[name], codes, False)
              for name in scalars if name in raw}
    out_blocks: dict[str, BlockSpec] = {}
    for name, (_req, members) in blocks.items():
        if name not in raw:
            continue
        where = f"{kind}.{name}"
        spec = _mapping(source, where, raw[name])
        extra = sorted(set(spec) - _BLOCK_KEYS)
        if extra:
            raise _fail(source, f"{where}: unknown key(s) {', '.join(extra)} "
                        f"(known: {', '.join(sorted(_BLOCK_KEYS))})")
        for key in ("address", "count", "fields"):
            if key not in spec:
                raise _fail(source, f"{where}: '{key}' missing")
        fraw = _mapping(source, f"{where}.fields", spec["fields"])
        extra = sorted(set(fraw) - set(members))
        if extra:
            raise _fail(source, f"{where}.fields: unknown field(s) {', '.join(extra)} "
                        f"(known: {', '.join(members)})")
        missing = [m for m, req in members.items() if req and m not in fraw]
        if missing:
            raise _fail(source, f"{where}.fields: missing {', '.join(missing)}")
        bfields = {m: _field(source, f"{where}.fields.{m}", f"{name}.{m}", fraw[m], codes, True)
                   for m in members if m in fraw}
        width = max(f.address + f.words for f in bfields.values())
        stride = _int(source, f"{where}.stride", spec.get("stride", width), 1, 256)
        if stride < width:
            raise _fail(source, f"{where}: stride {stride} is smaller than its fields ({width})")
        _check_overlaps(source, f"{where}.fields",
                        [(f.name, f.address, f.address + f.words) for f in bfields.values()])
        address = _int(source, f"{where}.address", spec["address"], 0, _U16)
        count = _int(source, f"{where}.count", spec["count"], 1, 256)
        if address + count * stride - 1 > _U16:
            raise _fail(source, f"{where}: {count} slots of {stride} from {address} pass 65535")
        out_blocks[name] = BlockSpec(name=name, address=address, count=count, stride=stride,
                                     fields=MappingProxyType(bfields))
    spans = [(f.name, f.address, f.address + f.words) for f in fields.values()]
    spans += [(b.name, b.address, b.end()) for b in out_blocks.values()]
    for f in fields.values():
        if f.address + f.words - 1 > _U16:
            raise _fail(source, f"{kind}.{f.name}: passes address 65535")
    _check_overlaps(source, kind, spans)
    return RegisterTable(kind=kind, fields=MappingProxyType(fields),
                         blocks=MappingProxyType(out_blocks))


def _check_overlaps(source: str, where: str, spans: list[tuple[str, int, int]]) -> None:
    ordered = sorted(spans, key=lambda s: (s[1], s[2]))
    for (a, a0, a1), (b, b0, b1) in zip(ordered, ordered[1:], strict=False):
        if b0 < a1:
            raise _fail(source, f"{where}: {a} ({a0}..{a1 - 1}) overlaps {b} ({b0}..{b1 - 1})")


def _check_cameras(source: str, inputs: RegisterTable, holding: RegisterTable) -> None:
    """Camera registers come as a set: the ``cameras`` block with ``camera_count``; the
    test-bench ``camera_inputs`` only with them; ``valid`` a 0/1 flag, ``speed`` with a
    ``none`` value (no vehicle in view)."""
    has_block, has_count = "cameras" in inputs.blocks, "camera_count" in inputs.fields
    if has_block != has_count:
        missing = "camera_count" if has_block else "the cameras block"
        raise _fail(source, f"input_registers: camera registers come together: {missing} "
                    "missing")
    if "camera_inputs" in holding.blocks and not has_block:
        raise _fail(source, "holding_registers.camera_inputs needs the input block cameras")
    for where, block in (("input_registers.cameras", inputs.blocks.get("cameras")),
                         ("holding_registers.camera_inputs", holding.blocks.get("camera_inputs"))):
        if block is None:
            continue
        if block.fields["valid"].max != 1:
            raise _fail(source, f"{where}.fields.valid must be a flag (max: 1)")
        if block.fields["speed"].none is None:
            raise _fail(source, f"{where}.fields.speed needs a none value (no vehicle in view)")


def parse_register_map(data: Any, source: str = "<data>") -> RegisterMap:
    """Validate a parsed profile document and build the :class:`RegisterMap`."""
    data = _mapping(source, "the document", data)
    extra = sorted(set(data) - _TOP_KEYS)
    if extra:
        raise _fail(source, f"unknown top-level key(s) {', '.join(extra)} "
                    f"(known: {', '.join(sorted(_TOP_KEYS))})")
    for key in ("profile", "map_version", "codes", "input_registers", "holding_registers"):
        if key not in data:
            raise _fail(source, f"'{key}' missing")
    profile = data["profile"]
    if not isinstance(profile, str) or not profile:
        raise _fail(source, "profile must be a non-empty string")
    version = _int(source, "map_version", data["map_version"], 1, _U16)
    device_id = _int(source, "device_id", data.get("device_id", 1), 0, 247)
    codes = _codes(source, data["codes"])
    inputs = _table(source, "input_registers", data["input_registers"], _INPUT_SCALARS,
                    _INPUT_BLOCKS, codes)
    holding = _table(source, "holding_registers", data["holding_registers"], _HOLDING_SCALARS,
                     _HOLDING_BLOCKS, codes)
    for name, table in (("mode", inputs.fields["mode"]),
                        ("mode", holding.fields["requested_mode"])):
        if table.enum != name:
            raise _fail(source, f"{table.name} must use enum: {name}")
    if inputs.fields["fault_bits"].bits != "fault_bits":
        raise _fail(source, "fault_bits must use bits: fault_bits")
    if inputs.fields["reject_reason"].enum != "reject_reason":
        raise _fail(source, "reject_reason must use enum: reject_reason")
    if inputs.blocks["groups"].fields["state"].enum != "group_state":
        raise _fail(source, "groups.state must use enum: group_state")
    _check_cameras(source, inputs, holding)
    frozen_codes = MappingProxyType({k: MappingProxyType(v) for k, v in codes.items()})
    return RegisterMap(profile=profile, map_version=version, device_id=device_id,
                       codes=frozen_codes, inputs=inputs, holding=holding, source=source)


def shipped_profiles() -> list[Path]:
    """The profile files shipped in ``hil/profiles/``, the default first."""
    return sorted(DEFAULT_PROFILE.parent.glob("*.yaml"),
                  key=lambda p: (p != DEFAULT_PROFILE, p.name))


def load_register_map(path: Path | str | None = None) -> RegisterMap:
    """Load and validate a profile file (YAML); the default profile when ``path`` is None."""
    path = Path(path) if path is not None else DEFAULT_PROFILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"register map {path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        raise ConfigError(f"register map {path}: not valid YAML{where}") from None
    return parse_register_map(data, str(path))
