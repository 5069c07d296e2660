"""The scenario registry: every folder under ``scenarios/hamm`` with a ``scenario.yaml``,
plus the user's scenarios (imported from OpenStreetMap, calibrated, or copied in).

User scenarios live in ``$AMPEL_SCENARIOS`` if set, else ``~/.local/share/ampel/scenarios``.
A user scenario is a folder with either a ``scenario.yaml`` or one ``.sumocfg`` (then it
loads as an external scenario, see :mod:`scenarios.external`); its name is the yaml's
``name`` or the folder name.

A user scenario that cannot be loaded, that takes the name of a Hamm scenario, or whose
name two folders declare, is not registered: :func:`problems` lists it with its error
(``ampel scenarios`` shows it), asking for it by name gives that error, and every other
scenario keeps working.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from scenarios.spec import ScenarioSpec, load_spec
from signals.errors import ScenarioError

log = logging.getLogger(__name__)

HAMM_DIR = Path(__file__).resolve().parent / "hamm"


@dataclass(frozen=True)
class RegistryEntry:
    """A registered scenario: its name, title and source folder (and .sumocfg, if external)."""

    name: str
    title: str
    folder: Path
    sumocfg: Path | None = None


@dataclass(frozen=True)
class BrokenEntry:
    """A user scenario folder that is not registered, and why (one line)."""

    name: str
    folder: Path
    error: str


def user_scenario_dir() -> Path:
    """Folder of the user's scenarios: ``$AMPEL_SCENARIOS`` or ``~/.local/share/ampel/...``."""
    env = os.environ.get("AMPEL_SCENARIOS")
    return Path(env) if env else Path.home() / ".local" / "share" / "ampel" / "scenarios"


def _title_of(folder: Path, default: str) -> str:
    card = folder / "CARD.md"
    if card.is_file():
        for line in card.read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return default


def _scan(root: Path) -> tuple[list[RegistryEntry], list[BrokenEntry]]:
    entries: list[RegistryEntry] = []
    broken: list[BrokenEntry] = []
    if not root.is_dir():
        return entries, broken
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        yaml_path = folder / "scenario.yaml"
        if yaml_path.is_file():
            try:
                spec = load_spec(yaml_path)
            except ValueError as exc:
                broken.append(BrokenEntry(folder.name, folder, str(exc)))
                continue
            entries.append(RegistryEntry(spec.name, spec.title, folder))
            continue
        cfgs = sorted(folder.glob("*.sumocfg"))
        if len(cfgs) == 1:
            entries.append(RegistryEntry(folder.name, _title_of(folder, cfgs[0].name), folder,
                                         cfgs[0]))
    return entries, broken


def _entries(root: Path) -> list[RegistryEntry]:
    return _scan(root)[0]


def _registry() -> tuple[dict[str, RegistryEntry], list[BrokenEntry]]:
    """Hamm's and the user's valid scenarios by name, and the user scenarios refused."""
    hamm = {e.name: e for e in _entries(HAMM_DIR)}
    user, broken = _scan(user_scenario_dir())
    entries = dict(hamm)
    folders: dict[str, list[RegistryEntry]] = {}
    for e in user:
        folders.setdefault(e.name, []).append(e)
    for name, found in folders.items():
        if name in hamm:
            broken += [BrokenEntry(name, e.folder, f"{e.folder}: scenario name {name!r} is "
                                   "taken by a Hamm scenario; rename it") for e in found]
        elif len(found) > 1:
            where = ", ".join(str(e.folder) for e in found)
            broken += [BrokenEntry(name, e.folder, f"scenario name {name!r} is declared by "
                                   f"{len(found)} folders ({where}); rename all but one")
                       for e in found]
        else:
            entries[name] = found[0]
    return entries, broken


def registered(root: Path | None = None) -> list[RegistryEntry]:
    """All registered scenarios sorted by name: Hamm's and the user's (or only ``root``'s).

    User scenarios that are refused (see :func:`problems`) are left out.
    """
    if root is not None:
        return _entries(root)
    entries, broken = _registry()
    for b in broken:
        log.debug("user scenario %s not registered: %s", b.folder, b.error)
    return [entries[k] for k in sorted(entries)]


def problems() -> list[BrokenEntry]:
    """The user scenarios that are not registered, each with its error."""
    return sorted(_registry()[1], key=lambda b: (b.name, str(b.folder)))


def find_entry(name: str, root: Path | None = None) -> RegistryEntry | None:
    """The registry entry called ``name``, or None; the error of a refused user scenario
    of that name (ValueError)."""
    for entry in registered(root):
        if entry.name == name:
            return entry
    if root is None:
        for b in problems():
            if b.name == name:
                raise ScenarioError(f"scenario {name!r} is not usable: {b.error}")
    return None


def find_spec(name: str, root: Path | None = None) -> ScenarioSpec:
    """The spec of a registered scenario, or a ValueError listing the known names."""
    entry = find_entry(name, root)
    if entry is not None and entry.sumocfg is None:
        return load_spec(entry.folder / "scenario.yaml")
    if entry is not None:
        raise ScenarioError(f"scenario {name!r} is an external .sumocfg scenario without a "
                            "scenario.yaml; load it with load_scenario")
    known = ", ".join(e.name for e in registered(root)) or "none"
    raise ScenarioError(f"unknown scenario {name!r} (known: {known}; see 'ampel scenarios')")
