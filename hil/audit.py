"""The audit trail: one JSON object per line, appended atomically.

Every line carries ``ts`` (UTC, ISO 8601), ``mono`` (monotonic seconds, for intervals),
``kind`` (``command``, ``anomaly``, ``alarm``, ``mode``, ``link``, ``info``) and ``event``.
Each line is written with a single ``write`` on a file opened with ``O_APPEND``, so lines of
concurrent writers never interleave and a crash leaves at most the last line incomplete.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from signals.errors import ConfigError

__all__ = ["AuditLog", "read_audit"]

KINDS = ("command", "anomaly", "alarm", "mode", "link", "info")


class AuditLog:
    """Append-only JSON-lines audit log (``path=None`` keeps records in memory only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None
        self.records: list[dict[str, Any]] = []
        self.keep = path is None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError as exc:
                raise ConfigError(f"cannot write audit log {path}: {exc.strerror}") from None

    def write(self, kind: str, event: str, **fields: Any) -> dict[str, Any]:
        """Append one record and return it."""
        if kind not in KINDS:
            raise ValueError(f"unknown audit kind {kind!r}")
        record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                  "mono": round(time.monotonic(), 4), "kind": kind, "event": event, **fields}
        if self.keep:
            self.records.append(record)
        if self._fd is not None:
            line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
            os.write(self._fd, line.encode("utf-8"))
        return record

    def close(self) -> None:
        """Close the file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_audit(path: Path) -> list[dict[str, Any]]:
    """All complete records of an audit log."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
