"""Keep the dependency arrows and lint clean: experiments → hil → controllers → scenarios →
signals, and only scenarios (and the HIL bridge) import traci/libsumo."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["signals", "scenarios", "controllers", "hil", "experiments"]
SUMO_ALLOWED = {"scenarios", "hil/bridge.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", LAYERS)
def test_layers_only_import_downward(package: str) -> None:
    allowed = set(LAYERS[: LAYERS.index(package) + 1])
    forbidden = set(LAYERS) - allowed
    for path in (ROOT / package).rglob("*.py"):
        bad = _imports(path) & forbidden
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)} (upward)"


def test_only_scenarios_and_the_bridge_touch_sumo() -> None:
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("scenarios/") or rel in SUMO_ALLOWED:
                continue
            bad = _imports(path) & {"traci", "libsumo", "sumolib"}
            assert not bad, f"{rel} imports {sorted(bad)}"


def test_signals_is_pure() -> None:
    for path in (ROOT / "signals").rglob("*.py"):
        extra = _imports(path) - set(sys.stdlib_module_names) - {"numpy", "signals"}
        assert not extra, f"{path.name} imports {sorted(extra)}"


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed")
    out = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]
