"""The run record: the one typed shape of a run's result.

One job: what a run produced and how it looks as JSON and as a table row. The worker
makes :class:`RunRecord` objects, backends yield them, :mod:`experiments.store` writes and
reads them, the sweep, the report and the scripts read their fields. Where records live on
disk (the results folder, its lock and table file) is :mod:`experiments.store`'s job.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict

Status = Literal["ok", "failed"]


class ApproachCell(TypedDict):
    """Motor-vehicle delay of one approach in one run (``scenarios.metrics.approach_delays``)."""

    vehicles: float
    delay_sum_s: float
    unfinished: float


class QueueData(TypedDict):
    """Halting vehicles per junction and approach, sampled every ``interval_s`` seconds."""

    interval_s: float
    times_s: list[float]
    counts: dict[str, dict[str, list[int]]]


#: fields of a record that are not flat numbers for the results table
BULKY_FIELDS = ("approaches", "queues", "delays_s", "traceback", "violation_messages", "notes")
#: keys the JSON form of every record has (its identity)
IDENTITY = ("run_id", "scenario", "controller", "controller_name", "params", "seed",
            "demand_scale", "duration_s", "queue_sample_s")
#: counters a record carries beside its metrics (read like metrics by the report)
COUNTERS = ("safety_violations", "deferred_requests", "stage_changes", "wall_s")


@dataclass
class RunRecord:
    """Everything one run of a sweep produced (status ``ok``) or why it failed.

    The first block identifies the run (its :class:`~experiments.config.RunSpec`); a
    failed run has ``error`` and ``traceback`` and no metrics.
    """

    run_id: str
    scenario: str
    controller: str  # the label
    controller_name: str
    params: dict[str, Any]
    seed: int
    demand_scale: float
    duration_s: float | None
    queue_sample_s: float
    sensing: str = "loops"
    period: str | None = None
    status: Status = "ok"
    error: str | None = None
    traceback: str = ""
    wall_s: float = 0.0
    host: str = ""
    finished_at: str = ""
    code_revision: str = "unknown"
    scenario_name: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    safety_violations: int = 0
    #: who is responsible for the violations when not ampel (SUMO's own controllers)
    safety_violations_source: str | None = None
    deferred_requests: int = 0
    stage_changes: int = 0
    intergreens: str = "rilsa"
    violation_messages: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    approaches: dict[str, dict[str, ApproachCell]] = field(default_factory=dict)
    queues: QueueData | None = None
    delays_s: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the run finished."""
        return self.status == "ok"

    @property
    def unsafe(self) -> bool:
        """Whether ampel's guard recorded violations that are ampel's (not SUMO's program)."""
        return self.ok and self.safety_violations > 0 and not self.safety_violations_source

    def value(self, key: str) -> float:
        """A metric or a counter by name; NaN when the run has neither."""
        if key in self.metrics:
            return float(self.metrics[key])
        if key in COUNTERS:
            return float(getattr(self, key))
        return math.nan

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``runs/<run_id>.json``); empty optional fields are left out."""
        out = dataclasses.asdict(self)
        for key in ("period", "error", "safety_violations_source"):
            if out[key] is None:
                del out[key]
        if not out["notes"]:
            del out["notes"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """A record from its JSON form (check it with :func:`record_problem` first);
        keys this version does not know are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def row(self) -> dict[str, Any]:
        """One table row: identifying columns, the metrics, counters; no per-vehicle data."""
        row: dict[str, Any] = {}
        for key, value in self.to_dict().items():
            if key in BULKY_FIELDS:
                continue
            if key == "metrics":
                row.update(value)
            elif key == "params":
                row[key] = json.dumps(value, sort_keys=True)
            else:
                row[key] = value
        return row


def record_problem(record: Any, run_id: str) -> str | None:
    """Why the JSON form of a run record cannot be used, or None."""
    if not isinstance(record, dict):
        return f"expected a run record (a JSON object), got a {type(record).__name__}"
    if record.get("run_id") != run_id or record.get("status") not in ("ok", "failed"):
        return "not a run record (run_id or status missing or wrong)"
    missing = [k for k in IDENTITY if k not in record]
    if missing:
        return f"not a run record (missing {', '.join(missing)})"
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


def code_revision() -> str:
    """The git revision of the ampel checkout, or 'unknown'."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parent, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"
