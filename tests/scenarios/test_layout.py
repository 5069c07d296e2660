"""Westentor's signal layout derived from the built network."""

from __future__ import annotations

import dataclasses

import pytest

from scenarios.layout import StateEncoder, build_layout
from signals import Colour, SafetyGuard, Sequencer


def test_every_link_belongs_to_one_group(westentor) -> None:
    layout = westentor.junctions[0].layout
    assert len(layout.link_group) == len(layout.links) == 24
    assert set(layout.link_group) == set(range(len(layout.model.groups)))


def test_crossing_streams_conflict_and_declared_pairs_do_not(westentor) -> None:
    model = westentor.junctions[0].layout.model
    assert model.conflicting("K1", "K5")  # Westring through vs Wilhelmstraße through
    assert model.conflicting("K3", "K2")  # left turn vs opposing through
    assert model.conflicting("F_W", "K5")  # crossing vs traffic across it
    assert not model.conflicting("K1", "R1")  # declared conditionally compatible
    assert not model.conflicting("K1", "K2")  # opposing through streams


def test_intergreens_come_from_geometry(westentor) -> None:
    model = westentor.junctions[0].layout.model
    values = set(model.intergreens.values())
    assert len(values) > 2  # computed per pair, not one typed-in constant
    # a pedestrian clearing a ~16 m crossing needs longer than a car clearing a stop line
    assert model.intergreen("F_W", "K5") > model.intergreen("K1", "K5") - 3


def test_conflicting_stage_is_refused(westentor) -> None:
    spec = westentor.spec.junctions[0]
    broken = dataclasses.replace(spec, stages=spec.stages + (("bad", ("K1", "K5")),))
    with pytest.raises(ValueError, match="K1.*K5|K5.*K1"):
        build_layout(broken, westentor.net)


def test_unknown_group_in_compatible_is_refused(westentor) -> None:
    spec = westentor.spec.junctions[0]
    broken = dataclasses.replace(spec, compatible=spec.compatible + (("K1", "K99"),))
    with pytest.raises(ValueError, match="K99"):
        build_layout(broken, westentor.net)


def test_encoder_gives_minor_green_to_yielding_right_turners(westentor) -> None:
    layout = westentor.junctions[0].layout
    model = layout.model
    s1 = model.stages[0]
    states = tuple(Colour.GREEN if g.name in s1.green else Colour.RED for g in model.groups)
    text = StateEncoder(layout).encode(states)
    for i, lk in enumerate(layout.links):
        group = model.groups[layout.link_group[i]].name
        if group == "K1" and lk.to_edge == "west_out":
            assert text[i] == "g"  # right turn yields to F_W and R1
        if group == "K1" and lk.to_edge == "south_out":
            assert text[i] == "G"
        if group not in s1.green:
            assert text[i] == "r"


def test_sequencer_output_maps_to_legal_sumo_states(westentor) -> None:
    layout = westentor.junctions[0].layout
    seq = Sequencer(layout.model)
    guard = SafetyGuard(layout.model, strict=True)
    encoder = StateEncoder(layout)
    for t in range(400):
        seq.request((t // 25) % len(layout.model.stages))
        states = seq.step()
        guard.check(states)
        text = encoder.encode(states)
        assert len(text) == len(layout.links)
        assert set(text) <= set("rugGy")
    assert guard.violation_count == 0
