"""The scenario registry: every folder under ``scenarios/hamm`` with a ``scenario.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scenarios.spec import ScenarioSpec, load_spec

HAMM_DIR = Path(__file__).resolve().parent / "hamm"


@dataclass(frozen=True)
class RegistryEntry:
    """A registered scenario: its name, title and source folder."""

    name: str
    title: str
    folder: Path


def registered(root: Path = HAMM_DIR) -> list[RegistryEntry]:
    """All registered scenarios, sorted by name."""
    entries = []
    for yaml_path in sorted(root.glob("*/scenario.yaml")):
        spec = load_spec(yaml_path)
        entries.append(RegistryEntry(spec.name, spec.title, yaml_path.parent))
    return entries


def find_spec(name: str, root: Path = HAMM_DIR) -> ScenarioSpec:
    """The spec of a registered scenario, or a ValueError listing the known names."""
    for entry in registered(root):
        if entry.name == name:
            return load_spec(entry.folder / "scenario.yaml")
    known = ", ".join(e.name for e in registered(root)) or "none"
    raise ValueError(f"unknown scenario {name!r} (known: {known}; see 'ampel scenarios')")
