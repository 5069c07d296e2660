"""Atomic file writes: a temporary file in the same folder, then a rename.

A crash or a kill never leaves half a file behind; readers see the old or the new file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_bytes_atomic(data: bytes, path: Path, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` atomically, with ordinary file permissions."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: Path, text: str, mode: int = 0o644) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    return write_bytes_atomic(text.encode("utf-8"), path, mode)


def write_json_atomic(data: Any, path: Path) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return write_text_atomic(path, json.dumps(data, indent=2) + "\n")
