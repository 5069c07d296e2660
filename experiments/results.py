"""Result files: written atomically so that a crash never leaves half a file behind."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from scenarios.files import write_json_atomic

__all__ = ["code_revision", "ensure_writable_dir", "write_json_atomic"]


def ensure_writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and check that files can be written there."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"output folder {path} is not writable: {exc.strerror or exc}") from None
    return path


def code_revision() -> str:
    """The git revision of the ampel checkout, or 'unknown'."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parent, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"
