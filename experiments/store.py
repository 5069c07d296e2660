"""A results folder: ``experiment.json``, one ``runs/<run_id>.json`` per run, ``results.csv``.

The per-run JSON files are the source of truth; each is written atomically the moment its
run finishes. ``results.csv`` (one row per run, flat numbers, ``pandas.read_csv`` opens it)
is rebuilt from them.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import fcntl
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.config import ExperimentConfig, RunSpec
from experiments.results import code_revision, ensure_writable_dir, write_json_atomic
from experiments.worker import BULKY_KEYS
from scenarios.files import write_text_atomic
from signals.errors import ConfigError

EXPERIMENT_FILE = "experiment.json"
RUNS_DIR = "runs"
TABLE_FILE = "results.csv"
LOCK_FILE = ".ampel.lock"
ID_COLUMNS = ("run_id", "status", "scenario", "controller", "controller_name", "params", "seed",
              "demand_scale", "duration_s")


@dataclass(frozen=True)
class ResultsDir:
    """The files of one experiment's results."""

    root: Path

    @property
    def runs_dir(self) -> Path:
        """Folder of the per-run JSON files."""
        return self.root / RUNS_DIR

    def run_path(self, run_id: str) -> Path:
        """Where a run's record lives."""
        return self.runs_dir / f"{run_id}.json"

    def create(self) -> ResultsDir:
        """Make the folders (ValueError when not writable)."""
        ensure_writable_dir(self.root)
        self.runs_dir.mkdir(exist_ok=True)
        return self

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock file for the duration of a sweep.

        A second sweep into the same folder is refused (ValueError) while the first one
        runs. The lock is an ``flock``: the kernel releases it when its process dies, so a
        killed sweep never leaves a stale lock behind.
        """
        path = self.root / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                raise ConfigError(f"another ampel sweep (pid {holder}) is writing to "
                                  f"{self.root}; wait for it or choose another --out") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)

    def config_changes(self, config: ExperimentConfig) -> list[str]:
        """Top-level keys of ``config`` that differ from the config stored in the folder
        (the output folder itself does not count); [] when nothing is stored yet."""
        if not (self.root / EXPERIMENT_FILE).exists():
            return []
        stored = self.read_experiment().get("config") or {}
        current = json.loads(json.dumps(config.to_dict()))
        keys = sorted((set(stored) | set(current)) - {"output"})
        return [k for k in keys if stored.get(k) != current.get(k)]

    def write_experiment(self, config: ExperimentConfig, backend: str) -> None:
        """Record the config, the planned runs and the code revision."""
        write_json_atomic({
            "name": config.name,
            "config_text": config.source,
            "config": config.to_dict(),
            "code_revision": code_revision(),
            "backend": backend,
            "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "runs": [{"run_id": s.run_id, "scenario": s.scenario, "controller": s.controller,
                      "seed": s.seed, "demand_scale": s.demand_scale} for s in config.runs()],
        }, self.root / EXPERIMENT_FILE)

    def read_experiment(self) -> dict[str, Any]:
        """The experiment record (ValueError when this is not a results folder)."""
        path = self.root / EXPERIMENT_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{self.root} is not a results folder (no {EXPERIMENT_FILE}; "
                              "run 'ampel experiment CONFIG.yaml' first)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None

    def write_run(self, record: dict[str, Any]) -> Path:
        """Store one finished run (atomically)."""
        return write_json_atomic(record, self.run_path(record["run_id"]))

    def read_run(self, run_id: str) -> dict[str, Any] | None:
        """A stored, valid run record, or None (missing or unreadable, see
        :meth:`inspect_run`)."""
        return self.inspect_run(run_id)[0]

    def inspect_run(self, run_id: str) -> tuple[dict[str, Any] | None, str | None]:
        """``(record, None)`` for a valid stored run, ``(None, None)`` for a missing one,
        ``(None, reason)`` for a file that cannot be used (truncated, not a record, a metric
        that is not a number)."""
        path = self.run_path(run_id)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None, None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return None, f"not readable JSON ({exc})"
        problem = record_problem(record, run_id)
        return (None, problem) if problem else (record, None)

    def bad_runs(self) -> list[tuple[Path, str]]:
        """Stored run files of the planned runs that cannot be used, with the reason."""
        bad = []
        for entry in self.read_experiment()["runs"]:
            _, problem = self.inspect_run(entry["run_id"])
            if problem:
                bad.append((self.run_path(entry["run_id"]), problem))
        return bad

    def stored_ids(self) -> set[str]:
        """Ids of all stored runs."""
        if not self.runs_dir.is_dir():
            return set()
        return {p.stem for p in self.runs_dir.glob("*.json")}

    def finished_ids(self, specs: list[RunSpec]) -> set[str]:
        """Ids among ``specs`` that finished successfully already."""
        stored = self.stored_ids()
        done = set()
        for s in specs:
            if s.run_id in stored:
                rec = self.read_run(s.run_id)
                if rec is not None and rec.get("status") == "ok":
                    done.add(s.run_id)
        return done

    def planned_records(self) -> list[dict[str, Any]]:
        """Stored records of the runs the experiment plans, labelled as in its config."""
        records = []
        for entry in self.read_experiment()["runs"]:
            rec = self.read_run(entry["run_id"])
            if rec is not None:
                rec["controller"] = entry["controller"]
                records.append(rec)
        return records

    def write_table(self, records: list[dict[str, Any]] | None = None) -> Path:
        """Rebuild ``results.csv`` from the run records (atomically)."""
        rows = [flat_row(r) for r in (self.planned_records() if records is None else records)]
        columns = list(ID_COLUMNS)
        for row in rows:
            columns += [k for k in row if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        path = self.root / TABLE_FILE
        return write_text_atomic(path, buf.getvalue())


def record_problem(record: Any, run_id: str) -> str | None:
    """Why a run record cannot be used, or None."""
    if not isinstance(record, dict):
        return f"expected a run record (a JSON object), got a {type(record).__name__}"
    if record.get("run_id") != run_id or record.get("status") not in ("ok", "failed"):
        return "not a run record (run_id or status missing or wrong)"
    if record["status"] == "ok":
        metrics = record.get("metrics")
        if not isinstance(metrics, dict):
            return "no 'metrics' mapping"
        for key, value in metrics.items():
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, int | float)):
                return f"metric {key!r} is not a number: {value!r:.40}"
        for key in ("seed", "demand_scale"):
            if isinstance(record.get(key), bool) or not isinstance(record.get(key), int | float):
                return f"{key!r} is not a number"
    return None


def flat_row(record: dict[str, Any]) -> dict[str, Any]:
    """One table row: identifying columns, the metrics, counters; no per-vehicle data."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if key in BULKY_KEYS:
            continue
        if key == "metrics":
            row.update(value)
        elif key == "params":
            row[key] = json.dumps(value, sort_keys=True)
        else:
            row[key] = value
    return row
