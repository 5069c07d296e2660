from __future__ import annotations

import pytest

from signals import RULES, Colour, SafetyGuard, SafetyViolation, SignalModel, Violation

# Group order K1 K2 P1 F1 (see signals_junction.py). K1 and K2 cross; amber 3 s,
# red-amber 1 s, min green 5 s; intergreen K1 -> K2 is 5 s.
K1_GREEN = ["rrrr", "urrr"] + ["Grrr"] * 5  # t=0..6, K1 green from t=2 for 5 s
K1_CLEARED = K1_GREEN + ["yrrr"] * 3 + ["rrrr"]  # amber t=7..9, red at t=10


def feed(model: SignalModel, states: list[str], dt: float = 1.0) -> list[Violation]:
    guard = SafetyGuard(model, dt=dt)
    for state in states:
        guard.check_state_string(state)
    return guard.violations


def rules(violations: list[Violation]) -> set[str]:
    return {v.rule for v in violations}


@pytest.mark.parametrize(
    "states",
    [
        pytest.param(K1_CLEARED + ["rrrr", "rurr", "rGrr"], id="vehicle-cycle"),
        pytest.param(["rrrr", "rrGr", "rrGr"], id="pedestrian-red-to-green"),
        pytest.param(["rrGr"] + ["rrGr"] * 5 + ["rrrr"], id="pedestrian-green-to-red"),
        pytest.param(["Grrr", "yrrr", "yrrr", "yrrr", "rrrr"], id="initial-green-past-min"),
        pytest.param(K1_GREEN + ["yrrr"] * 6 + ["rrrr"], id="long-amber-is-allowed"),
        pytest.param(["rrrr", "rrru", "rrrG"], id="bicycle-red-amber"),
        pytest.param(["yrrr", "yrrr", "rrrr", "rrrr", "rurr", "rGrr"], id="initial-amber"),
    ],
)
def test_legal_sequences_pass(junction: SignalModel, states: list[str]) -> None:
    assert feed(junction, states) == []


@pytest.mark.parametrize(
    ("states", "rule", "groups"),
    [
        pytest.param(["rrrr", "uurr", "GGrr"], "conflicting_greens", ("K1", "K2"), id="greens"),
        pytest.param(["GrrG", "GrrG", "GGrG"], "conflicting_greens", ("K1", "K2"), id="greens-2"),
        pytest.param(K1_GREEN + ["rrrr"], "colour_order", ("K1",), id="green-to-red"),
        pytest.param(["rrrr", "Grrr"], "colour_order", ("K1",), id="red-to-green"),
        pytest.param(["rrrr", "yrrr"], "colour_order", ("K1",), id="red-to-amber"),
        pytest.param(K1_GREEN + ["yrrr", "Grrr"], "colour_order", ("K1",), id="amber-to-green"),
        pytest.param(["rrrr", "urrr", "rrrr"], "colour_order", ("K1",), id="red-amber-to-red"),
        pytest.param(K1_GREEN + ["urrr"], "colour_order", ("K1",), id="green-to-red-amber"),
        pytest.param(K1_GREEN + ["yrrr", "rrrr"], "amber_duration", ("K1",), id="amber-1s"),
        pytest.param(K1_GREEN + ["yrrr", "yrrr", "rrrr"], "amber_duration", ("K1",), id="amber-2s"),
        pytest.param(["rrrr", "urrr", "urrr", "Grrr"], "red_amber_duration", ("K1",), id="ra-2s"),
        pytest.param(["rrrr", "rrru", "rrru", "rrrG"], "red_amber_duration", ("F1",), id="ra-bike"),
        pytest.param(["rrrr", "rrur", "rrGr"], "red_amber_duration", ("P1",), id="ra-pedestrian"),
        pytest.param(["rrrr", "urrr", "Grrr", "Grrr", "yrrr"], "min_green", ("K1",), id="green-2s"),
        pytest.param(
            ["rrrr", "rrGr", "rrGr", "rrrr"], "min_green", ("P1",), id="pedestrian-green-2s"
        ),
        pytest.param(
            K1_GREEN + ["yrrr"] * 3 + ["rurr", "rGrr"], "intergreen", ("K1", "K2"), id="ig-4s"
        ),
        pytest.param(
            K1_GREEN + ["yrrr", "yurr", "yGrr"], "intergreen", ("K1", "K2"), id="green-beside-amber"
        ),
        pytest.param(
            ["rrrr"] + ["rrGr"] * 6 + ["rrrr", "rurr", "rGrr"],
            "intergreen",
            ("P1", "K2"),
            id="pedestrian-clearance",
        ),
    ],
)
def test_illegal_sequences_are_detected(
    junction: SignalModel, states: list[str], rule: str, groups: tuple[str, ...]
) -> None:
    violations = feed(junction, states)
    assert rule in rules(violations)
    assert any(v.rule == rule and set(v.groups) == set(groups) for v in violations)
    assert all(v.rule in RULES for v in violations)
    last = violations[-1]
    assert last.time_s == len(states) - 1
    assert last.message.startswith(f"t={last.time_s:g} s")


def test_only_the_broken_rule_is_reported(junction: SignalModel) -> None:
    assert rules(feed(junction, K1_GREEN + ["rrrr"])) == {"colour_order"}
    assert rules(feed(junction, K1_GREEN + ["yrrr", "rrrr"])) == {"amber_duration"}
    assert rules(feed(junction, K1_GREEN + ["yrrr"] * 3 + ["rurr", "rGrr"])) == {"intergreen"}


def test_durations_scale_with_dt(junction: SignalModel) -> None:
    # With 0.5 s ticks, 2 ticks of red-amber are the required 1 s, 1 tick is too short.
    assert feed(junction, ["rrrr", "urrr", "urrr", "Grrr"], dt=0.5) == []
    assert rules(feed(junction, ["rrrr", "urrr", "Grrr"], dt=0.5)) == {"red_amber_duration"}


def test_persistent_conflict_is_reported_once(junction: SignalModel) -> None:
    violations = feed(junction, ["GGrr"] * 10)
    assert [v.rule for v in violations] == ["conflicting_greens"]
    assert violations[0].time_s == 0.0


def test_strict_mode_raises_on_first_violation(junction: SignalModel) -> None:
    guard = SafetyGuard(junction, strict=True)
    guard.check_state_string("rrrr")
    with pytest.raises(SafetyViolation, match="K1 and K2"):
        guard.check([Colour.GREEN, Colour.GREEN, Colour.RED, Colour.RED])
    # Every violation of the tick is recorded; the most dangerous one is raised.
    assert [v.rule for v in guard.violations] == [
        "conflicting_greens",
        "colour_order",
        "colour_order",
    ]


def test_refuses_malformed_input(junction: SignalModel) -> None:
    guard = SafetyGuard(junction)
    with pytest.raises(ValueError, match="expected 4 states"):
        guard.check_state_string("rrr")
    with pytest.raises(ValueError, match="'x'"):
        guard.check_state_string("rrxr")
    with pytest.raises(ValueError, match="not a Colour"):
        guard.check(["r", "r", "r", "r"])  # type: ignore[list-item]
    assert guard.violation_count == 0


def test_violations_property_is_a_copy(junction: SignalModel) -> None:
    guard = SafetyGuard(junction)
    guard.check_state_string("GGrr")
    guard.violations.clear()
    assert guard.violation_count == 1
