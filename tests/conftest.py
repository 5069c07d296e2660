"""Shared fixtures: one network cache per test session, the Westentor scenario."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def ampel_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build networks into a per-session cache unless AMPEL_CACHE is set."""
    if os.environ.get("AMPEL_CACHE"):
        return Path(os.environ["AMPEL_CACHE"])
    path = tmp_path_factory.mktemp("ampel-cache")
    os.environ["AMPEL_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def westentor(ampel_cache: Path):
    """The Westentor scenario with its network built."""
    from scenarios.scenario import load_scenario

    return load_scenario("westentor")
