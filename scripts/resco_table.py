#!/usr/bin/env python
"""Development-set table: ampel's rule-based controllers on the RESCO networks vs SUMO.

Runs every (network, controller, seed) closed loop (one libsumo simulation per worker
process) and prints a Markdown table of the mean time loss over all vehicle trips
(unfinished trips included, as SUMO's tripinfo writes them) and the teleports.

    python scripts/resco_table.py --seeds 1-3 --controllers actuated,sotl,max-pressure \
        --sumo-reference

``--sumo-reference`` adds SUMO's own actuated control: ``netconvert --tls.rebuild
--tls.default-type actuated`` and a plain ``sumo`` run over the .sumocfg's routes.
Network names are RESCO names (found in the ``sumo-rl`` package) or any scenario name
or ``.sumocfg`` path that ``ampel run --scenario`` accepts.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import statistics as st
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from hil.argtypes import seed_list

RESCO = ("cologne1", "cologne3", "cologne8", "ingolstadt1", "ingolstadt7", "ingolstadt21")
SUMO_ACTUATED = "sumo-actuated*"
log = logging.getLogger("resco")


def scenario_path(net: str) -> str:
    """The .sumocfg of a RESCO network, else ``net`` unchanged (a scenario name or path)."""
    if net in RESCO or net in ("grid4x4", "arterial4x4"):
        spec = importlib.util.find_spec("sumo_rl")  # importing it would need SUMO_HOME
        if spec is None or not spec.submodule_search_locations:
            raise ValueError("the RESCO networks need the sumo-rl package (test extra)")
        root = Path(spec.submodule_search_locations[0]) / "nets" / "RESCO" / net
        return str(root / f"{net}.sumocfg")
    return net


def trip_metrics(tripinfo: Path, statistics: Path) -> dict[str, float]:
    """Mean time loss over all vehicle trips (finished or not) and SUMO's teleport total."""
    losses = [float(el.get("timeLoss", "0"))
              for _, el in ET.iterparse(tripinfo) if el.tag == "tripinfo"]
    tele = jam = 0
    if statistics.exists():
        node = ET.parse(statistics).getroot().find("teleports")
        if node is not None:
            tele = int(node.get("total", "0"))
            jam = sum(int(node.get(k, "0")) for k in ("jam", "yield", "wrongLane"))
    return {"time_loss_s": st.fmean(losses) if losses else 0.0, "trips": len(losses),
            "teleports": tele, "jam_teleports": jam}


def _label(controller: str) -> tuple[str, dict[str, Any]]:
    name, _, rest = controller.partition(":")
    return name, dict(kv.split("=", 1) for kv in rest.split(";") if kv)


def run_ampel(net: str, controller: str, seed: int, out: Path) -> dict[str, Any]:
    """One ampel closed-loop run."""
    from controllers.registry import controller_factory
    from controllers.runner import build_controllers, run_closed_loop
    from scenarios.scenario import load_scenario

    scenario = load_scenario(scenario_path(net))
    name, params = _label(controller)
    sensing = params.pop("sensing", None)  # NAME:sensing=camera runs another sensing profile
    if sensing is not None:
        scenario = scenario.with_sensing(sensing)
    controllers = build_controllers(scenario, controller_factory(name, params))
    result = run_closed_loop(scenario, controllers, seed=seed,
                             duration_s=scenario.default_duration_s, out_dir=out)
    return {**trip_metrics(out / "tripinfo.xml", out / "statistics.xml"),
            "safety_violations": result.safety_violations}


