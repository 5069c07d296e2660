"""Training through ``ampel train`` (tiny budget), ONNX export vs SB3, the ``rl`` controller."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from controllers.rl.policy import SHIPPED_POLICY, OnnxPolicy, RLController
from experiments.cli import main

pytestmark = pytest.mark.slow

TINY = ["--action-mode", "next-stage", "--episode", "100", "--eval-episode", "100",
        "--eval-seeds", "1", "--eval-every", "0",
        "--envs", "1", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, ampel_cache) -> Path:
    out = tmp_path_factory.mktemp("train")
    code = main(["train", "--scenario", "westentor", "--algo", "ppo", "--steps", "64",
                 "--checkpoint-every", "32", "--seed", "3", "--out", str(out), *TINY])
    assert code == 0
    return out


def test_train_writes_policy_spec_checkpoints_and_logs(trained: Path) -> None:
    spec = json.loads((trained / "policy.json").read_text())
    assert (trained / "policy.onnx").stat().st_size < 200_000
    assert spec["scenario"] == "westentor" and spec["algo"] == "ppo"
    assert spec["junctions"][0]["stages"][0].startswith("S1")
    assert spec["observation"]["encoding"] == "stage" and spec["shared"] is True
    assert spec["action"] == {"mode": "next-stage", "n": 4, "rule": "argmax of the scores"}
    t = spec["training"]
    assert t["seed"] == 3 and t["steps"] >= 64 and t["code_revision"]
    assert "ampel train --scenario westentor" in t["command"] and "--seed 3" in t["command"]
    assert t["final_eval"]["seeds"] == [1] and t["final_eval"]["safety_violations"] == 0
    assert sorted(p.name for p in (trained / "checkpoints").glob("*.zip"))
    assert list((trained / "tensorboard").rglob("events.out.tfevents*"))
    history = json.loads((trained / "evaluations.json").read_text())
    assert history[-1]["mean_delay_s"] > 0


def test_resume_continues_from_the_latest_checkpoint(trained: Path, tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "resumed"
    shutil.copytree(trained, out)
    before = json.loads((out / "policy.json").read_text())["training"]["steps"]
    code = main(["train", "--scenario", "westentor", "--algo", "ppo", "--steps", "128",
                 "--seed", "3", "--out", str(out), "--resume", *TINY])
    assert code == 0
    after = json.loads((out / "policy.json").read_text())["training"]
    assert after["steps"] >= 128 > before and after["resumed"] is True
    assert (out / "checkpoints" / f"ckpt_{after['steps']}.zip").is_file()


def test_onnx_and_sb3_choose_the_same_actions(trained: Path) -> None:
    from stable_baselines3 import PPO

    model = PPO.load(trained / "model.zip", device="cpu")
    policy = OnnxPolicy.load(trained / "policy.onnx")
    rng = np.random.default_rng(0)
    obs = rng.uniform(0, 1.5, size=(300, *model.observation_space.shape)).astype(np.float32)
    sb3, _ = model.predict(obs, deterministic=True)
    onnx = policy.scores(obs).argmax(axis=1)
    assert sb3.tolist() == onnx.tolist()
    assert len(set(onnx.tolist())) > 1 or policy.scores(obs).std() > 0


def test_shared_policy_scores_junctions_with_other_stage_counts(trained: Path) -> None:
    import torch
    from stable_baselines3 import PPO

    from controllers.rl.nets import ScoreModule

    model = PPO.load(trained / "model.zip", device="cpu")
    module = ScoreModule(model.policy, "ppo").eval()
    policy = OnnxPolicy.load(trained)
    rng = np.random.default_rng(1)
    for stages in (2, 3, 6):
        obs = rng.uniform(0, 1, size=(5, stages, 14)).astype(np.float32)
        scores = policy.scores(obs)
        assert scores.shape == (5, stages)
        with torch.no_grad():
            np.testing.assert_allclose(scores, module(torch.as_tensor(obs)).numpy(), atol=1e-5)


def test_dqn_export_matches_sb3(westentor, tmp_path: Path) -> None:
    from stable_baselines3 import DQN
    from stable_baselines3.common.logger import configure

    from controllers.rl.config import EnvConfig
    from controllers.rl.env import JunctionEnv
    from controllers.rl.export import export_policy

    cfg = EnvConfig(episode_s=60, encoding="lane")
    env = JunctionEnv(westentor, config=cfg)
    try:
        model = DQN("MlpPolicy", env, learning_starts=10, train_freq=4, seed=0, device="cpu")
        # a logger of our own: SB3's default one makes an empty /tmp/SB3-<time> folder
        model.set_logger(configure(str(tmp_path / "sb3"), []))
        model.learn(40)
        export_policy(model, "dqn", cfg, [env.info], tmp_path, {"seed": 0})
    finally:
        env.close()
    policy = OnnxPolicy.load(tmp_path)
    obs = np.random.default_rng(2).uniform(0, 1, (200, *env.observation_space.shape))
    sb3, _ = model.predict(obs.astype(np.float32), deterministic=True)
    assert sb3.tolist() == policy.scores(obs).argmax(axis=1).tolist()
    assert policy.spec["shared"] is False
    with pytest.raises(ValueError, match="trained for junction layout"):
        RLController(policy, _other_info(westentor), allow_other_layout=True)


def _other_info(westentor):
    from dataclasses import replace

    info = westentor.junctions[0].info
    return replace(info, junction="elsewhere", stage_names=info.stage_names[:3],
                   lanes=tuple(ln for ln in info.lanes if 3 not in ln.stages))


def test_rl_controller_runs_closed_loop_safely(trained: Path, westentor, tmp_path) -> None:
    from controllers.registry import controller_factory
    from controllers.runner import build_controllers, run_closed_loop

    factory = controller_factory("rl", {"policy": str(trained / "policy.onnx")})
    controllers = build_controllers(westentor, factory)
    result = run_closed_loop(westentor, controllers, seed=2, duration_s=300, out_dir=tmp_path)
    assert result.safety_violations == 0
    assert result.stage_changes > 0 and result.metrics["vehicles_arrived"] > 0


def test_wrong_layout_is_one_clear_line(trained: Path, westentor) -> None:
    policy = OnnxPolicy.load(trained)
    with pytest.raises(ValueError) as err:
        RLController(policy, _other_info(westentor))
    message = str(err.value)
    assert "\n" not in message and "elsewhere" in message and "S1_north_south" in message
    RLController(policy, _other_info(westentor), allow_other_layout=True)  # shared: allowed
    with pytest.raises(ValueError, match="not found"):
        OnnxPolicy.load(trained / "missing.onnx")


def test_policy_runs_without_torch(trained: Path, westentor) -> None:
    """Deployment imports neither torch nor stable-baselines3 (blocked in a subprocess)."""
    code = f"""
