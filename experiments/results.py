"""Result files: written atomically so that a crash never leaves half a file behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scenarios.files import write_json_atomic
from scenarios.outpaths import writable_dir, writable_file

__all__ = ["code_revision", "ensure_writable_dir", "writable_file", "write_json_atomic"]


def ensure_writable_dir(path: str | Path, what: str = "output folder", *, empty: bool = False,
                        hint: str = "") -> Path:
    """Create ``path`` if needed and check that files can be written there (see
    :func:`scenarios.outpaths.writable_dir`)."""
    return writable_dir(path, what, empty=empty, hint=hint)


def code_revision() -> str:
    """The git revision of the ampel checkout, or 'unknown'."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parent, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"
