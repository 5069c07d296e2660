"""SUMO's own control on a network rebuilt by netconvert: a reference run of a .sumocfg.

``netconvert -s NET --tls.rebuild --tls.default-type TYPE`` replaces every traffic-light
program by SUMO's own (2-phase) one of that type; a plain ``sumo`` run over the
.sumocfg's routes then drives it. ampel does not command or watch these lights: the run
is a reference number only (the RESCO development-set table's ``sumo-actuated*``).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from scenarios.build import sumo_binary
from scenarios.external import read_sumocfg

#: netconvert's traffic-light types a rebuilt reference can use
REBUILT_TYPES = ("actuated", "delay_based", "static")
#: the names experiments give the rebuilt references -> netconvert's type
REBUILT_REFERENCES = {"sumo-rebuilt-actuated": "actuated",
                      "sumo-rebuilt-delay-based": "delay_based"}


@dataclass(frozen=True)
class RebuiltRun:
    """The output files of a rebuilt-reference run."""

    tripinfo: Path
    statistics: Path
    #: the files that define its vehicle types (additional files, then routes)
    type_files: tuple[Path, ...]


def run_rebuilt(sumocfg: str | Path, tls_type: str, seed: int, out_dir: Path,
                duration_s: float | None = None) -> RebuiltRun:
    """Rebuild the .sumocfg's network with ``tls_type`` lights and simulate it in ``out_dir``.

    ``duration_s`` counts from the configuration's begin (default: its end, else one
    hour). Raises ``subprocess.CalledProcessError`` when netconvert or sumo fails.
    """
    if tls_type not in REBUILT_TYPES:
        raise ValueError(f"tls_type must be one of {', '.join(REBUILT_TYPES)}, got {tls_type!r}")
    cfg = read_sumocfg(sumocfg)
    rebuilt = out_dir / f"{tls_type}.net.xml"
    subprocess.run([sumo_binary("netconvert"), "-s", str(cfg.net_file), "--tls.rebuild",
                    "--tls.default-type", tls_type, "-o", str(rebuilt), "--no-warnings"],
                   check=True, capture_output=True)
    if duration_s is not None:
        end = cfg.begin_s + duration_s
    else:
        end = cfg.end_s if cfg.end_s is not None else cfg.begin_s + 3600
    tripinfo, statistics = out_dir / "tripinfo.xml", out_dir / "statistics.xml"
    cmd = [sumo_binary("sumo"), "-n", str(rebuilt),
           "-r", ",".join(str(p) for p in cfg.route_files),
           "-b", str(cfg.begin_s), "-e", str(end), "--seed", str(seed),
           "--tripinfo-output", str(tripinfo),
           "--tripinfo-output.write-unfinished", "true",
           "--statistic-output", str(statistics),
           "--time-to-teleport", "300", "--no-step-log", "true", "--no-warnings", "true"]
    if cfg.additional_files:
        cmd += ["-a", ",".join(str(p) for p in cfg.additional_files)]
    subprocess.run(cmd, check=True, capture_output=True)
    return RebuiltRun(tripinfo, statistics, (*cfg.additional_files, *cfg.route_files))
