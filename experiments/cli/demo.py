"""``ampel demo``: the Hamm morning-peak comparison of every available controller."""

from __future__ import annotations

import argparse
import sys

from experiments.cli.experiment import add_sweep_options, print_outcome
from hil.argtypes import duration_s, positive_int


def _cmd_demo(args: argparse.Namespace) -> int:
    from experiments.demo import run_demo

    demo = run_demo(args)
    for label in demo.missing:
        print(f"note: controller {label!r} is not available yet; left out", file=sys.stderr)
    code = print_outcome(demo.sweep, report_hint=False)
    print(f"\n{demo.report.markdown}\n\nreport: {demo.report.path}")
    return code


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``ampel demo``."""
    p = sub.add_parser(
        "demo", help="the Hamm morning-peak comparison of every available controller",
        description="Compare every registered controller (fixed-time, Webster, actuated, "
                    "max-pressure, the shipped learned policy, ... whichever exist) on the "
                    "Hamm morning peak over several seeds, then write the HTML report and print "
                    "a Markdown summary. Finished runs in OUT are reused.")
    add_sweep_options(p)
    p.add_argument("--seeds", type=positive_int, default=None,
                   help="number of seeds (default: from experiments/configs/demo.yaml)")
    p.add_argument("--duration", type=duration_s, default=None,
                   help="simulated seconds per run (default: from the demo config)")
    p.add_argument("--out", default="runs/demo", help="results folder (default: runs/demo)")
    p.add_argument("--fresh", action="store_true", help="discard earlier demo runs in OUT")
    p.set_defaults(handler=_cmd_demo)
