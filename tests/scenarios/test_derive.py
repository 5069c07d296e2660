"""Signal layouts derived from traffic-light programs of networks built by netgenerate."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from external_nets import grid, netgenerate, sumocfg

from scenarios.derive import derive_junction
from scenarios.external import read_sumocfg
from scenarios.layout import link_relations
from scenarios.netfile import read_net
from signals import GroupKind


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("derive")
    return {
        "amber": grid(folder, "amber", "--sidewalks.guess", "--crossings.guess"),
        "no_amber": grid(folder, "no_amber", "--tls.yellow.time", "0"),
        "all_red": grid(folder, "all_red", "--tls.allred.time", "2"),
        "joined": netgenerate(folder / "joined.net.xml", "--grid", "--grid.x-number", "2",
                              "--grid.y-number", "1", "--grid.length", "20",
                              "--grid.attach-length", "150", "-j", "traffic_light",
                              "--tls.join", "--tls.join-dist", "30", "--no-turnarounds"),
    }


def _check_consistent(net, tls: str) -> None:
    d = derive_junction(net, tls)
    layout, model = d.layout, d.layout.model
    links, foes, response = link_relations(net, tls)
    program = net.static_programs[tls]
    # every link in exactly one group, and a group's links share their state in every phase
    assert len(layout.link_group) == len(links)
    for gi in range(len(model.groups)):
        members = [i for i, g in enumerate(layout.link_group) if g == gi]
        assert members
        for _, state in program:
            assert len({state[i].upper() for i in members}) == 1
    # conflicting groups have foe links; non-conflicting foes are green together in the program
    names = model.group_names
    for a, b in combinations(range(len(names)), 2):
        la = [i for i, g in enumerate(layout.link_group) if g == a]
        lb = [i for i, g in enumerate(layout.link_group) if g == b]
        has_foes = bool(foes[np.ix_(la, lb)].any())
        if model.conflicting(names[a], names[b]):
            assert has_foes
            assert model.intergreen(names[a], names[b]) >= model.groups[a].amber_s
        elif has_foes:
            assert any(state[la[0]] in "Gg" and state[lb[0]] in "Gg" for _, state in program)
    # every stage is a program phase's green set; the plan covers every stage once
    phase_sets = [{names[layout.link_group[i]] for i, ch in enumerate(s) if ch in "Gg"}
                  for _, s in program]
    for stage in model.stages:
        assert set(stage.green) in phase_sets
    assert [n for n, _ in d.plan.greens] == [s.name for s in model.stages]


@pytest.mark.parametrize("kind", ["amber", "no_amber", "all_red", "joined"])
def test_every_traffic_light_derives_a_consistent_layout(nets, kind: str) -> None:
    net = read_net(nets[kind])
    assert len(net.tls_ids) >= (1 if kind == "joined" else 9)
    for tls in net.tls_ids:
        _check_consistent(net, tls)


def test_amber_comes_from_the_program_or_from_the_rules(nets) -> None:
    with_amber = derive_junction(read_net(nets["amber"]), "B1")
    without = derive_junction(read_net(nets["no_amber"]), "B1")
    assert with_amber.program_has_amber and not without.program_has_amber
    vehicles = [g for g in with_amber.layout.model.groups if g.kind is GroupKind.VEHICLE]
    assert {g.amber_s for g in vehicles} == {3.0}  # netgenerate's 3 s yellow
    # no amber in the program: RiLSA amber for 50 km/h, and the sequencer inserts it
    assert {g.amber_s for g in without.layout.model.groups} == {3.0}
    assert without.layout.model.interstage_duration(0, 1) >= 3.0
    assert any(g.kind is GroupKind.PEDESTRIAN for g in with_amber.layout.model.groups)


def test_program_all_red_raises_the_intergreens(nets) -> None:
    all_red = derive_junction(read_net(nets["all_red"]), "B1")
    assert all_red.program_has_all_red
    model = all_red.layout.model
    for (clearing, _entering), seconds in model.intergreens.items():
        assert seconds >= model.group(clearing).amber_s + 2.0


def test_joined_cluster_links_of_different_junctions_are_not_foes(nets) -> None:
    net = read_net(nets["joined"])
    tls = net.tls_ids[0]
    assert len(net.tls_junctions[tls]) == 2
    links, foes, _ = link_relations(net, tls)
    junction_of = [next(j for j in net.tls_junctions[tls]
                        if any(v.startswith(f":{j}_") for v in lk.via)) for lk in links]
    assert len(set(junction_of)) == 2
    for i, j in zip(*np.nonzero(foes), strict=True):
        assert junction_of[i] == junction_of[j]
    assert foes.any()


def test_sumocfg_errors_are_one_line_value_errors(tmp_path: Path, nets) -> None:
    with pytest.raises(ValueError, match="not found"):
        read_sumocfg(tmp_path / "missing.sumocfg")
    bad = tmp_path / "nonet.sumocfg"
    bad.write_text("<configuration><input/></configuration>", encoding="utf-8")
    with pytest.raises(ValueError, match="no net-file"):
        read_sumocfg(bad)
    broken = tmp_path / "broken.sumocfg"
    broken.write_text("<configuration><input>", encoding="utf-8")
    with pytest.raises(ValueError, match="not a valid SUMO configuration"):
        read_sumocfg(broken)
    net = nets["amber"]
    cfg = sumocfg(net.parent / "times.sumocfg", net, None, 100, 50)
    with pytest.raises(ValueError, match="not after begin"):
        read_sumocfg(cfg)
    cfg = sumocfg(net.parent / "ok.sumocfg", net, None, 60, 660)
    config = read_sumocfg(cfg)
    assert (config.begin_s, config.end_s, config.net_file) == (60.0, 660.0, net.resolve())
