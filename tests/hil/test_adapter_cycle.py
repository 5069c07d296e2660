"""``Adapter.cycle(now)`` with a fake link and fake time: heartbeat, handshake, commands,
a rejected command, a frozen controller heartbeat, a slow link, a lost link, a conflict.

No Modbus and no wall-clock slack: every cycle gets its time from the test, and the fake
link answers with the snapshot the test sets (the subprocess tests in test_loop.py and
test_faults.py cover the real link).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

import hil.adapter as adapter_module
from controllers.base import StageRequest
from hil.adapter import Adapter, AdapterConfig
from hil.audit import AuditLog
from hil.codec import FieldSnapshot, JunctionBinding
from hil.link import LinkError, LinkOptions
from hil.registermap import load_register_map
from scenarios.observation import Observation
from tests.signals.signals_junction import make_junction

S1 = ("green", "red", "green", "green")  # K1, K2, P1, F1: stage S1
S2 = ("red", "green", "red", "red")


class FakeClock:
    """Stands in for the ``time`` module inside ``hil.adapter`` (I/O durations)."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


class FakeLink:
    """The FieldLink interface the adapter uses, answering from ``snap``."""

    def __init__(self, binding: JunctionBinding, clock: FakeClock) -> None:
        self.binding = binding
        self.options = LinkOptions(timeout_s=0.1, retries=1)
        self.clock = clock
        self.connected = False
        self.connects = 0
        self.refuse_connects = 0
        self.down = False
        self.io_s = 0.001  # fake seconds each status read takes
        self.writes: list[dict[str, int]] = []
        self.snap = snapshot(hb=1)

    def connect(self) -> None:
        self.connects += 1
        if self.refuse_connects:
            self.refuse_connects -= 1
            raise LinkError("connection refused")
        self.connected = True

    def close(self) -> None:
        self.connected = False

    def read_holding(self, name: str) -> int:
        assert name == "command_seq"
        return 0

    def read_status(self) -> FieldSnapshot:
        if self.down:
            raise LinkError("no answer within 0.2 s")
        self.clock.now += self.io_s
        return self.snap

    def read_detectors(self) -> tuple[()]:
        return ()

    def write(self, values: dict[str, int]) -> None:
        if self.down:
            raise LinkError("no answer within 0.2 s")
        self.writes.append(dict(values))


class Toggle:
    """Asks for the other stage at every decision."""

    name = "toggle"
    decision_interval_s = 1.0
    needs_detectors = False

    def decide(self, obs: Observation) -> StageRequest:
        return StageRequest(1 - (obs.stage or 0), "toggle")


def snapshot(hb: int, mode: str = "local", stage: int = 0, accepted: int = 0,
             reject: str = "none", states: tuple[str, ...] = S1, owner: int = 0
             ) -> FieldSnapshot:
    return FieldSnapshot(interface_version=1, controller_heartbeat=hb, mode=mode,
                         fault_bits=frozenset(), last_accepted_seq=accepted,
                         reject_reason=reject, active_stage=stage, target_stage=stage,
                         time_in_stage_s=10.0, allowed=(True, True), clock_s=float(hb),
                         clock_raw=hb, group_states=states, group_times_s=(10.0,) * 4,
                         owner_id=owner)


@pytest.fixture
def rig(monkeypatch) -> tuple[Adapter, FakeLink, AuditLog]:
    clock = FakeClock()
    monkeypatch.setattr(adapter_module, "time", clock)
    binding = JunctionBinding(load_register_map(), make_junction(), ())
    link = FakeLink(binding, clock)
    audit = AuditLog(None)
    adapter = Adapter(link, Toggle(), "J1", audit, AdapterConfig())  # type: ignore[arg-type]
    return adapter, link, audit


def code(adapter: Adapter, mode: str) -> int:
    return adapter.link.binding.regmap.code("mode", mode)


def events(audit: AuditLog, kind: str) -> list[str]:
    return [r["event"] for r in audit.records if r["kind"] == kind]


def activate(adapter: Adapter, link: FakeLink) -> float:
    """Connect, handshake and get external control; returns the time of the last cycle."""
    adapter.cycle(0.0)
    assert adapter.state == "handshake"
    link.snap = snapshot(hb=2, mode="external", owner=adapter.owner_id)
    adapter.cycle(0.1)
    assert adapter.state == "active"
    return 0.1


def test_every_cycle_writes_a_fresh_heartbeat_and_the_session_owner(rig) -> None:
    adapter, link, _ = rig
    for k in range(5):
        link.snap = snapshot(hb=k + 1)
        adapter.cycle(k * 0.1)
    assert adapter.state == "handshake" and link.connects == 1
    beats = [w["adapter_heartbeat"] for w in link.writes]
    assert beats == list(range(beats[0], beats[0] + 5))  # one per cycle: the watchdog is fed
    assert all(w["owner_id"] == adapter.owner_id for w in link.writes)
    # in handshake it asks for external mode and never for a stage
    assert all(w["requested_mode"] == code(adapter, "external") for w in link.writes)
    assert not any("requested_stage" in w for w in link.writes)


