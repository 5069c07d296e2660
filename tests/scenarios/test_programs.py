"""The programs SUMO runs: tlLogic from the network and additional files, offsets, the
derived plan keeping the program's cycle, greens and offset in both intergreen modes."""

from __future__ import annotations

from pathlib import Path

import pytest
from resco_nets import INGOLSTADT1_TLS, MEASURED, resco, with_programs

from scenarios.derive import derive_junction
from scenarios.external import read_sumocfg
from scenarios.netfile import active_programs, read_net
from scenarios.scenario import load_external

TLS = INGOLSTADT1_TLS


@pytest.fixture(scope="module")
def net():
    return read_net(read_sumocfg(resco("ingolstadt1")).net_file)


def _write(path: Path, text: str) -> Path:
    path.write_text(f"<additional>\n{text}\n</additional>\n", encoding="utf-8")
    return path


def test_additional_files_override_the_network_in_load_order(net, tmp_path: Path) -> None:
    assert active_programs(net)[TLS].program_id == "0"
    first = _write(tmp_path / "a.add.xml", MEASURED)
    later = _write(tmp_path / "b.add.xml", MEASURED.replace('"measured"', '"evening"')
                   .replace('offset="20"', 'offset="7"'))
    assert active_programs(net, (first,))[TLS].program_id == "measured"
    programs = active_programs(net, (first, later))
    assert (programs[TLS].program_id, programs[TLS].offset_s) == ("evening", 7.0)
    # a tlLogic without phases switches to a program loaded before
    back = _write(tmp_path / "c.add.xml", '<tlLogic id="gneJ207" programID="measured"/>')
    assert active_programs(net, (first, later, back))[TLS].program_id == "measured"


@pytest.mark.parametrize(("text", "match"), [
    ('<tlLogic id="gneJ207" programID="nope"/>', "unknown programID 'nope'"),
    ('<tlLogic id="nowhere" programID="x"><phase duration="5" state="G"/></tlLogic>',
     "no such traffic light"),
    ("<tlLogic id=", "does not parse"),
])
def test_bad_programs_are_one_line_errors(net, tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.add.xml"
    path.write_text(f"<additional>{text}</additional>")
    with pytest.raises(ValueError, match=match) as err:
        active_programs(net, (path,))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("mode", ["rilsa", "program"])
def test_the_plan_keeps_the_programs_cycle_greens_and_offset(net, tmp_path: Path,
                                                             mode: str) -> None:
    program = active_programs(net, (_write(tmp_path / "m.add.xml", MEASURED),))[TLS]
    d = derive_junction(net, TLS, program=program, mode=mode, begin_s=57600)
    model = d.layout.model
    n = len(model.stages)
    inter = [model.interstage_duration(k, (k + 1) % n) for k in range(n)]
    greens = [g for _, g in d.plan.greens]
    assert sum(greens) + sum(inter) == pytest.approx(program.cycle_s)  # 90 s kept
    # the program's stages: 30 s, 10 s, 41 s of green, 3 s transitions
    program_greens = [30.0, 10.0, 41.0]
    if mode == "program":
        assert inter == [3.0, 3.0, 3.0] and greens == program_greens
        assert d.lengthened_s == 0
    else:  # RiLSA transitions are longer: the time comes from the greens
        assert d.lengthened_s == pytest.approx(sum(inter) - 9.0) and d.lengthened_s > 0
        assert sum(greens) == pytest.approx(sum(program_greens) - d.lengthened_s)
    # SUMO's cycle position is (t - offset) mod cycle in absolute time; ampel counts from
    # the begin: 57600 s is 640 cycles, so the plan's offset is the program's
    assert d.plan.offset_s == pytest.approx(20.0)
    # no group is forced off before the program ends its green
    for k, st in enumerate(model.stages):
        for g in st.green:
            assert model.group(g).max_green_s >= greens[k] + inter[k - 1]


def test_a_program_starting_inside_a_transition_shifts_the_offset(net, tmp_path: Path) -> None:
    rotated = MEASURED.splitlines()
    phases = rotated[1:-1]
    text = "\n".join([rotated[0], *phases[-1:], *phases[:-1], rotated[-1]])  # amber first
    program = active_programs(net, (_write(tmp_path / "r.add.xml", text),))[TLS]
    d = derive_junction(net, TLS, program=program, mode="program", begin_s=0)
    assert d.plan.offset_s == pytest.approx(23.0)  # the first stage starts 3 s in


def test_external_scenario_carries_both_modes(tmp_path: Path) -> None:
    scenario = load_external(with_programs(tmp_path, "ingolstadt1", MEASURED, end=57700))
    junction = scenario.junctions[0]
    assert junction.intergreens == "rilsa" and junction.lengthened_s > 0
    program = junction.with_intergreens("program")
    assert program.intergreens == "program" and program.lengthened_s == 0
    assert [g for _, g in program.plan().greens] == [30.0, 10.0, 41.0]
    with pytest.raises(ValueError, match="rilsa or program"):
        junction.with_intergreens("geometric")


def test_program_intergreens_leave_out_a_stage_run_in_between() -> None:
    """cologne1 runs through (S1) -> amber 5 s -> left arrow (S2, 6 s) -> amber 5 s ->
    cross through (S3): the through groups' program intergreen is the 10 s of amber, not
    the 16 s the program takes with its arrow (a controller skipping the arrow must not
    wait for it); the derived plan still keeps the program's greens and cycle."""
    net = read_net(read_sumocfg(resco("cologne1")).net_file)
    tls = next(iter(net.static_programs))
    d = derive_junction(net, tls, mode="program")
    model = d.layout.model
    stages = {s.name: s.green for s in model.stages}
    (through_ns,) = stages["S1"] - stages["S2"]  # green in S1, not in the arrow stage
    (through_ew,) = stages["S3"] - stages["S4"]
    assert model.intergreens[(through_ns, through_ew)] == pytest.approx(10.0)
    assert [g for _, g in d.plan.greens] == [29.0, 6.0, 29.0, 6.0]
    assert d.lengthened_s == 0
