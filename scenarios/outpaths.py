"""The one helper for output paths that a user names (files and folders).

Every command that writes where the user says checks the path here first, before any
work: a folder must be creatable and writable and not be a file; a file must not be a
folder, its folder must be writable; and nothing a user already has is overwritten unless
the caller says so (``--resume``, ``--force``, or a file ampel itself wrote). A failure is
one ``ValueError`` naming the path and what to do.

It lives in ``scenarios`` (below controllers, hil and experiments) so that every command
line can use it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from signals.errors import ConfigError


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _probe(folder: Path) -> None:
    fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe.")
    os.close(fd)
    os.unlink(probe)


def _as_path(path: str | Path, what: str) -> Path:
    if str(path).strip() == "":
        raise ConfigError(f"{what}: an empty path; give a file or folder name")
    return Path(path)


def writable_dir(path: str | Path, what: str = "output folder", *,
                 empty: bool = False, hint: str = "") -> Path:
    """Create folder ``path`` if needed and check that files can be written there.

    With ``empty`` the folder must not hold any (non-hidden) file yet, so that earlier
    results are never overwritten; ``hint`` says what to do instead (e.g. "pass --resume").
    """
    path = _as_path(path, what)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is a file, not a folder; choose a folder")
    if empty and path.is_dir():
        held = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
        if held:
            shown = ", ".join(held[:3]) + (", ..." if len(held) > 3 else "")
            raise ConfigError(f"{what} {path} already holds files ({shown}); "
                              f"{hint or 'choose another folder'}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        _probe(path)
    except OSError as exc:
        raise ConfigError(f"{what} {path} is not writable: {_reason(exc)}") from None
    return path


def writable_file(path: str | Path, what: str = "output file", *, overwrite: bool = True,
                  hint: str = "") -> Path:
    """Check that file ``path`` can be written: not a folder, its folder writable.

    The folder is created if missing. Without ``overwrite`` an existing file is refused
    (``hint`` says what to do instead).
    """
    path = _as_path(path, what)
    if path.is_dir() or str(path).endswith(os.sep):
        raise ConfigError(f"{what} {path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise ConfigError(f"{what} {path} exists already; "
                          f"{hint or 'choose another name or remove it'}")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"{what} {path} is not writable: permission denied")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise ConfigError(f"{what} {path}: {parent} is a file, not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _probe(parent)
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be written: {_reason(exc)}") from None
    return path


def foreign_files(folder: Path, ours: Iterable[str]) -> list[str]:
    """Names in ``folder`` (recursively, relative) that are not in ``ours``."""
    known = set(ours)
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and str(p.relative_to(folder)) not in known)
