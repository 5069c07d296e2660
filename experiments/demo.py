"""``ampel demo``: the Hamm morning-peak comparison of every available controller."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

from experiments.config import load_config

log = logging.getLogger(__name__)

DEMO_CONFIG = Path(__file__).resolve().parent / "configs" / "demo.yaml"


def _clear(root: Path) -> None:
    """Remove the files of an earlier demo in ``root`` (only files ampel wrote)."""
    for path in sorted((root / "runs").glob("*.json")):
        path.unlink()
    for name in ("experiment.json", "results.csv", "report.html"):
        (root / name).unlink(missing_ok=True)


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo sweep (reusing finished runs), write the report, print the summary."""
    from experiments.backends import make_backend
    from experiments.cli.experiment import _print_outcome
    from experiments.report import write_report
    from experiments.sweep import preflight, run_sweep

    listed = load_config(DEMO_CONFIG, skip_missing_controllers=True)
    config = preflight(listed, skip_broken=True)
    import yaml

    wanted = [c if isinstance(c, str) else c.get("label", c["name"])
              for c in yaml.safe_load(DEMO_CONFIG.read_text())["controllers"]]
    for label in wanted:
        if label not in [c.label for c in config.controllers]:
            print(f"note: controller {label!r} is not available yet; left out",
                  file=sys.stderr)
    if args.seeds:
        config = replace(config, seeds=tuple(range(1, args.seeds + 1)))
    if args.duration:
        config = replace(config, duration_s=float(args.duration))
    root = Path(args.out)
    if args.fresh:
        _clear(root)
    backend = make_backend(args.workers, args.ray, args.ray_timeout)
    outcome = run_sweep(config, root, backend, resume=True, progress=not args.quiet,
                        allow_changed_config=True)
    code = _print_outcome(outcome, report_hint=False)
    report = write_report(root, root / "report.html")
    print()
    print(report.markdown)
    print(f"\nreport: {report.path}")
    return code
