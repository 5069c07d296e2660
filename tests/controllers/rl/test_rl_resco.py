"""The shipped policy for the RESCO cologne1 network (sumo-rl's nets, test extra)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.resco_nets import resco

COLOGNE1 = (Path(__file__).resolve().parents[3] / "controllers" / "rl" / "policies"
            / "cologne1-camera")


def test_cologne1_policy_spec() -> None:
    """Residual on actuated, camera-trained on cologne1, validation and test seeds apart."""
    spec = json.loads((COLOGNE1 / "policy.json").read_text())
    assert spec["scenario"].endswith("cologne1.sumocfg")
    assert spec["action"]["mode"] == "residual"
    assert spec["observation"]["sensing"] == "camera"
    seeds = spec["seeds"]
    assert seeds["validation"] == list(range(11, 31)) and seeds["test"] == list(range(500, 520))
    assert not set(seeds["validation"]) & set(seeds["test"])
    assert spec["training"]["selected"].startswith("round 1")  # a fit, not the warm start


@pytest.mark.slow
def test_cologne1_policy_decides_safely(tmp_path: Path, ampel_cache) -> None:
    """Ten minutes of cologne1 with cameras: the policy decides, nothing unsafe happens."""
    from controllers.registry import controller_factory
    from controllers.rl.policy import ResidualRLController
    from controllers.runner import build_controllers, run_closed_loop
    from scenarios.scenario import load_scenario

    scenario = load_scenario(str(resco("cologne1"))).with_sensing("camera")
    controllers = build_controllers(scenario, controller_factory(
        "rl", {"policy": str(COLOGNE1 / "policy.onnx")}))
    result = run_closed_loop(scenario, controllers, seed=500, duration_s=600, out_dir=tmp_path)
    assert result.safety_violations == 0
    assert [type(c) for c in controllers] == [ResidualRLController]
    assert controllers[0].decisions > 0  # type: ignore[attr-defined]
    assert result.metrics["vehicles_arrived"] > 0
    assert 0.0 <= result.metrics["rl_fallback_share"] < 1.0
