"""Traffic-light programs with state indices that control no connection (SUMO allows it;
RESCO's ingolstadt21 has them): no movement, no group, never a foe, always shown red."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from external_nets import grid, random_routes, sumocfg

from controllers.registry import controller_factory
from controllers.runner import build_controllers, run_closed_loop
from controllers.sumo_native import StateDecoder
from scenarios.derive import derive_junction
from scenarios.layout import NO_GROUP, StateEncoder, link_relations
from scenarios.netfile import read_net
from scenarios.scenario import load_scenario
from signals import Colour


def _prepend_unconnected(net: Path) -> Path:
    """Shift every traffic-light link index by one: index 0 controls no connection. The
    program shows the most permissive colour of the phase there, so only the masking
    keeps it out of the groups."""
    tree = ET.parse(net)
    root = tree.getroot()
    for con in root.iter("connection"):
        if con.get("tl") is not None and con.get("linkIndex") is not None:
            con.set("linkIndex", str(int(con.get("linkIndex", "0")) + 1))
    for phase in root.iter("phase"):
        state = phase.get("state", "")
        head = next((c for c in "Gy" if c in state), "r")
        phase.set("state", head + state)
    tree.write(net, encoding="utf-8", xml_declaration=True)
    return net


@pytest.fixture(scope="module")
def net_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("unconnected")
    return _prepend_unconnected(grid(folder, "unconnected"))


def test_unconnected_index_has_no_group_and_no_foe(net_path: Path) -> None:
    net = read_net(net_path)
    for tls in net.links:
        links, foes, response = link_relations(net, tls)
        assert not links[0].is_connected
        assert all(lk.is_connected for lk in links[1:])
        assert not foes[0].any() and not foes[:, 0].any()
        assert not response[0].any() and not response[:, 0].any()
        layout = derive_junction(net, tls).layout
        assert layout.link_group[0] == NO_GROUP
        assert NO_GROUP not in layout.link_group[1:]
        assert "" not in layout.incoming_lanes()
        n = len(layout.model.groups)
        all_green = StateEncoder(layout).encode((Colour.GREEN,) * n)
        assert len(all_green) == len(links)
        assert all_green[0] == "r" and set(all_green[1:]) <= {"G", "g"}
        decoded = StateDecoder(layout.link_group, n).decode("G" + "r" * (len(links) - 1))
        assert decoded == (Colour.RED,) * n


@pytest.mark.slow
@pytest.mark.parametrize("controller", ["fixed-time", "actuated"])
def test_net_with_unconnected_index_runs_safely(net_path: Path, tmp_path: Path,
                                                controller: str) -> None:
    folder = net_path.parent
    routes = random_routes(net_path, folder / f"{controller}.rou.xml", end_s=300,
                           period_s=2.0)
    cfg = sumocfg(folder / f"{controller}.sumocfg", net_path, routes, begin=0, end=300)
    scenario = load_scenario(str(cfg))
    controllers = build_controllers(scenario, controller_factory(controller))
    result = run_closed_loop(scenario, controllers, seed=1, duration_s=240,
                             out_dir=tmp_path / "out")
    assert result.safety_violations == 0, result.violation_messages
    assert result.metrics["vehicles_arrived"] > 0


def _add_dead_phases(net: Path, dead_s: float) -> Path:
    """After every amber phase, a phase in which only the unconnected index 0 is green."""
    tree = ET.parse(net)
    for logic in tree.getroot().iter("tlLogic"):
        phases = list(logic.iter("phase"))
        for ph in phases:
            if "y" in ph.get("state", ""):
                n = len(ph.get("state", ""))
                dead = ET.Element("phase", duration=f"{dead_s:g}", state="G" + "r" * (n - 1))
                logic.insert(list(logic).index(ph) + 1, dead)
    tree.write(net, encoding="utf-8", xml_declaration=True)
    return net


def test_phase_signalling_only_an_unconnected_index_is_no_clearance(
        net_path: Path, tmp_path: Path) -> None:
    dead_s = 20.0
    plain = read_net(net_path)
    padded_path = tmp_path / "dead.net.xml"
    padded_path.write_bytes(net_path.read_bytes())
    padded = read_net(_add_dead_phases(padded_path, dead_s))
    checked = 0
    for tls in plain.links:
        base = derive_junction(plain, tls).layout.model.intergreens
        rilsa = derive_junction(padded, tls).layout.model.intergreens
        program = derive_junction(padded, tls, mode="program").layout.model.intergreens
        assert rilsa == base  # the dead phase does not raise the RiLSA floors
        assert all(v >= dead_s for v in program.values())  # the program's timing keeps it
        checked += len(program)
    assert checked > 0
