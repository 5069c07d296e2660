"""Parsed networks and derived signal layouts of external networks, cached on disk.

Deriving the signal model of every traffic light (groups, conflicts, intergreens from the
lane geometry, stages, the fixed-time plan) is most of what loading a large ``.sumocfg``
costs. :class:`DeriveCache` keeps the :class:`~scenarios.derive.DerivedJunction` objects
of a network, and the parsed :class:`~scenarios.netfile.NetFile`, in
``$AMPEL_CACHE/derived`` under a key that hashes

- the network file's bytes,
- the derivation's options (intergreen mode, begin time, each traffic light's program as
  SUMO runs it; for the parsed network its path), and
- the source of every module of ``scenarios`` and ``signals`` plus the Python and numpy
  versions, so that a change of the code that derives (or of the classes it pickles)
  never reuses an entry made by other code.

Entries are written atomically (a temporary file renamed into place). An entry that
cannot be read, does not unpickle or holds something else than expected is derived
afresh and replaced; a cache that cannot be written is skipped. Neither is an error.
Every code change makes new keys, so the cache prunes itself: a read touches its entry,
and each write removes the entries (and left-over temporary files) that no run has used
for :data:`PRUNE_AFTER_DAYS` days.
Unpickled signal models run their validation again (``SignalModel.__reduce__``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenarios.derive import DerivedJunction
from scenarios.netfile import NetFile

log = logging.getLogger(__name__)

#: packages whose source takes part in every key (the derivation and what it pickles)
CODE_PACKAGES = ("scenarios", "signals")
#: bump to drop every entry written by earlier formats
FORMAT = 1
#: entries unused for this many days are removed when the cache writes a new one
PRUNE_AFTER_DAYS = 30.0


def code_fingerprint(packages: Sequence[str] = CODE_PACKAGES) -> str:
    """Hash of the source files of ``packages`` (found next to this package), the Python
    and the numpy version."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(f"{FORMAT}|{sys.version}|{np.__version__}".encode())
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class DeriveCache:
    """Derived junctions of one network file, keyed by options and code (see module doc).

    Args:
        folder: where the entries live (``$AMPEL_CACHE/derived``).
        net_digest: :func:`file_digest` of the network file.
        code: :func:`code_fingerprint` of the deriving code.
    """

    folder: Path
    net_digest: str
    code: str
    #: False when the network file could not be read for its digest: nothing is cached
    #: (reading the network reports the problem)
    enabled: bool = True

    @classmethod
    def for_network(cls, net_file: Path, folder: Path) -> DeriveCache:
        """The cache of ``net_file`` in ``folder``."""
        try:
            digest = file_digest(net_file)
        except OSError:
            return cls(folder=folder, net_digest="", code="", enabled=False)
        return cls(folder=folder, net_digest=digest, code=code_fingerprint())

    def key(self, options: Sequence[object]) -> str:
        """Entry name for ``options`` (their reprs must describe them completely)."""
        digest = hashlib.sha256(f"{self.net_digest}|{self.code}".encode())
        for option in options:
            digest.update(repr(option).encode())
            digest.update(b"\0")
        return digest.hexdigest()

    def path(self, options: Sequence[object]) -> Path:
        """The file of the entry for ``options``."""
        return self.folder / f"{self.key(options)}.pickle"

    def get_or_derive(self, tls_ids: Sequence[str], options: Sequence[object],
                      derive: Callable[[str], DerivedJunction]) -> dict[str, DerivedJunction]:
        """The derived junctions of ``tls_ids`` under ``options``: from the cache, or by
        ``derive`` (then stored)."""
        if not self.enabled:
            return {tls: derive(tls) for tls in tls_ids}
        path = self.path((tuple(tls_ids), *options))
        found = self._load(path)
        if (isinstance(found, dict) and list(found) == list(tls_ids)
                and all(isinstance(v, DerivedJunction) for v in found.values())):
            return found
        derived = {tls: derive(tls) for tls in tls_ids}
        self._store(path, derived)
        return derived

    def net(self, net_file: Path, read: Callable[[Path], NetFile]) -> NetFile:
        """The parsed network file (keyed by its path too: a :class:`NetFile` names it):
        from the cache, or by ``read`` (then stored)."""
        if not self.enabled:
            return read(net_file)
        path = self.path(("netfile", str(net_file)))
        found = self._load(path)
        if isinstance(found, NetFile) and found.path == net_file:
            return found
        net = read(net_file)
        self._store(path, net)
        return net

    def route_flows(self, route_files: Sequence[Path], window: tuple[float, float],
                    estimate: Callable[[], tuple[tuple[tuple[str, str, float], ...], bool]]
                    ) -> tuple[tuple[str, str, float], ...]:
        """The demand estimated from route files over a time window (keyed by their
        bytes and the window): from the cache, or by ``estimate`` (stored only when it
        read every file, so that an unreadable file is reported each time)."""
        if not self.enabled:
            return estimate()[0]
        try:
            digests = tuple(file_digest(p) for p in route_files)
        except OSError:
            return estimate()[0]
        path = self.path(("route-flows", digests, tuple(window)))
        found = self._load(path)
        if isinstance(found, tuple) and all(
                isinstance(f, tuple) and len(f) == 3 and isinstance(f[2], float)
                for f in found):
            return found
        flows, complete = estimate()
        if complete:
            self._store(path, flows)
        return flows

    @staticmethod
    def _load(path: Path) -> object:
        """The entry's object; None when there is none or it is broken (logged)."""
        try:
            with open(path, "rb") as handle:
                found = pickle.load(handle)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - any broken entry is derived afresh
            log.info("derived-layout cache %s unreadable (%s); deriving afresh", path, exc)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # in use: kept by the pruning
        return found

    @staticmethod
    def _store(path: Path, value: object) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pickle")
            try:
                with os.fdopen(fd, "wb") as handle:
                    pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
            log.info("derived-layout cache %s not written (%s)", path, exc)
            return
        prune(path.parent, PRUNE_AFTER_DAYS)


def prune(folder: Path, days: float, now_s: float | None = None) -> int:
    """Remove the cache entries and temporary files in ``folder`` unused (not modified
    or touched) for ``days`` days; returns how many were removed. Files that vanish or
    cannot be removed meanwhile (another process) are skipped."""
    cutoff = (time.time() if now_s is None else now_s) - days * 86400.0
    removed = 0
    for entry in folder.glob("*.pickle"):
        with contextlib.suppress(OSError):
            if entry.stat().st_mtime < cutoff:
                entry.unlink()
                removed += 1
    if removed:
        log.info("derived-layout cache %s: %d entries unused for %g days removed", folder,
                 removed, days)
    return removed
