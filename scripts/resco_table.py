#!/usr/bin/env python
"""Development-set table: ampel's rule-based controllers on the RESCO networks vs SUMO.

A thin use of the experiment engine (``experiments/``, as ``ampel experiment`` runs it):
every (network, controller, seed) runs closed loop in the engine's worker processes (one
libsumo simulation each), and a Markdown table of the mean time loss over all vehicle
trips (unfinished trips included, as SUMO's tripinfo writes them) and the teleports is
printed.

    python scripts/resco_table.py --seeds 1-3 --controllers actuated,sotl,max-pressure \
        --sumo-reference

``--sumo-reference`` adds SUMO's own actuated control: ``netconvert --tls.rebuild
--tls.default-type actuated`` and a plain ``sumo`` run over the .sumocfg's routes (the
engine's ``sumo-rebuilt-actuated``). Network names are RESCO names (found in the
``sumo-rl`` package) or any scenario name or ``.sumocfg`` path that ``ampel run
--scenario`` accepts.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import statistics as st
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hil.argtypes import duration_s, positive_int, seed_list

if TYPE_CHECKING:
    from experiments.report import Group

RESCO = ("cologne1", "cologne3", "cologne8", "ingolstadt1", "ingolstadt7", "ingolstadt21")
SUMO_ACTUATED = "sumo-actuated*"
log = logging.getLogger("resco")


def scenario_path(net: str) -> str:
    """The .sumocfg of a RESCO network, else ``net`` unchanged (a scenario name or path)."""
    from signals.errors import ConfigError

    if net in RESCO or net in ("grid4x4", "arterial4x4"):
        spec = importlib.util.find_spec("sumo_rl")  # importing it would need SUMO_HOME
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError("the RESCO networks need the sumo-rl package (test extra)")
        root = Path(spec.submodule_search_locations[0]) / "nets" / "RESCO" / net
        return str(root / f"{net}.sumocfg")
    return net


def controller_entries(labels: list[str], sumo_reference: bool
                       ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Experiment-config entries of the ``--controllers`` labels (plus the SUMO reference)
    and the sensing profile per label (the label key ``sensing=...``, default loops)."""
    from experiments.config import label_entry
    from scenarios.sensing import SENSING_NAMES
    from signals.errors import ConfigError

    entries, sensing = [], {}
    for label in labels:
        entry = label_entry(label)
        sensing[label] = entry["params"].pop("sensing", "loops")
        if sensing[label] not in SENSING_NAMES:
            raise ConfigError(f"controller {label!r}: unknown sensing {sensing[label]!r} "
                              f"(known: {', '.join(SENSING_NAMES)})")
        entries.append(entry)
    if sumo_reference:
        entries.append({"name": "sumo-rebuilt-actuated", "label": SUMO_ACTUATED})
    return entries, sensing


def table(groups: list[Group], controllers: list[str], names: dict[str, str],
          failed: frozenset[tuple[str, str]] = frozenset()) -> str:
    """Markdown: one row per net (``names``: its row title), ``mean time loss (max
    teleports)`` per controller; ``error`` where a run (in ``failed``) failed."""
    lines = ["| net | " + " | ".join(controllers) + " |",
             "|" + "---|" * (len(controllers) + 1)]
    for g in groups:
        cells = []
        for ctl in controllers:
            if (g.scenario, ctl) in failed:
                cells.append("error")
                continue
            if not g.ok.get(ctl):
                cells.append("–")
                continue
            mean = st.fmean(g.values(ctl, "all_trips_mean_time_loss_s"))
            tele = int(max(g.values(ctl, "teleports")))
            jam = int(max(g.values(ctl, "jam_teleports")))
            cells.append(f"{mean:.1f}" + (f" ({tele} tp, {jam} jam)" if tele else ""))
        lines.append(f"| {names[g.scenario]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit 0, 1 (a safety violation) or 2 (bad input)."""
    from experiments.cli.options import script_main

    return script_main("resco_table", _main, argv)


def _main(argv: list[str] | None) -> int:
    from experiments.backends import LocalBackend
    from experiments.config import parse_config
    from experiments.report import group_records
    from experiments.results import RunRecord
    from experiments.sweep import run_all
    from scenarios.outpaths import writable_file

    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[1])
    ap.add_argument("--nets", default=",".join(RESCO),
                    help="comma list of RESCO networks (" + ", ".join(RESCO) + "; the "
                    "default is all), or of scenario names or .sumocfg paths")
    ap.add_argument("--controllers", default="fixed-time,actuated,sotl,max-pressure",
                    help="comma list of NAME or NAME:KEY=VALUE;KEY=VALUE (the key "
                    "sensing=loops|advance|camera picks the sensing profile)")
    ap.add_argument("--sumo-reference", action="store_true",
                    help="add SUMO's actuated control on the rebuilt net")
    ap.add_argument("--seeds", type=seed_list, default=seed_list("1-3"))
    ap.add_argument("--duration", type=duration_s, default=None,
                    help="simulated seconds (default: each network's own length)")
    ap.add_argument("--workers", type=positive_int, default=1)
    ap.add_argument("--json", type=Path, default=None, help="also write all runs here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.json is not None:
        writable_file(args.json, "--json")
    nets = args.nets.split(",")
    labels = args.controllers.split(",")
    entries, sensing = controller_entries(labels, args.sumo_reference)
    controllers = [e["label"] for e in entries]
    config = parse_config({"name": "resco-table", "scenarios": [scenario_path(n) for n in nets],
                           "controllers": entries, "seeds": list(args.seeds),
                           "duration_s": args.duration or "scenario"}, Path.cwd())
    specs = [replace(s, sensing=sensing.get(s.controller, "loops")) for s in config.runs()]

    def progress(_k: int, rec: RunRecord) -> None:
        name = names[rec.scenario]
        if not rec.ok:
            log.warning("%s %s seed %d: %s", name, rec.controller, rec.seed, rec.error)
            return
        log.info("%s %s seed %d: %.1f s, %d teleports, %d violations", name, rec.controller,
                 rec.seed, rec.value("all_trips_mean_time_loss_s"), rec.value("teleports"),
                 rec.safety_violations)

    names = dict(zip(config.scenarios, nets, strict=True))
    records = run_all(specs, LocalBackend(args.workers), progress)
    if args.json is not None:
        args.json.write_text(json.dumps([r.row() for r in records], indent=1))
    print(f"mean time loss [s] over all trips (unfinished included), seeds "
          f"{','.join(map(str, args.seeds))}; (N tp, M jam) = most teleports "
          "in one run, of them waiting in a jam (the rest: SUMO collision teleports)\n")
    groups, failed = group_records(records, config.scenarios, [1.0], controllers)
    print(table(groups, controllers, names,
                frozenset((r.scenario, r.controller) for r in failed)))
    violations = sum(r.safety_violations for r in records)
    print(f"\nsafety violations in all {len(records)} runs: {violations}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
