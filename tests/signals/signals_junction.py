"""Test helpers for tests/signals: a small junction with two crossing vehicle streams,
a pedestrian crossing and a cycle track.

    K1  vehicle, main road          stage S1 = K1 + P1 + F1
    K2  vehicle, side road          stage S2 = K2
    P1  pedestrian, crossing K2's road
    F1  bicycle, alongside K1
"""

from __future__ import annotations

from signals import SignalGroup, SignalModel, Stage

INTERGREENS = {
    ("K1", "K2"): 5.0,
    ("K2", "K1"): 4.0,
    ("P1", "K2"): 8.0,
    ("K2", "P1"): 5.0,
    ("F1", "K2"): 6.0,
    ("K2", "F1"): 4.0,
}


def make_junction(k2_max_green: float = 60.0) -> SignalModel:
    """The four-group test junction; ``k2_max_green`` shortens K2's maximum green."""
    groups = (
        SignalGroup.default("K1", "vehicle"),
        SignalGroup("K2", "vehicle", 3.0, 1.0, 5.0, k2_max_green),
        SignalGroup.default("P1", "pedestrian"),
        SignalGroup.default("F1", "bicycle"),
    )
    conflicts = frozenset(
        {frozenset({"K1", "K2"}), frozenset({"K2", "P1"}), frozenset({"K2", "F1"})}
    )
    stages = (Stage("S1", frozenset({"K1", "P1", "F1"})), Stage("S2", frozenset({"K2"})))
    return SignalModel(groups, conflicts, dict(INTERGREENS), stages)
