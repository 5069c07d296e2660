"""The shipped Werler Straße corridor policy: one shared residual policy at every junction,
with cameras, through the ``rl`` controller."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CORRIDOR = (Path(__file__).resolve().parents[3] / "controllers" / "rl" / "policies"
            / "werler_strasse-camera")


def test_corridor_policy_spec() -> None:
    """Shared, for every junction of the corridor, camera-trained, three seed sets."""
    spec = json.loads((CORRIDOR / "policy.json").read_text())
    assert spec["shared"] is True and spec["applies_to"] == "all"
    assert spec["scenario"] == "werler_strasse" and spec["action"]["mode"] == "residual"
    assert [j["junction"] for j in spec["junctions"]] == ["ws1", "ws2", "ws3", "ws4"]
    assert spec["observation"]["sensing"] == "camera"
    seeds = spec["seeds"]
    assert seeds["validation"] == list(range(11, 31)) and seeds["test"] == list(range(500, 520))
    assert not set(seeds["validation"]) & set(seeds["test"])
    assert "--junction all" in spec["training"]["command"]


@pytest.mark.slow
def test_corridor_policy_decides_every_junction(tmp_path: Path, ampel_cache) -> None:
    """A few minutes with cameras: 0 safety violations, and the policy (not only its
    fallback) decides at every one of the four junctions."""
    from controllers.registry import controller_factory
    from controllers.rl.policy import ResidualRLController
    from controllers.runner import build_controllers, run_closed_loop
    from scenarios.scenario import load_scenario

    scenario = load_scenario("werler_strasse").with_sensing("camera")
    controllers = build_controllers(scenario, controller_factory(
        "rl", {"policy": str(CORRIDOR / "policy.onnx")}))
    result = run_closed_loop(scenario, controllers, seed=3, duration_s=420, out_dir=tmp_path)
    assert result.safety_violations == 0
    assert len(controllers) == 4
    assert all(isinstance(c, ResidualRLController) for c in controllers)
    assert all(c.decisions > 0 for c in controllers)  # type: ignore[attr-defined]
    assert result.metrics["vehicles_arrived"] > 0
    assert 0.0 <= result.metrics["rl_fallback_share"] < 1.0
