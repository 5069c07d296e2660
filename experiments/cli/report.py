"""``ampel report``: the HTML report of a results folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_report(args: argparse.Namespace) -> int:
    from experiments.report import write_report
    from experiments.store import ResultsDir
    from scenarios.outpaths import writable_file

    out = Path(args.output) if args.output is not None else Path(args.results) / "report.html"
    writable_file(out, "report file (-o)")
    bad = ResultsDir(Path(args.results)).bad_runs()
    for path, reason in bad:  # skipped by the report, named here; exit code 1
        print(f"ampel report: warning: skipped {path}: {reason}", file=sys.stderr)
    report = write_report(Path(args.results), out, baseline=args.baseline)
    print(report.markdown)
    print(f"\nreport: {out}")
    return 1 if bad else 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``ampel report``."""
    p = sub.add_parser(
        "report", help="write the HTML report of a results folder",
        description="Write a self-contained HTML report (images embedded, opens offline) of "
                    "an experiment's results and print a Markdown summary.")
    p.add_argument("results", metavar="RESULTS_DIR", help="folder written by 'ampel experiment'")
    p.add_argument("-o", "--output", default=None,
                   help="HTML file to write (default: RESULTS_DIR/report.html)")
    p.add_argument("--baseline", default=None,
                   help="controller label to compare against (default: the config's baseline)")
    p.set_defaults(handler=_cmd_report)
