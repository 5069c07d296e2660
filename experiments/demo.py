"""``ampel demo``: the Hamm morning-peak comparison of every available controller."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from experiments.config import load_config

if TYPE_CHECKING:
    from experiments.report import Report
    from experiments.sweep import SweepOutcome

log = logging.getLogger(__name__)

DEMO_CONFIG = Path(__file__).resolve().parent / "configs" / "demo.yaml"


def _clear(root: Path) -> None:
    """Remove the files of an earlier demo in ``root`` (only files ampel wrote)."""
    for path in sorted((root / "runs").glob("*.json")):
        path.unlink()
    for name in ("experiment.json", "results.csv", "report.html"):
        (root / name).unlink(missing_ok=True)


@dataclass(frozen=True)
class DemoOutcome:
    """What a demo run produced: the sweep outcome, the report, and the controllers of the
    demo config that are not available yet (left out)."""

    sweep: SweepOutcome
    report: Report
    missing: tuple[str, ...]


def run_demo(args: argparse.Namespace) -> DemoOutcome:
    """Run the demo sweep (reusing finished runs) and write the report; the caller prints
    the outcome."""
    from experiments.backends import make_backend
    from experiments.report import write_report
    from experiments.sweep import preflight, run_sweep

    listed = load_config(DEMO_CONFIG, skip_missing_controllers=True)
    config = preflight(listed, skip_broken=True)
    import yaml

    wanted = [c if isinstance(c, str) else c.get("label", c["name"])
              for c in yaml.safe_load(DEMO_CONFIG.read_text())["controllers"]]
    available = {c.label for c in config.controllers}
    missing = tuple(label for label in wanted if label not in available)
    for label in missing:
        log.info("controller %r is not available yet; left out of the demo", label)
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
    report = write_report(root, root / "report.html")
    return DemoOutcome(outcome, report, missing)
