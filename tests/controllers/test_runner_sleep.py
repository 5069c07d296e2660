"""Junctions resting under a plan are skipped by the runner (``SignalledJunction.sleep``):
the same signal states in every step and the same run as calling every junction."""

from __future__ import annotations

from pathlib import Path

import pytest

from controllers.registry import controller_factory
from controllers.runner import SignalledJunction, build_controllers, run_closed_loop
from scenarios.scenario import load_scenario
from scenarios.session import SumoSession

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("controller, params", [("fixed-time", {}), ("webster", {}),
                                                ("coordinated", {})])
def test_skipping_resting_junctions_changes_nothing(ampel_cache, tmp_path: Path,
                                                    monkeypatch, controller: str,
                                                    params: dict) -> None:
    scenario = load_scenario("werler_strasse")  # four junctions
    shown: list[tuple[float, str, str]] = []
    set_state = SumoSession.set_signal_state

    def recording(self: SumoSession, tls: str, state: str) -> None:
        shown.append((self.time_s, tls, state))
        set_state(self, tls, state)

    monkeypatch.setattr(SumoSession, "set_signal_state", recording)
    calls = [0]
    control_step = SignalledJunction.control_step

    def counting(self: SignalledJunction, *args, **kwargs) -> None:
        calls[0] += 1
        control_step(self, *args, **kwargs)

    monkeypatch.setattr(SignalledJunction, "control_step", counting)
    runs = []
    for skip in (False, True):
        shown.clear()
        calls[0] = 0
        controllers = build_controllers(scenario, controller_factory(controller, params))
        result = run_closed_loop(scenario, controllers, seed=2, duration_s=600,
                                 out_dir=tmp_path / str(skip), skip_resting=skip)
        runs.append((list(shown), result.metrics, result.stage_changes,
                     result.deferred_requests, result.safety_violations, calls[0]))
    every, skipped = runs
    assert skipped[:-1] == every[:-1]
    assert every[-1] == 600 * 4
    assert len(every[0]) > 40 and every[2] > 20  # states changed: the plans cycled
    assert skipped[-1] < every[-1] / 2  # most junction-steps were skipped
