"""The virtual field controller's logic without Modbus: handshake, watchdog, reason codes."""

from __future__ import annotations

import random

import pytest

from controllers.registry import controller_factory
from hil.codec import JunctionBinding, RegisterImage, decode_status
from hil.field import FieldConfig, VirtualFieldController
from hil.registermap import load_register_map

pytestmark = pytest.mark.slow  # builds the Westentor network (cached after the first time)


class Bench:
    """Drives a controller like the server does, with a fake wall clock."""

    def __init__(self, westentor, **config) -> None:
        junction = westentor.junctions[0]
        self.rm = load_register_map()
        self.binding = JunctionBinding.for_junction(self.rm, junction)
        local = controller_factory("fixed-time")(junction, westentor)
        self.ctrl = VirtualFieldController(self.binding, local, "westentor",
                                           FieldConfig(**config))
        self.holding: dict[int, int] = {}
        self.now = 0.0
        self.hb = 0

    def set(self, **values: int) -> None:
        for name, raw in values.items():
            if isinstance(raw, str):
                raw = self.rm.code("mode", raw)
            self.holding[self.rm.holding.fields[name].address] = raw

    def beat(self) -> None:
        self.hb = (self.hb + 1) & 0xFFFF
        self.set(adapter_heartbeat=self.hb)

    def run(self, seconds: float, beats: bool = True, dt: float = 0.1) -> None:
        """Advance wall time; one tick per second; heartbeats every dt when ``beats``."""
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now += dt
            if beats:
                self.beat()
            self.ctrl.poll(self.now, self.holding)
            if abs(self.now - round(self.now)) < 1e-6:
                self.ctrl.tick(self.holding)

    def snapshot(self):
        image = RegisterImage()
        image.words.update(self.ctrl.input_words())
        return decode_status(self.binding, image)


def test_starts_local_and_grants_external_only_after_healthy_heartbeats(westentor) -> None:
    bench = Bench(westentor, handshake_beats=3)
    bench.set(requested_mode="external")
    bench.run(2.0, beats=False)
    assert bench.snapshot().mode == "local"
    # two heartbeats are not enough
    for _ in range(2):
        bench.beat()
        bench.now += 0.1
        bench.ctrl.poll(bench.now, bench.holding)
    bench.ctrl.tick(bench.holding)
    assert bench.ctrl.mode == "local" and bench.ctrl.healthy_beats == 2
    bench.run(1.0)
    assert bench.snapshot().mode == "external"


def test_watchdog_falls_back_to_local_and_raises_fault_bit(westentor) -> None:
    bench = Bench(westentor, watchdog_s=1.0)
    bench.set(requested_mode="external")
    bench.run(2.0)
    assert bench.ctrl.mode == "external"
    bench.run(0.9, beats=False)
    assert bench.ctrl.mode == "external"
    bench.run(0.3, beats=False)
    snap = bench.snapshot()
    assert snap.mode == "local" and "watchdog" in snap.fault_bits
    bench.run(3.0)  # heartbeats return: external again, fault bit cleared
    snap = bench.snapshot()
    assert snap.mode == "external" and "watchdog" not in snap.fault_bits


@pytest.mark.parametrize(("command", "reason"), [
    ({"requested_stage": 7}, "unknown_stage"),
    ({"hold": 1, "force_off": 1}, "hold_and_force_off"),
    ({"hold": 2}, "invalid_flag"),
    ({"requested_mode": 9}, "invalid_mode"),
])
def test_illegal_requests_are_refused_with_a_reason(westentor, command: dict,
                                                    reason: str) -> None:
    bench = Bench(westentor)
    bench.set(requested_mode="external")
    bench.run(3.0)
    before = bench.snapshot().last_accepted_seq
    bench.set(requested_stage=1, hold=0, force_off=0)
    bench.set(**command, command_seq=before + 1)
    bench.run(2.0)
    snap = bench.snapshot()
    assert snap.reject_reason == reason
    assert snap.last_accepted_seq == before


def test_command_in_local_mode_is_refused(westentor) -> None:
    bench = Bench(westentor)
    bench.run(2.0)
    bench.set(requested_stage=2, command_seq=1)
    bench.run(2.0)
    assert bench.snapshot().reject_reason == "not_external"


def test_external_requests_drive_the_sequencer(westentor) -> None:
    bench = Bench(westentor)
    bench.set(requested_mode="external")
    bench.run(8.0)
    bench.set(requested_stage=2, hold=0, force_off=0, command_seq=1)
    bench.run(30.0)
    snap = bench.snapshot()
    assert snap.last_accepted_seq == 1 and snap.reject_reason == "none"
    assert snap.active_stage == 2
    # force-off moves to the next stage of the local plan's order
    bench.set(force_off=1, command_seq=2)
    bench.run(30.0)
    assert bench.snapshot().active_stage == 3


def test_random_external_requests_never_break_safety(westentor) -> None:
    bench = Bench(westentor)
    bench.set(requested_mode="external")
    rng = random.Random(7)
    seq = 0
    for _ in range(120):
        seq += 1
        bench.set(requested_stage=rng.randrange(4), hold=rng.random() < 0.1, force_off=0,
                  command_seq=seq)
        bench.run(rng.choice([1.0, 2.0, 3.0]))
    assert bench.ctrl.mode == "external"
    assert bench.ctrl.guard.violation_count == 0
    assert bench.ctrl.sequencer.time_s > 200