def run_sumo_actuated(net: str, seed: int, out: Path) -> dict[str, Any]:
    """SUMO's own actuated control on the net rebuilt by netconvert."""
    from scenarios.build import sumo_binary
    from scenarios.external import read_sumocfg

    cfg = read_sumocfg(scenario_path(net))
    rebuilt = out / "actuated.net.xml"
    subprocess.run([sumo_binary("netconvert"), "-s", str(cfg.net_file), "--tls.rebuild",
                    "--tls.default-type", "actuated", "-o", str(rebuilt), "--no-warnings"],
                   check=True, capture_output=True)
    end = cfg.end_s if cfg.end_s is not None else cfg.begin_s + 3600
    cmd = [sumo_binary("sumo"), "-n", str(rebuilt),
           "-r", ",".join(str(p) for p in cfg.route_files),
           "-b", str(cfg.begin_s), "-e", str(end), "--seed", str(seed),
           "--tripinfo-output", str(out / "tripinfo.xml"),
           "--tripinfo-output.write-unfinished", "true",
           "--statistic-output", str(out / "statistics.xml"),
           "--time-to-teleport", "300", "--no-step-log", "true", "--no-warnings", "true"]
    if cfg.additional_files:
        cmd += ["-a", ",".join(str(p) for p in cfg.additional_files)]
    subprocess.run(cmd, check=True, capture_output=True)
    return {**trip_metrics(out / "tripinfo.xml", out / "statistics.xml"),
            "safety_violations": 0}


def run_one(task: tuple[str, str, int]) -> dict[str, Any]:
    """One run in this worker process."""
    net, controller, seed = task
    with tempfile.TemporaryDirectory(prefix="ampel-resco-") as tmp:
        try:
            if controller == SUMO_ACTUATED:
                rec = run_sumo_actuated(net, seed, Path(tmp))
            else:
                rec = run_ampel(net, controller, seed, Path(tmp))
        except (ValueError, subprocess.CalledProcessError) as exc:
            rec = {"error": str(exc).splitlines()[-1][:200]}
    return {"net": net, "controller": controller, "seed": seed, **rec}


def table(records: list[dict[str, Any]], nets: list[str], controllers: list[str]) -> str:
    """Markdown: one row per net, ``mean time loss (max teleports)`` per controller."""
    lines = ["| net | " + " | ".join(controllers) + " |",
             "|" + "---|" * (len(controllers) + 1)]
    for net in nets:
        cells = []
        for ctl in controllers:
            rs = [r for r in records if r["net"] == net and r["controller"] == ctl]
            if any("error" in r for r in rs):
                cells.append("error")
                continue
            if not rs:
                cells.append("–")
                continue
            mean = st.fmean(r["time_loss_s"] for r in rs)
            tele = max(r["teleports"] for r in rs)
            jam = max(r.get("jam_teleports", 0) for r in rs)
            cells.append(f"{mean:.1f}" + (f" ({tele} tp, {jam} jam)" if tele else ""))
        lines.append(f"| {net} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--nets", default=",".join(RESCO))
    ap.add_argument("--controllers", default="fixed-time,actuated,sotl,max-pressure",
                    help="comma list of NAME or NAME:KEY=VALUE;KEY=VALUE (the key "
                    "sensing=loops|advance|camera picks the sensing profile)")
    ap.add_argument("--sumo-reference", action="store_true",
                    help="add SUMO's actuated control on the rebuilt net")
    ap.add_argument("--seeds", type=seed_list, default=seed_list("1-3"))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None, help="also write all runs here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    nets = args.nets.split(",")
    controllers = args.controllers.split(",") + ([SUMO_ACTUATED] if args.sumo_reference
                                                  else [])
    tasks = [(n, c, s) for n in nets for c in controllers for s in args.seeds]
    records = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for rec in pool.map(run_one, tasks):
            records.append(rec)
            if "error" in rec:
                log.warning("%s %s seed %d: %s", rec["net"], rec["controller"], rec["seed"],
                            rec["error"])
                continue
            log.info("%s %s seed %d: %.1f s, %d teleports, %d violations", rec["net"],
                     rec["controller"], rec["seed"], rec["time_loss_s"], rec["teleports"],
                     rec["safety_violations"])
    if args.json is not None:
        args.json.write_text(json.dumps(records, indent=1))
    print(f"mean time loss [s] over all trips (unfinished included), seeds "
          f"{','.join(map(str, args.seeds))}; (N tp, M jam) = most teleports "
          "in one run, of them waiting in a jam (the rest: SUMO collision teleports)\n")
    print(table(records, nets, controllers))
    violations = sum(r.get("safety_violations", 0) for r in records)
    print(f"\nsafety violations in all {len(records)} runs: {violations}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
