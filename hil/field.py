"""The virtual field controller's logic, independent of Modbus.

It behaves like a signal controller in the field: it runs its own local fixed-time plan
through its own :class:`~signals.Sequencer` and :class:`~signals.SafetyGuard`, accepts
external stage requests only after several healthy adapter heartbeats, refuses illegal
requests with a reason code, and falls back to the local plan (raising the ``watchdog``
fault bit) when the heartbeat stops for longer than the watchdog time. A violation found by
its own guard puts it into ``fault`` mode (flashing amber), which only a restart clears.

Time: the controller advances in ticks of ``dt_s`` simulated seconds (:meth:`tick`); the
heartbeat watchdog runs on wall time (:meth:`poll`). The server decides when ticks happen.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from controllers.base import Controller
from hil.codec import (
    COLOUR_STATE,
    JunctionBinding,
    RegisterImage,
    camera_row,
    conflicting_greens,
    decode_camera,
    to_raw,
)
from hil.registermap import DecodeError, FieldSpec
from scenarios.observation import Observation
from scenarios.sensing import CameraReading
from signals import Colour, GroupKind, SafetyGuard, Sequencer
from signals.errors import ConfigError

__all__ = ["FieldConfig", "VirtualFieldController"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldConfig:
    """Timing of the virtual field controller.

    Attributes:
        dt_s: tick length in simulated seconds.
        watchdog_s: wall seconds without a heartbeat change before falling back to local.
        handshake_beats: heartbeat changes needed before external mode is granted.
    """

    dt_s: float = 1.0
    watchdog_s: float = 1.0
    handshake_beats: int = 3

    def __post_init__(self) -> None:
        if not self.dt_s > 0:
            raise ConfigError(f"tick length must be positive, got {self.dt_s}")
        if not self.watchdog_s > 0:
            raise ConfigError(f"watchdog must be positive, got {self.watchdog_s}")
        if self.handshake_beats < 1:
            raise ConfigError(f"handshake needs at least 1 heartbeat, got {self.handshake_beats}")


class VirtualFieldController:
    """A signal controller with a Modbus-style register interface (see module doc).

    Args:
        binding: junction and register map.
        local_plan: the controller of the local plan (fixed time).
        tls: junction name used in observations of the local plan.
        config: timing.
    """

    def __init__(self, binding: JunctionBinding, local_plan: Controller, tls: str,
                 config: FieldConfig | None = None) -> None:
        self.binding = binding
        self.config = config or FieldConfig()
        self.local_plan = local_plan
        self._tls = tls
        rm = binding.regmap
        self._rm = rm
        model = binding.model
        self.sequencer = Sequencer(model, dt=self.config.dt_s)
        self.guard = SafetyGuard(model, dt=self.config.dt_s)
        self.mode = "local"
        self.faults: set[str] = set()
        self.ticks = 0
        self.heartbeat = 0
        self.last_accepted_seq = 0
        self.reject_reason = "none"
        self._last_seen_seq: int | None = None
        self._ext_target: int | None = None
        self._hb_last: int | None = None
        self._hb_seen_at: float | None = None
        self._beats = 0
        n = binding.group_count
        self._states: tuple[Colour, ...] = self.sequencer.states
        self._since = [0] * n
        self._det_presence = [0] * binding.detector_count
        self._det_count = [0] * binding.detector_count
        self._det_occ = [0] * binding.detector_count
        self._det_fault = [0] * binding.detector_count
        # camera per lane, passed through from ``camera_inputs`` (None: dropout / not fed)
        self._cams: list[CameraReading | None] = [None] * binding.camera_count
        self.owner: int | None = None  # adapter session holding external control
        self._foreign: set[int] = set()  # other sessions refused while the owner holds it
        self.events: list[str] = []
        self.rejections = 0
        self._order = list(getattr(getattr(local_plan, "plan", None), "order", ())) or list(
            range(binding.stage_count))

    # ---------------------------------------------------------------- holding
    def _holding(self, words: Mapping[int, int], name: str) -> int | None:
        spec = self._rm.holding.fields.get(name)
        if spec is None:
            return None
        return _raw(words, spec, 0)

    @property
    def healthy_beats(self) -> int:
        """Heartbeat changes seen in a row, each within the watchdog time."""
        return self._beats

    def _owner_field(self, holding: Mapping[int, int]) -> int | None:
        """The session id in the holding registers (None when the profile has none)."""
        return self._holding(holding, "owner_id") if "owner_id" in self._rm.holding.fields \
            else None

    def _release(self) -> None:
        """External control ends: no owner, the foreign-session fault clears."""
        self.owner = None
        self._foreign.clear()
        self.faults.discard("foreign_session")

    def _check_owner(self, holding: Mapping[int, int]) -> bool:
        """False (and the refusal logged once per session) when the registers carry
        another session's id than the owner's: only one adapter commands at a time."""
        current = self._owner_field(holding)
        if self.mode != "external" or current is None or current == self.owner:
            return True
        if current not in self._foreign:
            self._foreign.add(current)
            self._event(f"refused a second adapter session (owner {current:#010x}): "
                        f"external control stays with owner {self.owner or 0:#010x}")
            log.warning("refused a second adapter session (owner %#010x); external control "
                        "stays with owner %#010x", current, self.owner or 0)
            self.rejections += 1
        if self._rm.has_code("fault_bits", "foreign_session"):
            self.faults.add("foreign_session")
        self.reject_reason = "not_owner" if self._rm.has_code("reject_reason", "not_owner") \
            else "none"
        return False

    def _event(self, text: str) -> None:
        self.events.append(f"t={self.ticks * self.config.dt_s:g} {text}")
        log.info("field controller: %s", text)

    # ------------------------------------------------------------------- poll
    def poll(self, now: float, holding: Mapping[int, int]) -> bool:
        """Watch the adapter heartbeat at wall time ``now`` and pass detector inputs through
        (live, as a controller's detector inputs are); True when a register changed."""
        before = (self._det_presence[:], self._det_count[:], self._det_occ[:], self._cams[:])
        self._read_detectors(holding)
        moved = before != (self._det_presence, self._det_count, self._det_occ, self._cams)
        return self._poll_modes(now, holding) or moved

    def _poll_modes(self, now: float, holding: Mapping[int, int]) -> bool:
        if self.mode == "external" and self._rm.name_of(
                "mode", self._holding(holding, "requested_mode") or 0) == "local" \
                and self._check_owner(holding):
            self.mode = "local"  # handing back never waits for the next tick
            self._ext_target = None
            self._release()
            self._event("local plan requested by the adapter")
            return True
        hb = self._holding(holding, "adapter_heartbeat")
        if self._hb_last is None:
            self._hb_last, self._hb_seen_at = hb, now
            return False
        if hb != self._hb_last:
            fresh = self._hb_seen_at is not None and now - self._hb_seen_at <= \
                self.config.watchdog_s
            self._beats = self._beats + 1 if fresh else 1
            self._hb_last, self._hb_seen_at = hb, now
            return False
        if self._hb_seen_at is not None and now - self._hb_seen_at > self.config.watchdog_s:
            self._beats = 0
            if self.mode == "external":
                self.mode = "local"
                self.faults.add("watchdog")
                self._ext_target = None
                self._release()
                self._event(f"watchdog: no adapter heartbeat for "
                            f"{now - self._hb_seen_at:.2f} s, back to the local plan")
                return True
        return False

    # ------------------------------------------------------------------- tick
    def tick(self, holding: Mapping[int, int]) -> None:
        """One controller tick: modes, commands, sequencer step, own safety checks."""
        if self.mode != "fault":
            self._update_mode(holding)
            self._read_command(holding)
        self._read_detectors(holding)
        time_s = self.ticks * self.config.dt_s
        seq = self.sequencer
        if self.mode == "fault":
            pass
        else:
            if self.mode == "external" and self._ext_target is not None:
                seq.request(self._ext_target)
            elif self.mode == "local":
                obs = Observation(junction=self._tls, time_s=time_s, stage=seq.current_stage,
                                  target_stage=seq.target_stage,
                                  time_in_stage_s=seq.time_in_stage_s,
                                  allowed=seq.allowed_stages(), lanes=())
                seq.request(self.local_plan.decide(obs).stage)
            states = seq.step()
            violations = self.guard.check(states)
            pairs = conflicting_greens(self.binding.model,
                                       tuple(c is Colour.GREEN for c in states))
            if violations or pairs:
                self.mode = "fault"
                self.faults.add("safety_guard" if self._rm.has_code("fault_bits", "safety_guard")
                                else "conflict")
                if pairs:
                    self.faults.add("conflict")
                first = violations[0].message if violations else f"conflicting greens {pairs}"
                self._event(f"own safety check failed ({first}): fault mode, flashing amber")
            else:
                for i, (old, new) in enumerate(zip(self._states, states, strict=True)):
                    if old is not new:
                        self._since[i] = self.ticks + 1
                self._states = states
        self.ticks += 1
        self.heartbeat = (self.heartbeat + 1) & 0xFFFF

    def _update_mode(self, holding: Mapping[int, int]) -> None:
        raw = self._holding(holding, "requested_mode") or 0
        requested = self._rm.name_of("mode", raw)
        if raw == 0 and requested is None:
            return  # nothing requested yet (registers start at 0)
        if requested not in ("local", "external"):
            self._reject("invalid_mode", f"requested mode {requested or raw} not accepted")
        elif requested == "external" and self.mode == "local":
            if self._beats >= self.config.handshake_beats:
                self.mode = "external"
                self.faults.discard("watchdog")
                self.reject_reason = "none"
                self._ext_target = None
                self.owner = self._owner_field(holding)
                who = f" to owner {self.owner:#010x}" if self.owner is not None else ""
                self._event(f"external control granted{who} after {self._beats} heartbeats")
        elif requested == "local" and self.mode == "external":
            if not self._check_owner(holding):
                return  # another session may not hand back the owner's control
            self.mode = "local"
            self._ext_target = None
            self._release()
            self._event("local plan requested by the adapter")

    def _reject(self, reason: str, text: str) -> None:
        if not self._rm.has_code("reject_reason", reason):
            reason = "none"
        if self.reject_reason != reason:
            self._event(f"rejected: {text}")
            self.rejections += 1
        self.reject_reason = reason

    def _read_command(self, holding: Mapping[int, int]) -> None:
        seq_no = self._holding(holding, "command_seq")
        if self._last_seen_seq is None:
            self._last_seen_seq = seq_no
            return
        if seq_no == self._last_seen_seq:
            return
        self._last_seen_seq = seq_no
        stage = self._holding(holding, "requested_stage")
        hold = self._holding(holding, "hold")
        force_off = self._holding(holding, "force_off")
        raw_mode = self._holding(holding, "requested_mode") or 0
        if raw_mode != 0 and self._rm.name_of("mode", raw_mode) not in ("local", "external"):
            self._reject("invalid_mode", f"command {seq_no}: requested mode {raw_mode}")
        elif self.mode != "external":
            self._reject("not_external", f"command {seq_no} while in {self.mode} mode")
        elif not self._check_owner(holding):
            return
        elif hold not in (0, 1) or force_off not in (0, 1):
            self._reject("invalid_flag", f"command {seq_no}: hold={hold} force_off={force_off}")
        elif hold and force_off:
            self._reject("hold_and_force_off", f"command {seq_no}: hold and force-off")
        elif not hold and not force_off and not 0 <= (stage or 0) < self.binding.stage_count:
            self._reject("unknown_stage", f"command {seq_no}: stage {stage} (junction has "
                         f"{self.binding.stage_count})")
        else:
            seq = self.sequencer
            here = seq.current_stage if seq.current_stage is not None else seq.target_stage
            if hold:
                target = here
            elif force_off:
                k = self._order.index(here) if here in self._order else -1
                target = self._order[(k + 1) % len(self._order)]
            else:
                target = stage
            self._ext_target = target
            self.last_accepted_seq = seq_no or 0
            self.reject_reason = "none"

    def _read_cameras(self, holding: Mapping[int, int]) -> bool:
        """Pass the camera inputs through; True when one is out of range (then that lane
        reads as a dropout)."""
        block = self._rm.holding.blocks.get("camera_inputs")
        if block is None or not self._cams:
            return False
        image = RegisterImage()
        end = block.end(len(self._cams))
        image.put(block.address, [holding.get(a, 0) for a in range(block.address, end)])
        bad = False
        for slot in range(len(self._cams)):
            try:
                self._cams[slot] = decode_camera(self._rm, block, image, slot)
            except DecodeError:
                self._cams[slot] = None
                bad = True
        return bad

    def _read_detectors(self, holding: Mapping[int, int]) -> None:
        any_fault = self._read_cameras(holding)
        block = self._rm.holding.blocks.get("detector_inputs")
        if block is None:
            self._set_detector_fault(any_fault)
            return
        fs = block.fields
        for slot in range(self.binding.detector_count):
            base = block.slot_address(slot)
            presence = _raw(holding, fs["presence"], base)
            count = _raw(holding, fs["count"], base)
            occ = _raw(holding, fs["occupancy"], base)
            ok = (fs["presence"].min <= presence <= fs["presence"].max
                  and fs["occupancy"].min <= occ <= fs["occupancy"].max)
            if ok:
                self._det_presence[slot], self._det_occ[slot] = presence, occ
                self._det_count[slot] = count
                self._det_fault[slot] = 0
            else:
                self._det_presence[slot], self._det_occ[slot] = 0, 0
                self._det_fault[slot] = 1
                any_fault = True
        self._set_detector_fault(any_fault)

    def _set_detector_fault(self, any_fault: bool) -> None:
        if any_fault and "detector" not in self.faults and self._rm.has_code("fault_bits",
                                                                             "detector"):
            self._event("detector input out of range: loop or camera marked faulty")
        if self._rm.has_code("fault_bits", "detector"):
            if any_fault:
                self.faults.add("detector")
            else:
                self.faults.discard("detector")

    def acknowledged(self, holding: Mapping[int, int]) -> bool:
        """Whether the bridge acknowledged the latest published tick (``--sync``)."""
        ack = self._holding(holding, "bridge_ack")
        return ack is not None and ack == self.heartbeat

    # -------------------------------------------------------------- registers
    def _group_state(self, i: int) -> str:
        if self.mode != "fault":
            return COLOUR_STATE[self._states[i]]
        kind = self.binding.model.groups[i].kind
        if kind is GroupKind.PEDESTRIAN:
            return "dark" if self._rm.has_code("group_state", "dark") else "red"
        return "flashing_amber" if self._rm.has_code("group_state", "flashing_amber") else "amber"

    def input_words(self) -> dict[int, int]:
        """Every input register the controller publishes, by address."""
        rm = self._rm
        f = rm.inputs.fields
        seq = self.sequencer
        dt = self.config.dt_s
        fault_mask = 0
        for name in self.faults:
            fault_mask |= 1 << rm.code("fault_bits", name)
        allowed = 0
        if self.mode != "fault":
            for i, ok in enumerate(seq.allowed_stages()):
                allowed |= int(ok) << i
        no_stage = f["active_stage"].none if f["active_stage"].none is not None else 0xFFFF
        active = seq.current_stage if self.mode != "fault" else None
        target = seq.target_stage if self.mode != "fault" else None
        values: dict[FieldSpec, int] = {
            f["interface_version"]: rm.map_version,
            f["controller_heartbeat"]: self.heartbeat,
            f["mode"]: rm.code("mode", self.mode),
            f["fault_bits"]: fault_mask,
            f["last_accepted_seq"]: self.last_accepted_seq,
            f["reject_reason"]: rm.code("reject_reason", self.reject_reason),
            f["active_stage"]: no_stage if active is None else active,
            f["target_stage"]: (f["target_stage"].none if f["target_stage"].none is not None
                                else 0xFFFF) if target is None else target,
            f["time_in_stage"]: to_raw(seq.time_in_stage_s, f["time_in_stage"]),
            f["allowed_stages"]: allowed,
            f["clock"]: to_raw(self.ticks * dt, f["clock"]),
            f["group_count"]: self.binding.group_count,
            f["stage_count"]: self.binding.stage_count,
            f["detector_count"]: self.binding.detector_count,
        }
        if "owner_id" in f:
            values[f["owner_id"]] = (self.owner or 0) if self.mode == "external" else 0
        if "junction_id" in f:
            values[f["junction_id"]] = self.binding.junction_id
        if "camera_count" in f:
            values[f["camera_count"]] = self.binding.camera_count
        words: dict[int, int] = {}
        for spec, raw in values.items():
            for k, w in enumerate(rm.encode(spec, raw)):
                words[spec.address + k] = w
        groups = rm.inputs.blocks["groups"]
        for i in range(self.binding.group_count):
            base = groups.slot_address(i)
            state_spec = groups.fields["state"]
            time_spec = groups.fields["time_in_state"]
            words[base + state_spec.address] = rm.code("group_state", self._group_state(i))
            for k, w in enumerate(rm.encode(time_spec, to_raw(
                    (self.ticks - self._since[i]) * dt, time_spec))):
                words[base + time_spec.address + k] = w
        det = rm.inputs.blocks["detectors"]
        for slot in range(self.binding.detector_count):
            base = det.slot_address(slot)
            for name, arr in (("presence", self._det_presence), ("count", self._det_count),
                              ("occupancy", self._det_occ), ("fault", self._det_fault)):
                spec = det.fields[name]
                for k, w in enumerate(rm.encode(spec, arr[slot])):
                    words[base + spec.address + k] = w
        cams = rm.inputs.blocks.get("cameras")
        if cams is not None:
            for slot, reading in enumerate(self._cams):
                base = cams.slot_address(slot)
                for name, raw in camera_row(cams, reading).items():
                    spec = cams.fields[name]
                    for k, w in enumerate(rm.encode(spec, raw)):
                        words[base + spec.address + k] = w
        return words


def _raw(words: Mapping[int, int], spec: FieldSpec, base: int) -> int:
    addr = base + spec.address
    if spec.words == 2:
        return (words.get(addr, 0) << 16) | words.get(addr + 1, 0)
    return words.get(addr, 0)