import sys
for name in ("torch", "stable_baselines3"):
    sys.modules[name] = None
from controllers.registry import controller_factory
from scenarios.scenario import load_scenario
from scenarios.observation import Observation
s = load_scenario("westentor")
j = s.junctions[0]
c = controller_factory("rl", {{"policy": {str(trained / "policy.onnx")!r}}})(j, s)
obs = Observation(junction=j.tls, time_s=10.0, stage=0, target_stage=None,
                  time_in_stage_s=10.0, allowed=(True,) * 4, lanes=())
print(c.decide(obs).stage)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[3], timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip()) in range(4)


def test_bad_train_input_is_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["train", "--scenario", "nowhere", "--out", str(tmp_path)]) == 2
    assert main(["train", "--scenario", "westentor", "--out", str(tmp_path), "--resume"]) == 2
    assert main(["train", "--scenario", "westentor", "--out", str(tmp_path),
                 "--eval-seeds", "1000-1002"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("ampel") for line in err)


@pytest.mark.skipif(not SHIPPED_POLICY.is_file(), reason="no shipped policy yet")
def test_shipped_policy_fits_westentor(westentor) -> None:
    from controllers.registry import controller_factory

    policy = OnnxPolicy.load(SHIPPED_POLICY)
    ctrl = controller_factory("rl")(westentor.junctions[0], westentor)
    assert ctrl.name == "rl" and ctrl.decision_interval_s == policy.spec["decision_interval_s"]
    assert "ampel train" in policy.spec["training"]["command"]


CAMERA_POLICY = SHIPPED_POLICY.parent.parent / "westentor-camera" / "policy.onnx"


def test_shipped_camera_policy_runs_with_cameras_and_is_refused_without(
        westentor, tmp_path: Path, capsys) -> None:
    policy = OnnxPolicy.load(CAMERA_POLICY)
    assert policy.spec["observation"]["sensing"] == "camera"
    assert policy.spec["seeds"]["test"] == list(range(500, 520))
    base = ["run", "--scenario", "westentor", "--controller", "rl", "--param",
            f"policy={CAMERA_POLICY}", "--duration", "300", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "loops")]) == 2
    assert "camera" in capsys.readouterr().err
    assert main([*base, "--sensing", "camera", "--out", str(tmp_path / "camera")]) == 0
    summary = json.loads((tmp_path / "camera" / "summary.json").read_text())
    assert summary["safety_violations"] == 0 and summary["vehicles_arrived"] > 0


def test_one_shared_policy_trains_on_all_corridor_junctions(tmp_path: Path) -> None:
    from scenarios.registry import registered

    if "werler_strasse" not in {e.name for e in registered()}:
        pytest.skip("corridor scenario not available")
    out = tmp_path / "corridor"
    code = main(["train", "--scenario", "werler_strasse", "--junction", "all", "--steps", "32",
                 "--out", str(out), *TINY, "--action-mode", "keep-switch"])
    assert code == 0
    spec = json.loads((out / "policy.json").read_text())
    assert [j["junction"] for j in spec["junctions"]] == ["ws1", "ws2", "ws3", "ws4"]
    assert spec["shared"] is True and spec["training"]["final_eval"]["safety_violations"] == 0
    policy = OnnxPolicy.load(out)
    from scenarios.scenario import load_scenario

    corridor = load_scenario("werler_strasse")
    for junction in corridor.junctions:  # one file serves every junction, no override
        RLController(policy, junction.info)
