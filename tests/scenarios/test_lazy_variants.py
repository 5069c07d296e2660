"""An external junction's ``program``-intergreen variant is derived when a controller
first asks for it (issue 15: loading a 100-junction network derived each one twice), and
then equals the one derived directly."""

from __future__ import annotations

from pathlib import Path

from resco_nets import INGOLSTADT1_TLS, MEASURED, with_programs

import scenarios.external as external
from scenarios.derive import derive_junction
from scenarios.netfile import active_programs
from scenarios.scenario import load_external


def test_program_variant_derived_on_first_use(tmp_path: Path, monkeypatch) -> None:
    modes: list[str] = []

    def counting(*args, **kwargs):
        modes.append(kwargs["mode"])
        return derive_junction(*args, **kwargs)

    monkeypatch.setattr(external, "derive_junction", counting)
    cfg = with_programs(tmp_path, "ingolstadt1", MEASURED, end=57700)
    scenario = load_external(cfg)
    junction = scenario.junctions[0]
    assert modes == ["rilsa"]
    program = junction.with_intergreens("program")
    assert modes == ["rilsa", "program"]
    assert junction.with_intergreens("program") is program  # derived once
    assert program.with_intergreens("rilsa") == junction
    config = external.read_sumocfg(cfg)
    direct = derive_junction(scenario.net, INGOLSTADT1_TLS, mode="program", begin_s=config.begin_s,
                             program=active_programs(scenario.net, config.additional_files)
                             .get(INGOLSTADT1_TLS))
    assert program.plans == (direct.plan,) and program.layout.tls == direct.layout.tls
    assert program.lengthened_s == direct.lengthened_s
