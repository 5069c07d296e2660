"""Shipped policies trained inside the 30-minute budget: RESCO cologne1 (sumo-rl's nets,
test extra) and Westentor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.resco_nets import resco

POLICIES = Path(__file__).resolve().parents[3] / "controllers" / "rl" / "policies"
COLOGNE1 = POLICIES / "cologne1-camera"


@pytest.mark.parametrize(("folder", "scenario"), [("cologne1-camera", "cologne1.sumocfg"),
                                                  ("westentor-camera-30min", "westentor")])
def test_policy_spec(folder: str, scenario: str) -> None:
    """Residual on actuated, camera-trained, validation and test seeds apart, a fit chosen,
    trained inside 30 minutes of labelling and fitting."""
    spec = json.loads((POLICIES / folder / "policy.json").read_text())
    assert spec["scenario"].endswith(scenario)
    assert spec["training"]["train_wall_s"] <= 30 * 60
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
