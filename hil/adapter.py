"""The HIL adapter: runs a controller or policy against a field controller over Modbus.

Each cycle it reads the controller's status (and detectors) into the same
:class:`~scenarios.observation.Observation` the simulation uses, checks the read-back
signal states against the conflict matrix, runs the controller when a decision is due, and
writes its heartbeat and — only after a clean read-back in the same cycle — the stage
request. States (see README, "Hardware-in-the-loop"):

``connecting``  no connection; reconnect with exponential backoff.
``handshake``   heartbeating and requesting external mode; no stage requests yet.
``active``      external mode granted; stage requests are written.
``safe``        an anomaly (implausible or out-of-range values, frozen controller heartbeat,
                slow link, controller in fault): stop commanding, request the local plan;
                back to ``handshake`` after ``resume_cycles`` clean cycles.
``alarm``       conflicting greens read back: stop commanding, request the local plan, raise
                an alarm. Latched unless ``conflict_resume_s`` is set.
``refused``     the controller is under external control of another adapter session (a
                different ``owner_id``) or runs another junction (``junction_id``): write
                nothing at all and stop.

One owner per field controller: every write carries this session's random ``owner_id``.
The controller grants external control to one owner and refuses (and logs) any other; an
owner that sees the controller's ``foreign_session`` fault (someone else writes to its
registers) goes ``safe``.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field

from controllers.base import Controller
from hil.audit import AuditLog
from hil.codec import (
    CameraMismatch,
    DetectorValue,
    FieldSnapshot,
    JunctionMismatch,
    conflicting_greens,
)
from hil.link import FieldLink, LinkError
from hil.registermap import DecodeError
from scenarios.observation import LaneReading, Observation
from scenarios.sensing import CameraReading
from signals.errors import ConfigError

__all__ = ["Adapter", "AdapterConfig", "AdapterStats"]

log = logging.getLogger(__name__)

_U16 = 0x10000


@dataclass(frozen=True)
class AdapterConfig:
    """Timing and fault handling of the adapter.

    Attributes:
        period_s: control-loop period (wall seconds); 0.1 = 10 Hz.
        watchdog_s: the field controller's heartbeat watchdog; one request's worst case
            (timeout x (retries + 1)) must stay at or below a quarter of it.
        stale_s: the controller heartbeat may stand still this long before it counts as frozen.
        slow_s: a cycle whose Modbus I/O takes longer than this is slow; three slow cycles
            in a row put the adapter in ``safe``. Default: the period, at least 50 ms.
        resume_cycles: clean cycles in ``safe`` before external control is requested again.
        conflict_resume_s: clean seconds after a conflict alarm before the adapter may
            resume; None latches the alarm until restart.
        backoff_initial_s, backoff_max_s: reconnect backoff (doubles after each failure).
    """

    period_s: float = 0.1
    watchdog_s: float = 1.0
    stale_s: float = 2.5
    slow_s: float | None = None
    resume_cycles: int = 5
    conflict_resume_s: float | None = None
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("period_s", "watchdog_s", "stale_s", "backoff_initial_s", "backoff_max_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.resume_cycles < 1:
            raise ConfigError("resume_cycles must be at least 1")
        if self.period_s >= self.watchdog_s / 2:
            raise ConfigError(f"loop period {self.period_s:g} s must be well below the watchdog "
                              f"{self.watchdog_s:g} s (at most half)")

    @property
    def slow_limit_s(self) -> float:
        """I/O time above which a cycle counts as slow (default: the period, at least 50 ms)."""
        return self.slow_s if self.slow_s is not None else max(self.period_s, 0.05)


@dataclass
class AdapterStats:
    """Counters of one adapter run."""

    cycles: int = 0
    deadline_misses: int = 0
    commands: int = 0
    anomalies: int = 0
    alarms: int = 0
    connects: int = 0
    max_cycle_s: float = 0.0
    cycle_s: list[float] = field(default_factory=list, repr=False)


@dataclass
class _Lane:
    stop_last: int | None = None
    up_last: int | None = None
    stop_since: int = 0
    up_since: int = 0
    stop_total: int = 0
    up_total: int = 0
    last_presence_s: float | None = None
    presence: bool = False
    occupancy: float = 0.0


class Adapter:
    """Connects a :class:`~controllers.base.Controller` to a field controller.

    Args:
        link: the Modbus link (its binding names the junction).
        controller: the controller or policy to run.
        tls: junction name put into observations.
        audit: where every command and anomaly is recorded.
        config: timing and fault handling.
    """

    def __init__(self, link: FieldLink, controller: Controller, tls: str, audit: AuditLog,
                 config: AdapterConfig | None = None) -> None:
        self.link = link
        self.controller = controller
        self.config = config or AdapterConfig()
        self.audit = audit
        self._tls = tls
        self._binding = link.binding
        self._model = link.binding.model
        worst = link.options.worst_case_s
        if worst > self.config.watchdog_s / 4:
            raise ConfigError(
                f"timeout x (retries + 1) = {worst:g} s is too close to the controller watchdog "
                f"{self.config.watchdog_s:g} s; keep it at or below a quarter "
                f"({self.config.watchdog_s / 4:g} s)")
        self.state = "connecting"
        self.stats = AdapterStats()
        self._heartbeat = 0
        self._seq = 0
        self._commanded: int | None = None
        self._requested_mode: str | None = None
        self._next_connect = 0.0
        self._backoff = self.config.backoff_initial_s
        self._connect_failures = 0
        self._hb_value: int | None = None
        self._hb_at = 0.0
        self._slow = 0
        self._clean = 0
        self._conflict_at: float | None = None
        self._next_decision: float | None = None
        self._lanes = [_Lane() for _ in self._binding.lanes]
        self._cameras: tuple[CameraReading, ...] = ()  # latest camera read (camera sensing)
        self._reported_reject: int | None = None
        self._sent_hb: int | None = None
        self._safe_reason = ""
        self._last_mode_seen: str | None = None
        self.owner_id = secrets.randbits(32) or 1
        self._has_owner = "owner_id" in self._binding.regmap.holding.fields
        self.refused_by: int | None = None  # owner id of the session that holds control
        self.mismatch: str | None = None  # why the controller is not this junction's
        self.mismatch_cameras = False  # the mismatch is missing camera inputs

    # --------------------------------------------------------------- helpers
    def _anomaly(self, event: str, quiet: bool = False, **fields: object) -> None:
        """Count and audit an anomaly; logged as a warning unless ``quiet`` (then the
        command line reports it in its one error line)."""
        self.stats.anomalies += 1
        self.audit.write("anomaly", event, state=self.state, **fields)
        (log.info if quiet else log.warning)("anomaly: %s %s", event, fields or "")

    def _set_state(self, state: str, why: str) -> None:
        if state != self.state:
            self.audit.write("mode", f"{self.state} -> {state}", reason=why)
            log.info("adapter %s -> %s (%s)", self.state, state, why)
            self.state = state

    def _next_heartbeat(self) -> int:
        self._heartbeat = (self._heartbeat + 1) % _U16
        return self._heartbeat

    def _write(self, values: dict[str, int]) -> None:
        if self.state == "refused":
            return  # another session owns the controller: never touch its registers
        values = {"adapter_heartbeat": self._next_heartbeat(), **values}
        if self._has_owner:
            values["owner_id"] = self.owner_id
        self.link.write(values)

    def _request_mode(self, mode: str, extra: dict[str, int] | None = None) -> None:
        code = self._binding.regmap.code("mode", mode)
        if mode != self._requested_mode:
            self.audit.write("command", "request_mode", requested_mode=mode)
            self._requested_mode = mode
        self._write({"requested_mode": code, **(extra or {})})

    def _to_safe(self, why: str) -> None:
        self._safe_reason = why
        self._clean = 0
        self._commanded = None
        self._set_state("safe", why)

    def _disconnected(self, now: float, why: str) -> None:
        self.link.close()
        self._anomaly("link_lost", error=why)
        self._commanded = None
        self._set_state("connecting", why)
        self._schedule_reconnect(now)

    def _schedule_reconnect(self, now: float) -> None:
        self._next_connect = now + self._backoff
        self._backoff = min(self._backoff * 2, self.config.backoff_max_s)

    # ---------------------------------------------------------------- cycle
    def cycle(self, now: float) -> None:
        """One control cycle at monotonic time ``now``."""
        self.stats.cycles += 1
        if not self.link.connected:
            if now < self._next_connect:
                return
            try:
                self.link.connect()
                seq = self.link.read_holding("command_seq")
            except LinkError as exc:
                self.link.close()
                self._connect_failures += 1
                if self._connect_failures == 1 or self._connect_failures % 10 == 0:
                    self._anomaly("connect_failed", quiet=self.stats.connects == 0,
                                  error=str(exc), attempts=self._connect_failures)
                self._schedule_reconnect(now)
                return
            self.stats.connects += 1
            self.audit.write("link", "connected", target=self.link.options.describe(),
                             after_attempts=self._connect_failures + 1)
            self._connect_failures = 0
            self._backoff = self.config.backoff_initial_s
            self._seq = seq
            self._hb_value = None
            self._requested_mode = None
            self._commanded = None
            self._lanes = [_Lane() for _ in self._binding.lanes]
            self._cameras = ()
            if self.state != "alarm":
                self._set_state("handshake", "connected")
        started = time.perf_counter()
        try:
            snap = self.link.read_status()
            detectors = (self.link.read_detectors() if self.controller.needs_detectors
                         else None)
            if detectors is not None and self._binding.cameras:
                self._cameras = self.link.read_cameras()
        except LinkError as exc:
            self._disconnected(now, str(exc))
            return
        except DecodeError as exc:
            if isinstance(exc, JunctionMismatch) and self.state == "handshake" and \
                    self.stats.commands == 0:
                # another junction's controller from the start: never write to it, stop
                self.mismatch = str(exc)
                self.mismatch_cameras = isinstance(exc, CameraMismatch)
                self._anomaly("junction_mismatch", quiet=True, error=str(exc))
                self._set_state("refused", "the controller runs another junction")
                return
            self._anomaly("implausible_readback", error=str(exc))
            if self.state != "alarm":
                self._to_safe(f"implausible read-back: {exc}")
            self._safe_write(now)
            return
        try:
            self._after_read(now, snap, detectors, time.perf_counter() - started)
        except LinkError as exc:
            self._disconnected(now, str(exc))

    def _safe_write(self, now: float) -> None:
        try:
            self._request_mode("local")
        except LinkError as exc:
            self._disconnected(now, str(exc))

    def _foreign_owner(self, snap: FieldSnapshot) -> bool:
        """True when another adapter session holds or disturbs the controller (handled)."""
        other = snap.owner_id not in (0, self.owner_id) and snap.mode == "external"
        if other and self.state in ("handshake", "connecting"):
            self.refused_by = snap.owner_id
            self._anomaly("foreign_owner", quiet=True, owner=f"{snap.owner_id:#010x}",
                          own=f"{self.owner_id:#010x}")
            self._set_state("refused", "another adapter session holds external control")
            return True
        if self.state in ("active", "safe") and (other or "foreign_session" in snap.fault_bits):
            if self.state == "active":
                self._anomaly("foreign_session", owner=f"{snap.owner_id:#010x}",
                              faults=sorted(snap.fault_bits))
                self._to_safe("another adapter session writes to the controller")
            self._request_mode("local")
            return True
        return False

    def _after_read(self, now: float, snap: FieldSnapshot,
                    detectors: tuple[DetectorValue, ...] | None, io_s: float) -> None:
        if self.state == "refused":
            return
        clean = True
        pairs = conflicting_greens(self._model, snap.greens())
        if pairs:
            self._conflict_at = now
            if self.state != "alarm":
                self.stats.alarms += 1
                self._commanded = None
                self.audit.write("alarm", "conflicting_greens", groups=pairs,
                                 states=list(snap.group_states), clock_s=snap.clock_s)
                log.error("ALARM: conflicting greens read back: %s; local plan requested",
                          pairs)
                self._set_state("alarm", f"conflicting greens {pairs}")
            self._request_mode("local")
            return
        if self._foreign_owner(snap):
            return
        if snap.controller_heartbeat != self._hb_value:
            self._hb_value, self._hb_at = snap.controller_heartbeat, now
        elif now - self._hb_at > self.config.stale_s:
            clean = False
            if self.state not in ("safe", "alarm"):
                self._anomaly("controller_heartbeat_frozen", value=snap.controller_heartbeat,
                              for_s=round(now - self._hb_at, 3))
                self._to_safe("controller heartbeat frozen")
        if snap.mode != self._last_mode_seen:
            self.audit.write("mode", f"controller mode {snap.mode}",
                             faults=sorted(snap.fault_bits))
            self._last_mode_seen = snap.mode
        if snap.mode not in ("local", "external"):
            clean = False
            if self.state not in ("safe", "alarm"):
                self._anomaly("controller_not_operational", mode=snap.mode,
                              faults=sorted(snap.fault_bits))
                self._to_safe(f"controller in {snap.mode} mode")
        if io_s > self.config.slow_limit_s:
            self._slow += 1
            clean = False
            if self._slow >= 3 and self.state not in ("safe", "alarm"):
                self._anomaly("slow_link", io_s=round(io_s, 4))
                self._to_safe("slow link")
        else:
            self._slow = 0
        if detectors is not None:
            self._track_detectors(snap.clock_s, detectors)

        if self.state == "alarm":
            resume = self.config.conflict_resume_s
            if resume is not None and self._conflict_at is not None and \
                    now - self._conflict_at >= resume:
                self.audit.write("info", "conflict alarm cleared after clean read-back",
                                 clean_s=round(now - self._conflict_at, 3))
                self._set_state("handshake", "conflict alarm cleared")
            else:
                self._request_mode("local")
                return
        if self.state == "safe":
            self._clean = self._clean + 1 if clean else 0
            if self._clean >= self.config.resume_cycles:
                self._set_state("handshake", f"{self._clean} clean cycles")
            else:
                self._request_mode("local")
                return
        if self.state == "handshake":
            if snap.mode == "external":
                self._set_state("active", "external control granted")
                self._commanded = None
                self._next_decision = None
            else:
                self._request_mode("external")
                return
        # active
        if snap.mode != "external":
            self._anomaly("external_mode_lost", mode=snap.mode, faults=sorted(snap.fault_bits))
            self._set_state("handshake", f"controller in {snap.mode} mode")
            self._request_mode("external")
            return
        self._check_acceptance(snap)
        if self._next_decision is None or snap.clock_s + 1e-9 >= self._next_decision:
            self._decide(snap)
        else:
            self._write({})

    def _check_acceptance(self, snap: FieldSnapshot) -> None:
        if self._commanded is None or snap.last_accepted_seq == self._seq:
            return
        # the controller reads a command at its next tick: judge it two ticks after sending
        if self._sent_hb is None or (snap.controller_heartbeat - self._sent_hb) % _U16 < 2:
            return
        if snap.reject_reason != "none" and self._reported_reject != self._seq:
            self._reported_reject = self._seq
            self._anomaly("command_rejected", seq=self._seq, reason=snap.reject_reason)

    def _decide(self, snap: FieldSnapshot) -> None:
        obs = Observation(junction=self._tls, time_s=snap.clock_s, stage=snap.active_stage,
                          target_stage=snap.target_stage, time_in_stage_s=snap.time_in_stage_s,
                          allowed=snap.allowed, lanes=self._lane_readings(snap.clock_s))
        request = self.controller.decide(obs)
        self._next_decision = snap.clock_s + self.controller.decision_interval_s
        stage = int(request.stage)
        if not 0 <= stage < self._binding.stage_count:
            self._anomaly("controller_output_invalid", stage=stage)
            self._write({})
            return
        if stage == self._commanded:
            self._write({})
            return
        self._seq = (self._seq + 1) % _U16
        external = self._binding.regmap.code("mode", "external")
        self._write({"requested_mode": external, "requested_stage": stage, "hold": 0,
                     "force_off": 0, "command_seq": self._seq})
        self._commanded = stage
        self._sent_hb = snap.controller_heartbeat
        self.stats.commands += 1
        self.audit.write("command", "stage_request", seq=self._seq, stage=stage,
                         stage_name=self._model.stages[stage].name, reason=request.reason,
                         clock_s=snap.clock_s, active_stage=snap.active_stage)

    # ------------------------------------------------------------- detectors
    def _track_detectors(self, clock_s: float, values: tuple[DetectorValue, ...]) -> None:
        for k, lane in enumerate(self._lanes):
            stop, up = values[2 * k], values[2 * k + 1]
            if stop.fault or up.fault:
                continue
            if lane.stop_last is not None and lane.up_last is not None:
                lane.stop_since += (stop.count - lane.stop_last) % _U16
                lane.up_since += (up.count - lane.up_last) % _U16
            lane.stop_last, lane.up_last = stop.count, up.count
            lane.presence, lane.occupancy = stop.presence, stop.occupancy
            if stop.presence:
                lane.last_presence_s = clock_s

    def _lane_readings(self, clock_s: float) -> tuple[LaneReading, ...]:
        if not self.controller.needs_detectors:
            return ()
        # camera sensing: the latest camera read (a dropout or no read yet: None values)
        cams = self._cameras if len(self._cameras) == len(self._lanes) else ()
        out = []
        for k, (name, lane) in enumerate(zip(self._binding.lanes, self._lanes, strict=True)):
            lane.stop_total += lane.stop_since
            lane.up_total += lane.up_since
            out.append(LaneReading(
                lane=name, stopline_count=lane.stop_since, upstream_count=lane.up_since,
                occupancy=lane.occupancy, presence=lane.presence,
                gap_s=(clock_s - lane.last_presence_s if lane.last_presence_s is not None
                       else clock_s),
                queue=float(max(0, lane.up_total - lane.stop_total)),
                camera_queue=cams[k].queue if cams else None,
                camera_approaching=cams[k].approaching if cams else None,
                camera_speed_mps=cams[k].speed_mps if cams else None))
            lane.stop_since = lane.up_since = 0
        return tuple(out)

    # ------------------------------------------------------------------ run
    def run(self, stop: threading.Event, duration_s: float | None = None,
            connect_timeout_s: float | None = None) -> AdapterStats:
        """Cycle every ``period_s`` until ``stop`` is set (or ``duration_s`` has passed).

        Stops early when another session owns the controller (state ``refused``) or, with
        ``connect_timeout_s``, when no connection succeeded within that time.
        """
        period = self.config.period_s
        start = time.monotonic()
        deadline = start
        self.audit.write("info", "adapter started", controller=self.controller.name,
                         target=self.link.options.describe(), period_s=period)
        while not stop.is_set():
            now = time.monotonic()
            if duration_s is not None and now - start >= duration_s:
                break
            if self.state == "refused":
                break
            if connect_timeout_s is not None and self.stats.connects == 0 and \
                    now - start >= connect_timeout_s:
                break
            self.cycle(now)
            took = time.monotonic() - now
            self.stats.max_cycle_s = max(self.stats.max_cycle_s, took)
            self.stats.cycle_s.append(took)
            deadline += period
            after = time.monotonic()
            if after > deadline:
                self.stats.deadline_misses += 1
                if self.stats.deadline_misses in (1, 10, 100) or \
                        self.stats.deadline_misses % 1000 == 0:
                    self._anomaly("deadline_miss", late_s=round(after - deadline, 4),
                                  misses=self.stats.deadline_misses)
                deadline = after
            stop.wait(max(0.0, deadline - time.monotonic()))
        return self.stats

    def shutdown(self) -> None:
        """Return the controller to its local plan (best effort) and close the link."""
        if self.link.connected and self.state != "refused":
            try:
                self._request_mode("local")
                self.audit.write("info", "returned the controller to local mode on exit")
            except LinkError as exc:
                self.audit.write("anomaly", "shutdown_write_failed", error=str(exc))
        self.link.close()
        self.audit.write("info", "adapter stopped", cycles=self.stats.cycles,
                         commands=self.stats.commands, anomalies=self.stats.anomalies,
                         alarms=self.stats.alarms, deadline_misses=self.stats.deadline_misses)
