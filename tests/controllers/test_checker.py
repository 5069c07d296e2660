"""check_controller accepts the registered controllers and catches broken ones."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from controllers.base import StageRequest
from controllers.checker import ControllerCheckError, check_controller
from controllers.registry import controller_factory
from scenarios.scenario import Scenario, load_scenario

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def westentor(ampel_cache) -> Scenario:
    return load_scenario("westentor")


@pytest.mark.parametrize("name", ["fixed-time", "actuated", "max-pressure"])
def test_registered_controllers_pass(westentor: Scenario, name: str, tmp_path: Path) -> None:
    metrics = check_controller(controller_factory(name), westentor, tmp_path, duration_s=120,
                               make_with_params=lambda p: controller_factory(name, p))
    assert metrics["vehicles_departed"] > 0


class _Broken:
    name = "broken"
    decision_interval_s = 1.0
    needs_detectors = False

    def __init__(self, stage: int = 99, rng: random.Random | None = None) -> None:
        self.stage = stage
        self.rng = rng

    def decide(self, obs):
        if self.rng is not None:
            return StageRequest(self.rng.randrange(len(obs.allowed)))
        return StageRequest(self.stage)


def test_out_of_range_stage_is_caught(westentor: Scenario, tmp_path: Path) -> None:
    with pytest.raises(ControllerCheckError, match="stage 99"):
        check_controller(lambda j, s: _Broken(), westentor, tmp_path, duration_s=60)


def test_missing_protocol_attribute_is_caught(westentor: Scenario, tmp_path: Path) -> None:
    class NoInterval(_Broken):
        decision_interval_s = 0.0

    with pytest.raises(ControllerCheckError, match="decision_interval_s"):
        check_controller(lambda j, s: NoInterval(), westentor, tmp_path, duration_s=60)


def test_unseeded_randomness_is_caught(westentor: Scenario, tmp_path: Path) -> None:
    shared = random.Random()  # not reseeded between the two runs

    with pytest.raises(ControllerCheckError, match="not deterministic"):
        check_controller(lambda j, s: _Broken(rng=shared), westentor, tmp_path,
                         duration_s=240)


def test_silently_accepted_parameter_is_caught(westentor: Scenario, tmp_path: Path) -> None:
    with pytest.raises(ControllerCheckError, match="no_such_parameter"):
        check_controller(controller_factory("fixed-time"), westentor, tmp_path,
                         duration_s=60, make_with_params=lambda p: (lambda j, s: _Broken(0)))
