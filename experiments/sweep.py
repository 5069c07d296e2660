"""A sweep: every run of an experiment config, stored as each finishes, resumable
(:func:`run_sweep`); or a list of runs without a results folder (:func:`run_all`)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from experiments.backends import Backend
from experiments.config import ExperimentConfig, RunSpec
from experiments.results import RunRecord
from experiments.store import ResultsDir
from scenarios.rebuilt import REBUILT_REFERENCES
from signals.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class SweepOutcome:
    """What a sweep did."""

    root: Path
    planned: int
    reused: int = 0
    finished: int = 0
    failed: list[RunRecord] = field(default_factory=list)
    unsafe: list[RunRecord] = field(default_factory=list)
    table: Path | None = None


def preflight(config: ExperimentConfig, skip_broken: bool = False) -> ExperimentConfig:
    """Build every scenario (network cache) and every controller once before the sweep,
    under each of the sweep's sensing profiles.

    A controller that cannot be built for a scenario is an error naming it, or, with
    ``skip_broken`` (the demo), is left out with a logged warning.
    """
    from controllers.registry import controller_factory
    from controllers.runner import build_controllers
    from scenarios.scenario import load_scenario
    from scenarios.sensing import parse_sensing

    keep = []
    # every scenario under every sensing profile the sweep runs (a controller may need a
    # profile's detectors: an rl policy trained with cameras)
    scenarios = [sc if name == sc.sensing.name else sc.with_sensing(parse_sensing(name))
                 for sc in map(load_scenario, config.scenarios) for name in config.sensing]
    for entry in config.controllers:
        if entry.name in REBUILT_REFERENCES:  # SUMO's own, run by the worker
            keep.append(entry)
            continue
        try:
            for scenario in scenarios:
                build_controllers(scenario, controller_factory(entry.name, entry.params))
        except (ValueError, FileNotFoundError, ImportError) as exc:
            if not skip_broken:
                raise ConfigError(f"controller {entry.label!r}: {exc}") from None
            log.warning("skipping controller %r: %s", entry.label, exc)
            continue
        keep.append(entry)
    if not keep:
        raise ConfigError("no controller of the config can be built")
    if len(keep) == len(config.controllers):
        return config
    labels = [c.label for c in keep]
    baseline = config.baseline if config.baseline in labels else labels[0]
    return replace(config, controllers=tuple(keep), baseline=baseline)


def run_all(specs: Sequence[RunSpec], backend: Backend,
            on_record: Callable[[int, RunRecord], None] | None = None) -> list[RunRecord]:
    """Run ``specs`` without a results folder (the table scripts) and return their records
    in the order of ``specs``; ``on_record(k, record)`` sees the k-th record to finish."""
    order = {(s.run_id, s.controller): i for i, s in enumerate(specs)}
    out: list[RunRecord | None] = [None] * len(specs)
    for k, record in enumerate(backend.run(specs), 1):
        out[order[(record.run_id, record.controller)]] = record
        if on_record is not None:
            on_record(k, record)
    return [r for r in out if r is not None]


def run_sweep(config: ExperimentConfig, root: Path, backend: Backend, resume: bool = False,
              progress: bool = True, allow_changed_config: bool = False) -> SweepOutcome:
    """Run every run of ``config`` not yet finished in ``root``; store each as it ends.

    Without ``resume`` the folder must not hold runs yet. With it, runs that finished
    successfully are kept and skipped; failed and missing runs are (re)done; the config
    must be the one stored in the folder (ValueError naming the changed keys) unless
    ``allow_changed_config`` (the demo, which reuses whatever runs match). Only one sweep
    at a time writes to a folder (a lock file).
    """
    results = ResultsDir(root).create()
    with results.lock():
        return _run_locked(results, config, backend, resume, progress,
                           allow_changed_config)


def _run_locked(results: ResultsDir, config: ExperimentConfig, backend: Backend, resume: bool,
                progress: bool, allow_changed_config: bool) -> SweepOutcome:
    from tqdm import tqdm

    root = results.root
    specs = config.runs()
    stored = results.stored_ids()
    if stored and not resume:
        raise ConfigError(f"{root} already holds {len(stored)} run(s); pass --resume to "
                          "continue that sweep, or choose another output folder")
    changed = results.config_changes(config) if resume else []
    if changed and not allow_changed_config:
        raise ConfigError(f"{root} holds a sweep of another config (changed: "
                          f"{', '.join(changed)}); --resume needs the same config: restore "
                          "it, or run the edited config into another --out")
    results.write_experiment(config, backend.name)
    done = results.finished_ids(specs) if resume else set()
    todo = [s for s in specs if s.run_id not in done]
    outcome = SweepOutcome(root=root, planned=len(specs), reused=len(done))
    if done:
        log.info("resuming: %d of %d runs already finished", len(done), len(specs))
    try:
        with tqdm(total=len(todo), unit="run", desc=config.name, disable=not progress,
                  file=sys.stderr, dynamic_ncols=True, smoothing=0.1) as bar:
            for record in backend.run(todo):
                results.write_run(record)
                outcome.finished += 1
                if not record.ok:
                    outcome.failed.append(record)
                    bar.write(f"run {record.run_id} ({record.scenario}, "
                              f"{record.controller}, seed {record.seed}) failed: "
                              f"{record.error}", file=sys.stderr)
                elif record.unsafe:  # a reference's violations are SUMO's, not ampel's
                    outcome.unsafe.append(record)
                bar.update(1)
    finally:
        outcome.table = results.write_table()
    return outcome
