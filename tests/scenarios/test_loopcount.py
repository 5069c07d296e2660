"""LoopCounter against hand-made step data (the real-SUMO check is test_batched_reads)."""

from __future__ import annotations

from scenarios.loopcount import LoopCounter


class _Steps:
    """Vehicle data per step, and how often the counter asked for it."""

    def __init__(self) -> None:
        self.data: tuple = ()
        self.calls = 0

    def __call__(self, loop: str) -> tuple:
        self.calls += 1
        return self.data


def _step(c: LoopCounter, steps: _Steps, now: float, data: tuple, occupancy: float) -> None:
    steps.data = data
    c.update(tuple(d[0] for d in data), occupancy, now, steps, lambda t: t == "bus")


def test_entries_standing_and_normal_leave() -> None:
    c, steps = LoopCounter("l"), _Steps()
    _step(c, steps, 1.0, (("a", 5.0, 0.4, -1.0, "car"),), 60.0)
    assert c.total == 1
    for t in (2.0, 3.0, 4.0):  # stands on the loop: no data needed
        _step(c, steps, t, (("a", 5.0, 0.4, -1.0, "car"),), 100.0)
    assert steps.calls == 1 and c.total == 1
    _step(c, steps, 5.0, (("a", 5.0, 0.4, 4.3, "car"), ("b", 12.0, 4.8, -1.0, "bus")), 50.0)
    assert (c.total, c.buses) == (2, 1)
    _step(c, steps, 6.0, (("b", 12.0, 4.8, -1.0, "bus"),), 100.0)
    _step(c, steps, 7.0, (), 0.0)  # b vanished without leaving data (teleport): uncounted
    assert (c.total, c.buses, c.busy) == (1, 1, False)


def test_early_leave_is_taken_off_once() -> None:
    c, steps = LoopCounter("l"), _Steps()
    _step(c, steps, 10.0, (("a", 5.0, 9.5, -1.0, "car"),), 50.0)
    _step(c, steps, 11.0, (("a", 5.0, 9.5, 11.0, "car"),), 0.0)  # lane change off the loop
    assert c.total == 0
    _step(c, steps, 12.0, (("a", 5.0, 9.5, 11.0, "car"),), 0.0)  # still listed a step later
    _step(c, steps, 13.0, (), 0.0)
    assert c.total == 0
    _step(c, steps, 14.0, (("a", 5.0, 13.2, -1.0, "car"),), 80.0)  # comes back: new entry
    assert c.total == 1
