"""The scenario registry: every folder under ``scenarios/hamm`` with a ``scenario.yaml``,
plus the user's scenarios (imported from OpenStreetMap, calibrated, or copied in).

User scenarios live in ``$AMPEL_SCENARIOS`` if set, else ``~/.local/share/ampel/scenarios``.
A user scenario is a folder with either a ``scenario.yaml`` or one ``.sumocfg`` (then it
loads as an external scenario, see :mod:`scenarios.external`); its name is the yaml's
``name`` or the folder name. Registered Hamm scenarios win over user ones of the same name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from scenarios.spec import ScenarioSpec, load_spec

HAMM_DIR = Path(__file__).resolve().parent / "hamm"


@dataclass(frozen=True)
class RegistryEntry:
    """A registered scenario: its name, title and source folder (and .sumocfg, if external)."""

    name: str
    title: str
    folder: Path
    sumocfg: Path | None = None


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


def _entries(root: Path) -> list[RegistryEntry]:
    entries = []
    if not root.is_dir():
        return entries
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        yaml_path = folder / "scenario.yaml"
        if yaml_path.is_file():
            spec = load_spec(yaml_path)
            entries.append(RegistryEntry(spec.name, spec.title, folder))
            continue
        cfgs = sorted(folder.glob("*.sumocfg"))
        if len(cfgs) == 1:
            entries.append(RegistryEntry(folder.name, _title_of(folder, cfgs[0].name), folder,
                                         cfgs[0]))
    return entries


def registered(root: Path | None = None) -> list[RegistryEntry]:
    """All registered scenarios sorted by name: Hamm's and the user's (or only ``root``'s)."""
    if root is not None:
        return _entries(root)
    entries = {e.name: e for e in _entries(user_scenario_dir())}
    entries.update({e.name: e for e in _entries(HAMM_DIR)})
    return [entries[k] for k in sorted(entries)]


def find_entry(name: str, root: Path | None = None) -> RegistryEntry | None:
    """The registry entry called ``name``, or None."""
    for entry in registered(root):
        if entry.name == name:
            return entry
    return None


def find_spec(name: str, root: Path | None = None) -> ScenarioSpec:
    """The spec of a registered scenario, or a ValueError listing the known names."""
    entry = find_entry(name, root)
    if entry is not None and entry.sumocfg is None:
        return load_spec(entry.folder / "scenario.yaml")
    if entry is not None:
        raise ValueError(f"scenario {name!r} is an external .sumocfg scenario without a "
                         "scenario.yaml; load it with load_scenario")
    known = ", ".join(e.name for e in registered(root)) or "none"
    raise ValueError(f"unknown scenario {name!r} (known: {known}; see 'ampel scenarios')")