def test_granted_external_mode_leads_to_a_stage_request(rig) -> None:
    adapter, link, audit = rig
    activate(adapter, link)
    command = link.writes[-1]
    assert command["requested_stage"] == 1 and command["command_seq"] == 1
    assert command["requested_mode"] == code(adapter, "external")
    assert adapter.stats.commands == 1 and "stage_request" in events(audit, "command")
    # no new decision before the decision interval: heartbeat only
    link.snap = snapshot(hb=3, mode="external", owner=adapter.owner_id, accepted=1)
    adapter.cycle(0.2)
    assert set(link.writes[-1]) == {"adapter_heartbeat", "owner_id"}
    assert adapter.stats.commands == 1


def test_a_rejected_command_is_an_anomaly_once_after_two_controller_ticks(rig) -> None:
    adapter, link, audit = rig
    now = activate(adapter, link)  # command seq 1 sent at controller heartbeat 2
    rejected = snapshot(hb=3, mode="external", owner=adapter.owner_id, accepted=0,
                        reject="min_green")
    link.snap = rejected
    adapter.cycle(now + 0.1)  # one tick later: the controller may not have read it yet
    assert "command_rejected" not in events(audit, "anomaly")
    for k, hb in enumerate((4, 4, 5)):
        link.snap = replace(rejected, controller_heartbeat=hb, clock_s=2.0 + 0.1 * k)
        adapter.cycle(now + 0.2 + 0.1 * k)
    assert events(audit, "anomaly").count("command_rejected") == 1
    record = next(r for r in audit.records if r["event"] == "command_rejected")
    assert record["seq"] == 1 and record["reason"] == "min_green"
    assert adapter.state == "active"  # a refused request is the controller's right


def test_a_frozen_controller_heartbeat_falls_back_to_local_and_recovers(rig) -> None:
    adapter, link, audit = rig
    now = activate(adapter, link)
    frozen = snapshot(hb=2, mode="external", owner=adapter.owner_id, accepted=1)
    stale = AdapterConfig().stale_s
    t = now
    while t - now <= stale - 0.1:  # the heartbeat may stand still up to stale_s
        t += 0.1
        link.snap = frozen
        adapter.cycle(t)
        assert adapter.state == "active", t
    adapter.cycle(now + stale + 0.05)
    assert adapter.state == "safe"
    assert "controller_heartbeat_frozen" in events(audit, "anomaly")
    assert link.writes[-1]["requested_mode"] == code(adapter, "local")
    assert "requested_stage" not in link.writes[-1]
    # the heartbeat moves again: back to the handshake after resume_cycles clean cycles
    commands = adapter.stats.commands
    for k in range(AdapterConfig().resume_cycles):
        assert adapter.state == "safe"
        link.snap = snapshot(hb=10 + k, mode="local", owner=adapter.owner_id)
        adapter.cycle(now + stale + 0.1 * (k + 1))
    assert adapter.state == "handshake"
    assert link.writes[-1]["requested_mode"] == code(adapter, "external")
    assert adapter.stats.commands == commands  # nothing commanded while safe


def test_three_slow_cycles_fall_back_to_local(rig) -> None:
    adapter, link, audit = rig
    now = activate(adapter, link)
    link.io_s = AdapterConfig().slow_limit_s * 2
    for k in range(3):
        assert adapter.state == "active"
        link.snap = snapshot(hb=3 + k, mode="external", owner=adapter.owner_id, accepted=1)
        adapter.cycle(now + 0.1 * (k + 1))
    assert adapter.state == "safe" and "slow_link" in events(audit, "anomaly")
    assert link.writes[-1]["requested_mode"] == code(adapter, "local")


def test_a_lost_link_reconnects_with_backoff(rig) -> None:
    adapter, link, audit = rig
    now = activate(adapter, link)
    link.down = True
    adapter.cycle(now + 0.1)
    assert adapter.state == "connecting" and not link.connected
    assert "link_lost" in events(audit, "anomaly")
    link.down, link.refuse_connects = False, 1
    config = AdapterConfig()
    adapter.cycle(now + 0.1 + config.backoff_initial_s / 2)  # within the backoff: no attempt
    assert link.connects == 1
    adapter.cycle(now + 0.1 + config.backoff_initial_s)  # refused: the backoff doubles
    assert link.connects == 2 and adapter.state == "connecting"
    later = now + 0.1 + config.backoff_initial_s
    adapter.cycle(later + config.backoff_initial_s)
    assert link.connects == 2
    link.snap = snapshot(hb=20, mode="local")
    adapter.cycle(later + 2 * config.backoff_initial_s)
    assert link.connects == 3 and adapter.state == "handshake"
    assert adapter.stats.connects == 2


def test_conflicting_greens_read_back_raise_a_latched_alarm(rig) -> None:
    adapter, link, audit = rig
    now = activate(adapter, link)
    both = tuple("green" for _ in S1)
    link.snap = snapshot(hb=3, mode="external", owner=adapter.owner_id, states=both)
    adapter.cycle(now + 0.1)
    assert adapter.state == "alarm" and adapter.stats.alarms == 1
    assert "conflicting_greens" in events(audit, "alarm")
    commands = adapter.stats.commands
    for k in range(10):  # clean again, but latched: only the local plan is requested
        link.snap = snapshot(hb=4 + k, mode="external", owner=adapter.owner_id, states=S2,
                             stage=1)
        adapter.cycle(now + 0.2 + 0.1 * k)
        assert link.writes[-1]["requested_mode"] == code(adapter, "local")
    assert adapter.state == "alarm" and adapter.stats.commands == commands
