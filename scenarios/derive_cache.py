"""Derived signal layouts of external networks, cached on disk per network and options.

Deriving the signal model of every traffic light (groups, conflicts, intergreens from the
lane geometry, stages, the fixed-time plan) is most of what loading a large ``.sumocfg``
costs. :class:`DeriveCache` keeps the :class:`~scenarios.derive.DerivedJunction` objects
of a network in ``$AMPEL_CACHE/derived`` under a key that hashes

- the network file's bytes,
- the derivation's options (intergreen mode, begin time, each traffic light's program as
  SUMO runs it), and
- the source of every module of ``scenarios`` and ``signals`` plus the Python and numpy
  versions, so that a change of the code that derives (or of the classes it pickles)
  never reuses an entry made by other code.

Entries are written atomically (a temporary file renamed into place). An entry that
cannot be read, does not unpickle or holds something else than expected is derived
afresh and replaced; a cache that cannot be written is skipped. Neither is an error.
Unpickled signal models run their validation again (``SignalModel.__reduce__``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenarios.derive import DerivedJunction

log = logging.getLogger(__name__)

#: packages whose source takes part in every key (the derivation and what it pickles)
CODE_PACKAGES = ("scenarios", "signals")
#: bump to drop every entry written by earlier formats
FORMAT = 1


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

    @classmethod
    def for_network(cls, net_file: Path, folder: Path) -> DeriveCache:
        """The cache of ``net_file`` in ``folder``."""
        return cls(folder=folder, net_digest=file_digest(net_file), code=code_fingerprint())

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
        path = self.path((tuple(tls_ids), *options))
        found = self._load(path, tls_ids)
        if found is not None:
            return found
        derived = {tls: derive(tls) for tls in tls_ids}
        self._store(path, derived)
        return derived

    @staticmethod
    def _load(path: Path, tls_ids: Sequence[str]) -> dict[str, DerivedJunction] | None:
        try:
            with open(path, "rb") as handle:
                value = pickle.load(handle)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - any broken entry is derived afresh
            log.info("derived-layout cache %s unreadable (%s); deriving afresh", path, exc)
            return None
        if (not isinstance(value, dict) or list(value) != list(tls_ids)
                or not all(isinstance(v, DerivedJunction) for v in value.values())):
            log.info("derived-layout cache %s holds something else; deriving afresh", path)
            return None
        return value

    @staticmethod
    def _store(path: Path, value: dict[str, DerivedJunction]) -> None:
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
