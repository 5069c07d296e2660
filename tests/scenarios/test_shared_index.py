"""A state index that drives several connections (SUMO allows it; RESCO's ingolstadt21
drives two lanes' movements with one index): every lane of them is an approach lane with
detectors and groups, and the intergreens cover every connection's path."""

from __future__ import annotations

import pytest
from resco_nets import resco

from scenarios.intergreen import IntergreenParameters, PathCache, intergreen_s
from scenarios.layout import link_relations
from scenarios.netfile import read_net
from scenarios.scenario import Scenario, load_scenario

#: ingolstadt21's traffic light whose indices 0 and 3 each drive two lanes
SHARED_TLS = "243641585"


@pytest.fixture(scope="module")
def ingolstadt21() -> Scenario:
    return load_scenario(str(resco("ingolstadt21")))


def test_every_controlled_lane_is_an_approach_lane(ingolstadt21: Scenario) -> None:
    net = read_net(resco("ingolstadt21").with_name("ingolstadt21.net.xml"))
    for junction in ingolstadt21.junctions:
        controlled = {lk.from_lane for lk in net.links[junction.info.junction]
                      if lk.is_connected and not lk.is_crossing}
        detected = {lane.lane for lane in junction.info.lanes}
        assert controlled == detected, junction.info.junction
    shared = next(j for j in ingolstadt21.junctions if j.info.junction == SHARED_TLS)
    lanes = {lane.lane for lane in shared.info.lanes}
    assert {"-201201945#0.78_2", "23166741#5_2"} <= lanes
    for lane in ("-201201945#0.78_2", "23166741#5_2"):
        assert shared.layout.groups_of_lane(lane)
        assert shared.layout.outgoing_lanes(lane)


def test_intergreens_cover_every_connection_of_an_index(ingolstadt21: Scenario) -> None:
    net = read_net(resco("ingolstadt21").with_name("ingolstadt21.net.xml"))
    layout = next(j for j in ingolstadt21.junctions
                  if j.info.junction == SHARED_TLS).layout
    _, foes, _ = link_relations(net, SHARED_TLS)
    model = layout.model
    names = [g.name for g in model.groups]
    params, paths = IntergreenParameters(), PathCache()

    def worst(clearing: str, entering: str, first_only: bool) -> float:
        c, e = names.index(clearing), names.index(entering)
        out = 0.0
        for i in (i for i, g in enumerate(layout.link_group) if g == c):
            for j in (j for j, g in enumerate(layout.link_group) if g == e):
                if not foes[i, j]:
                    continue
                ca = layout.connections[i][:1] if first_only else layout.connections[i]
                cb = layout.connections[j][:1] if first_only else layout.connections[j]
                for a in ca:
                    for b in cb:
                        out = max(out, intergreen_s(
                            model.groups[c].kind, net.lane_path(a),
                            clearing in layout.turning or a.direction in "lrLR",
                            model.groups[c].amber_s, model.groups[e].kind, net.lane_path(b),
                            entering in layout.turning or b.direction in "lrLR", params, paths))
        return out

    assert any(len(cons) > 1 for cons in layout.connections)
    for (clearing, entering), value in model.intergreens.items():
        assert value == worst(clearing, entering, first_only=False)
    # the second lane's longer clearing path: the first connections alone gave less
    assert worst("K3", "K1", first_only=True) < model.intergreens[("K3", "K1")]
