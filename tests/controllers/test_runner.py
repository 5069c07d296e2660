"""Closed-loop runs with real SUMO (libsumo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controllers.registry import controller_factory
from controllers.runner import build_controllers, run_closed_loop

pytestmark = pytest.mark.slow


def _run(westentor, seed: int, out: Path, duration: float = 600):
    controllers = build_controllers(westentor, controller_factory("fixed-time"))
    return run_closed_loop(westentor, controllers, seed=seed,
                           duration_s=duration, out_dir=out)


def test_fixed_time_run_is_safe_and_plausible(westentor, tmp_path: Path) -> None:
    r = _run(westentor, 1, tmp_path / "a", duration=900)
    m = r.metrics
    assert r.safety_violations == 0
    assert m["vehicles_arrived"] > 200
    assert 5 < m["mean_delay_s"] < 200
    assert m["teleports"] == 0
    assert r.stage_changes >= 8


def test_same_seed_same_metrics_different_seed_differs(westentor, tmp_path: Path) -> None:
    a = _run(westentor, 5, tmp_path / "a")
    b = _run(westentor, 5, tmp_path / "b")
    c = _run(westentor, 6, tmp_path / "c")
    assert a.metrics == b.metrics
    assert a.metrics != c.metrics
