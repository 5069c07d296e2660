"""Issue 14: scenario declarations are checked against the network geometry."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.build import build_network
from scenarios.layout import build_layout
from scenarios.netfile import read_net
from scenarios.spec import load_spec

WESTENTOR = Path(__file__).resolve().parents[2] / "scenarios/hamm/westentor/scenario.yaml"


def layout_of(tmp_path: Path, old: str, new: str):
    text = WESTENTOR.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "scenario.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    for src in WESTENTOR.parent.glob("*.xml"):
        (tmp_path / src.name).write_bytes(src.read_bytes())
    spec = load_spec(path)
    return build_layout(spec.junctions[0], read_net(build_network(spec)))


def test_crossing_through_movements_cannot_be_declared_compatible(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'compatible: \[K1, K5\]' is refused: .*cross") as e:
        layout_of(tmp_path, "      - [K5, R3]\n", "      - [K5, R3]\n      - [K1, K5]\n")
    assert "\n" not in str(e.value)


def test_declared_yielding_pairs_are_accepted(tmp_path: Path) -> None:
    layout = layout_of(tmp_path, "name: westentor", "name: westentor")
    assert frozenset(("K5", "R3")) not in layout.model.conflicts


def test_a_movement_with_an_unknown_edge_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="group K1 names edge 'nowhere_in'"):
        layout_of(tmp_path, "K1: {kind: vehicle, speed_kmh: 50, movements: [[north_in,",
                  "K1: {kind: vehicle, speed_kmh: 50, movements: [[nowhere_in,")
