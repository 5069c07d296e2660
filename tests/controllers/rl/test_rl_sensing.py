"""Sensing profiles of learned control: ``ampel train --sensing``, the profile recorded in
``policy.json``, and the ``rl`` controller refusing a run without the policy's inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from controllers.rl.config import EnvConfig
from controllers.rl.features import ENVELOPE_FEATURES
from controllers.rl.policy import SENSING_FIELDS, OnnxPolicy, hidden_fields, hide
from scenarios.observation import LaneReading, Observation
from signals.errors import ConfigError, PolicyError

NOISY_CAMERA = "camera:noise=0.1,dropout=0.05"
CAMERA_COLUMNS = [ENVELOPE_FEATURES.index(f) for f in
                  ("camera_queue", "camera_approaching", "camera_slow")]


def fake_policy(encoding: str = "envelope", sensing: str | None = None) -> OnnxPolicy:
    observation = {"encoding": encoding, **({"sensing": sensing} if sensing else {})}
    return OnnxPolicy(path=Path("p/policy.onnx"), spec={"observation": observation},
                      session=None)


def test_env_config_rejects_an_unknown_profile() -> None:
    with pytest.raises(ConfigError, match="sensing profile"):
        EnvConfig(sensing="radar")


def test_env_config_takes_a_noisy_camera_profile(westentor) -> None:
    from controllers.rl.sim import apply_sensing

    config = EnvConfig(sensing="camera:noise=0.1,dropout=0.05")
    scenario = apply_sensing(westentor, config.sensing)
    assert scenario.sensing.name == "camera"
    assert (scenario.sensing.camera_noise, scenario.sensing.camera_dropout) == (0.1, 0.05)
    assert apply_sensing(scenario, "camera:noise=0.1,dropout=0.05") is scenario
    with pytest.raises(ConfigError, match="expected NAME:KEY=VALUE"):
        EnvConfig(sensing="camera:nois=0.1")


def test_camera_policy_is_refused_without_cameras() -> None:
    with pytest.raises(PolicyError, match="trained with camera sensing") as err:
        hidden_fields(fake_policy(sensing="camera"), "loops")
    assert "\n" not in str(err.value)
    with pytest.raises(PolicyError, match="trained with advance sensing"):
        hidden_fields(fake_policy(sensing="advance"), "camera")
    assert hidden_fields(fake_policy(sensing="camera"), "camera") == ()


def test_loops_policy_does_not_see_extra_sensors() -> None:
    old = fake_policy()  # policy.json without observation.sensing: trained with loops
    assert old.sensing == "loops"
    assert hidden_fields(old, "camera") == SENSING_FIELDS["camera"]
    assert hidden_fields(old, "advance") == SENSING_FIELDS["advance"]
    assert hidden_fields(fake_policy("stage", "camera"), "loops") == ()  # loops-only encoding
    lane = LaneReading("a_0", 1, 2, 0.5, True, 0.0, 0.0, camera_queue=4.0,
                       camera_approaching=2.0, camera_speed_mps=3.0, advance_count=1)
    obs = Observation("j", 10.0, 0, None, 5.0, (True,), (lane,))
    seen = hide(obs, SENSING_FIELDS["camera"]).lanes[0]
    assert (seen.camera_queue, seen.camera_approaching, seen.camera_speed_mps) == \
        (None, None, None)
    assert seen.advance_count == 1 and seen.stopline_count == 1 and seen.occupancy == 0.5


@pytest.fixture(scope="module")
def camera_policy(tmp_path_factory: pytest.TempPathFactory, ampel_cache) -> Path:
    """A tiny ``ampel train --method rollout`` run on noisy cameras."""
    from experiments.cli import main

    out = tmp_path_factory.mktemp("rollout-camera")
    code = main(["train", "--scenario", "westentor", "--method", "rollout", "--rounds", "1",
                 "--label-episodes", "1", "--episode", "240", "--eval-episode", "120",
                 "--horizon", "20", "--sample-share", "0.5", "--margin", "0,10",
                 "--val-seeds", "11", "--test-seeds", "500", "--seed", "2",
                 "--sensing", NOISY_CAMERA, "--out", str(out), "--quiet"])
    assert code == 0
    return out


@pytest.mark.slow
def test_camera_training_end_to_end(camera_policy: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Labels carry camera features, policy.json records the profile (its name for the
    inputs, the whole text with the noise for training), the policy runs with exact cameras
    and is refused (exit 2, one line) on a run with loops only."""
    from experiments.cli import main

    spec = json.loads((camera_policy / "policy.json").read_text())
    assert spec["observation"]["sensing"] == "camera"
    assert spec["env_config"]["sensing"] == NOISY_CAMERA
    t = spec["training"]
    assert f"--sensing {NOISY_CAMERA}" in t["command"] and "--margin 0,10" in t["command"]
    assert [v["name"] for v in t["validation"]] == \
        ["warm start (actuated)", "round 1, margin 0", "round 1, margin 10"]
    assert t["method"]["margins_veh_s"] == [0.0, 10.0]
    assert (camera_policy / "fit-round-1.zip").is_file()
    obs = np.load(camera_policy / "labels.npz")["obs"]
    assert obs[..., CAMERA_COLUMNS].max() > 0  # the camera was seen while labelling
    policy = f"policy={camera_policy / 'policy.onnx'}"
    run = tmp_path / "camera"
    assert main(["run", "--scenario", "westentor", "--controller", "rl", "--param", policy,
                 "--sensing", "camera", "--duration", "120", "--seed", "3", "--out", str(run),
                 "--quiet"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["safety_violations"] == 0 and summary["vehicles_arrived"] > 0
    capsys.readouterr()
    assert main(["run", "--scenario", "westentor", "--controller", "rl", "--param", policy,
                 "--duration", "60", "--out", str(tmp_path / "loops"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "trained with camera sensing" in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_fallback_bound_follows_the_camera_view(camera_policy: Path, westentor) -> None:
    """A camera policy's queue is the camera's count in view: the fallback's plausibility
    bound is what the view holds; a loops policy keeps the loops' bound and sees no camera."""
    from controllers.builders import build_rl
    from controllers.rl.fallback import FallbackParams
    from controllers.rl.policy import camera_queue_bound

    cam = westentor.with_sensing("camera")
    j = cam.junctions[0]
    ctrl = build_rl(j, cam, {"policy": str(camera_policy / "policy.onnx")})
    assert ctrl.hidden == ()
    bound = camera_queue_bound(cam.sensing.camera_range_m)
    assert ctrl.monitor.params.queue_between_veh == bound > FallbackParams().queue_between_veh
    shipped = build_rl(j, cam, {})  # the shipped policy was trained with loops
    assert shipped.hidden == SENSING_FIELDS["camera"]
    assert shipped.monitor.params.queue_between_veh == FallbackParams().queue_between_veh


def test_margin_copy_lowers_only_the_deviations(westentor) -> None:
    """A margin candidate is the same fit with hold/end scores lowered by margin/100."""
    import torch

    from controllers.rl.train_rollout import new_model, policy_logits, with_margin

    cfg = EnvConfig(reward="backlog", episode_s=300, action_mode="residual",
                    encoding="envelope", decision_interval_s=1, sensing="camera")
    model = new_model(cfg, None, 0.0, seed=3)
    with torch.no_grad():
        model.policy.action_net.out.weight.normal_(0.0, 1.0)
    copy = with_margin(model, 5.0, 25.0, cfg, None, seed=4)
    x = torch.as_tensor(np.random.default_rng(0).uniform(
        0, 1, (8, *model.observation_space.shape)).astype(np.float32))
    with torch.no_grad():
        diff = (policy_logits(copy.policy, x) - policy_logits(model.policy, x)).numpy()
    np.testing.assert_allclose(diff[:, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(diff[:, 1:], -0.2, atol=1e-5)


@pytest.mark.slow
def test_experiment_with_a_camera_policy(camera_policy: Path, tmp_path: Path) -> None:
    """The sweep's preflight builds the controller under the sweep's sensing profiles: a
    camera policy passes a camera sweep and is refused (exit 2) in a loops sweep."""
    from experiments.cli import main

    def sweep(sensing: str) -> int:
        cfg = tmp_path / f"{sensing}.yaml"
        cfg.write_text(f"name: cam-{sensing}\nscenarios: [westentor]\ncontrollers:\n"
                       f"  - {{name: rl, policy: {camera_policy / 'policy.onnx'}}}\n"
                       f"seeds: [1]\nsensing: [{sensing}]\nduration_s: 60\n")
        return main(["experiment", str(cfg), "--workers", "1", "--quiet",
                     "--out", str(tmp_path / sensing)])

    assert sweep("camera") == 0
    assert (tmp_path / "camera" / "results.csv").read_text().count("\n") == 2
    assert sweep("loops") == 2
