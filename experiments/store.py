"""The results folder on disk: ``experiment.json``, ``runs/<run_id>.json``, ``results.csv``.

One job: where records live and how a sweep writes, locks and resumes its folder. The
record itself (its fields, JSON form and table row) is :mod:`experiments.results`.

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
from experiments.results import RunRecord, code_revision, record_problem
from scenarios.files import write_json_atomic, write_text_atomic
from scenarios.outpaths import writable_dir
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
        writable_dir(self.root)
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

    def write_run(self, record: RunRecord) -> Path:
        """Store one finished run (atomically)."""
        return write_json_atomic(record.to_dict(), self.run_path(record.run_id))

    def read_run(self, run_id: str) -> RunRecord | None:
        """A stored, valid run record, or None (missing or unreadable, see
        :meth:`inspect_run`)."""
        return self.inspect_run(run_id)[0]

    def inspect_run(self, run_id: str) -> tuple[RunRecord | None, str | None]:
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
        return (None, problem) if problem else (RunRecord.from_dict(record), None)

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
                if rec is not None and rec.ok:
                    done.add(s.run_id)
        return done

    def planned_records(self) -> list[RunRecord]:
        """Stored records of the runs the experiment plans, labelled as in its config."""
        records = []
        for entry in self.read_experiment()["runs"]:
            rec = self.read_run(entry["run_id"])
            if rec is not None:
                rec.controller = entry["controller"]
                records.append(rec)
        return records

    def write_table(self, records: list[RunRecord] | None = None) -> Path:
        """Rebuild ``results.csv`` from the run records (atomically)."""
        rows = [r.row() for r in (self.planned_records() if records is None else records)]
        columns = list(ID_COLUMNS)
        for row in rows:
            columns += [k for k in row if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        path = self.root / TABLE_FILE
        return write_text_atomic(path, buf.getvalue())

