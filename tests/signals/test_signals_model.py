from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from signals_junction import INTERGREENS, make_junction

from signals import SignalGroup, SignalModel, Stage

D = SignalGroup.default
GROUPS = (D("K1", "vehicle"), D("K2", "vehicle"), D("P1", "pedestrian"), D("F1", "bicycle"))
CONFLICTS = frozenset({frozenset({"K1", "K2"}), frozenset({"K2", "P1"}), frozenset({"K2", "F1"})})
STAGES = (Stage("S1", frozenset({"K1", "P1", "F1"})), Stage("S2", frozenset({"K2"})))


def build(**changes: Any) -> SignalModel:
    args: dict[str, Any] = {
        "groups": GROUPS,
        "conflicts": CONFLICTS,
        "intergreens": dict(INTERGREENS),
        "stages": STAGES,
    }
    args.update(changes)
    return SignalModel(**args)


def without(key: tuple[str, str]) -> dict[tuple[str, str], float]:
    return {k: v for k, v in INTERGREENS.items() if k != key}


def test_valid_model_and_helpers(junction: SignalModel) -> None:
    assert junction.group_names == ("K1", "K2", "P1", "F1")
    assert junction.index_of("P1") == 2
    assert junction.group("F1").amber_s == 2.0
    assert junction.conflicting("K1", "K2") and junction.conflicting("K2", "K1")
    assert not junction.conflicting("K1", "P1")
    assert junction.intergreen("P1", "K2") == 8.0
    assert junction.intergreen("K1", "P1") == 0.0
    assert junction.stage_index("S2") == 1
    assert junction.interstage_duration(0, 0) == 0.0
    assert junction.interstage_duration(0, 1) == 8.0  # P1 -> K2 intergreen
    assert junction.interstage_duration(1, 0) == 5.0  # K2 -> P1 intergreen
    assert hash(junction) == hash(make_junction())
    assert junction == make_junction()


def test_matrices(junction: SignalModel) -> None:
    conflicts = junction.conflict_matrix()
    assert conflicts.dtype == bool and (conflicts == conflicts.T).all()
    assert conflicts[0, 1] and not conflicts[0, 2]
    intergreens = junction.intergreen_matrix()
    assert intergreens[2, 1] == 8.0 and intergreens[1, 2] == 5.0
    assert np.count_nonzero(intergreens) == len(INTERGREENS)


def test_interstage_duration_rounds_up_to_ticks() -> None:
    groups = (SignalGroup("K1", "vehicle", 3.5, 1.0, 5, 60), D("K2", "vehicle"))
    model = SignalModel(
        groups,
        frozenset({frozenset({"K1", "K2"})}),
        {("K1", "K2"): 4.2, ("K2", "K1"): 4.0},
        (Stage("A", frozenset({"K1"})), Stage("B", frozenset({"K2"}))),
    )
    assert model.interstage_duration(0, 1) == pytest.approx(4.2)
    assert model.interstage_duration(0, 1, dt=1.0) == 5.0
    assert model.interstage_duration(0, 1, dt=0.5) == 4.5


def test_intergreens_are_read_only(junction: SignalModel) -> None:
    with pytest.raises(TypeError):
        junction.intergreens[("K1", "K2")] = 1.0  # type: ignore[index]


def test_conflicting_groups_in_one_stage_are_refused_naming_both() -> None:
    stages = (Stage("S1", frozenset({"K1", "K2", "P1"})), Stage("S2", frozenset({"F1"})))
    with pytest.raises(ValueError, match="stage 'S1' makes conflicting groups K1 and K2 green"):
        build(stages=stages)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"groups": GROUPS + (D("K1", "bus"),)}, "duplicate signal group name K1"),
        ({"groups": ()}, "at least one signal group"),
        ({"conflicts": CONFLICTS | {frozenset({"K1", "X9"})}}, "unknown group.*X9"),
        ({"conflicts": CONFLICTS | {frozenset({"K1"})}}, "two distinct groups"),
        ({"conflicts": [("K1", "K1")]}, "two distinct groups"),
        ({"conflicts": ["K1K2"]}, "pair of group names"),
        ({"intergreens": without(("K2", "P1"))}, "intergreen K2 -> P1 missing.*K2 and P1"),
        (
            {"intergreens": {**INTERGREENS, ("K1", "P1"): 4.0}},
            "intergreen K1 -> P1 given but K1 and P1 do not conflict",
        ),
        (
            {"intergreens": {**INTERGREENS, ("K1", "K2"): 2.0}},
            r"intergreen K1 -> K2 \(2 s\) is shorter than the amber of K1 \(3 s\)",
        ),
        ({"intergreens": {**INTERGREENS, ("K2", "P1"): 61.0}}, "K2 -> P1 .* exceeds 60 s"),
        ({"intergreens": {**INTERGREENS, ("K2", "X9"): 5.0}}, "unknown group X9"),
        ({"intergreens": {**INTERGREENS, ("K1", "K2"): float("inf")}}, "K1 -> K2 must be finite"),
        ({"stages": ()}, "at least one stage"),
        ({"stages": STAGES + (Stage("S1", frozenset({"K2"})),)}, "duplicate stage name 'S1'"),
        ({"stages": STAGES + (Stage("S3", frozenset()),)}, "stage 'S3' makes no group green"),
        (
            {"stages": STAGES + (Stage("S3", frozenset({"K1", "X9"})),)},
            "stage 'S3' names unknown group.*X9",
        ),
        ({"stages": (STAGES[0], Stage("S2", frozenset({"K1"})))}, "K2 green in no stage"),
    ],
)
def test_refusals(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build(**changes)


def test_stage_refuses_a_bare_string() -> None:
    with pytest.raises(ValueError, match="not a string"):
        Stage("S1", "K1")  # type: ignore[arg-type]


def test_helpers_refuse_unknown_names(junction: SignalModel) -> None:
    with pytest.raises(ValueError, match="unknown signal group 'X9'"):
        junction.group("X9")
    with pytest.raises(ValueError, match="unknown stage"):
        junction.stage_index("S9")
    with pytest.raises(ValueError, match="out of range"):
        junction.interstage_duration(0, 2)
