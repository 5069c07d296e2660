"""ampel/Junction-v0 and the PettingZoo environment on real SUMO (short episodes)."""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import controllers.rl  # noqa: F401  (registers ampel/Junction-v0)
from controllers.rl.env import JunctionEnv
from controllers.rl.multi import JunctionsParallelEnv

pytestmark = pytest.mark.slow


def rollout(env: JunctionEnv, seed: int, steps: int,
            after_reset: Callable[[], None] | None = None) -> tuple[list, list, list]:
    obs, info = env.reset(seed=seed)
    if after_reset is not None:
        after_reset()
    rng = np.random.default_rng(seed)
    observations, rewards, stages = [obs], [], [info["stage"]]
    for _ in range(steps):
        obs, reward, _, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        observations.append(obs)
        rewards.append(reward)
        stages.append(info["stage"])
        if truncated:
            break
    return observations, rewards, stages


@pytest.mark.parametrize("options", [
    {},
    {"action_mode": "keep-switch", "encoding": "lane", "reward": "pressure",
     "sensor_noise": 0.1, "sensor_dropout": 0.1},
    {"reward": "waiting"},
    {"reward": "queue"},
])
def test_env_passes_gymnasium_checker(westentor, options: dict) -> None:
    env = gym.make("ampel/Junction-v0", scenario="westentor", episode_s=60, **options)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_constructor_does_not_start_sumo(westentor) -> None:
    env = JunctionEnv(westentor)
    assert env.sim.session is None
    env.close()


def test_same_seed_same_rollout_and_other_seed_differs(westentor) -> None:
    a = JunctionEnv(westentor, episode_s=200, sensor_noise=0.1, sensor_dropout=0.05,
                    demand_jitter=0.2)
    b = JunctionEnv(westentor, episode_s=200, sensor_noise=0.1, sensor_dropout=0.05,
                    demand_jitter=0.2)
    try:
        oa, ra, sa = rollout(a, 11, 40)
        ob, rb, sb = rollout(b, 11, 40)  # b's session starts after a's reset closed it
        assert len(oa) == len(ob) == 41
        assert all(np.array_equal(x, y) for x, y in zip(oa, ob, strict=True))
        assert ra == rb and sa == sb
        oc, rc, _ = rollout(a, 12, 40)
        assert rc != ra
    finally:
        a.close()
        b.close()


def test_deferred_requests_are_reported_not_dropped(westentor) -> None:
    env = JunctionEnv(westentor, episode_s=300)
    try:
        _, info = env.reset(seed=1)
        assert info["action_mask"].tolist() == [True, False, False, False]  # switching on
        _, _, _, _, info = env.step(0)
        # request stage 2 repeatedly: the transition must eventually reach it
        reached, deferred_seen = False, False
        for _ in range(10):
            mask = env.action_masks()
            _, _, _, _, info = env.step(2)
            if not mask[2]:
                assert info["deferred"] and "deferred" in info["deferred_reason"]
                deferred_seen = True
            if info["stage"] == 2:
                reached = True
                break
        assert deferred_seen and reached
        assert info["deferred_requests"] >= 1
    finally:
        env.close()


def test_episode_end_reports_tripinfo_metrics(westentor) -> None:
    env = JunctionEnv(westentor, episode_s=100, demand_seeds=(3,))
    try:
        _, info = env.reset(seed=0)
        assert info["demand_seed"] == 3
        truncated, steps = False, 0
        while not truncated:
            _, reward, terminated, truncated, info = env.step(0)
            assert not terminated and reward <= 0
            steps += 1
        assert steps == 20
        m = info["episode_metrics"]
        assert m["vehicles_departed"] > 0 and m["safety_violations"] == 0
        assert env.sim.session is None  # closed at the end of the episode
        with pytest.raises(RuntimeError):
            env.step(0)
    finally:
        env.close()


def test_bad_action_and_option_are_value_errors(westentor) -> None:
    env = JunctionEnv(westentor, episode_s=60)
    try:
        env.reset(seed=0)
        with pytest.raises(ValueError):
            env.step(7)
    finally:
        env.close()
    with pytest.raises(ValueError, match="unknown environment option"):
        JunctionEnv(westentor, warp_speed=3)
    with pytest.raises(ValueError, match="no junction"):
        JunctionEnv(westentor, junction="nowhere")


def _corridor():
    from scenarios.scenario import load_scenario

    try:
        return load_scenario("werler_strasse")
    except ValueError:
        return None


def test_parallel_env_passes_pettingzoo_api_test(westentor) -> None:
    from pettingzoo.test import parallel_api_test

    scenario = _corridor() or westentor
    env = JunctionsParallelEnv(scenario, episode_s=120)
    try:
        parallel_api_test(env, num_cycles=30)
        obs, infos = env.reset(seed=4)
        assert set(obs) == {j.tls for j in scenario.junctions}
        for agent, x in obs.items():
            assert x.shape == env.observation_space(agent).shape
            assert x.shape[0] == len(infos[agent]["action_mask"])
    finally:
        env.close()


@pytest.mark.parametrize("options", [{}, {"action_mode": "keep-switch", "reward": "queue"}])
def test_resting_between_decisions_changes_no_observation(westentor, options: dict) -> None:
    """The agent's junction rests between its decisions (``ActionController.held_until``);
    observations, rewards, stages, counts, sequencer and guard equal ticking every second."""
    runs = []
    for rest in (True, False):
        env = JunctionEnv(westentor, episode_s=600, **options)
        try:
            runs.append(_rollout_resting(env, 3, 150, rest))
        finally:
            env.close()
    resting, ticking = runs
    assert len(resting[0]) == 121  # the 600-s episode: 120 decisions
    assert all(np.array_equal(x, y) for x, y in zip(resting[0], ticking[0], strict=True))
    assert resting[1:-1] == ticking[1:-1]
    assert ticking[-1] == 0 and resting[-1] > 60  # random actions: transitions, rests between


def _rollout_resting(env: JunctionEnv, seed: int, steps: int, rest: bool) -> tuple:
    """Random actions from a reset (the agent's junction resting or ticking every second):
    observations, rewards, stages, the junction's counts, sequencer and guard times, and
    the seconds it rested."""
    rested = [0]
    agent: list = []

    def prepare() -> None:  # the agent's junction exists once the episode is reset
        sj = env.sim.agents[env.agent_id].signalled
        agent.append(sj)
        if not rest:
            sj._held_until = None
        catch_up = sj.catch_up

        def counting() -> None:
            rested[0] += sj._rested
            catch_up()

        sj.catch_up = counting  # type: ignore[method-assign]

    observations, rewards, stages = rollout(env, seed, steps, prepare)
    sj = agent[0]
    sj.catch_up()
    return (observations, rewards, stages, sj.stage_changes, sj.deferred_requests,
            sj.sequencer.time_s, sj.guard.time_s, sj.guard.violation_count, rested[0])


def test_without_episode_metrics_sumo_computes_no_emissions_same_traffic(westentor) -> None:
    """An environment without episode metrics runs SUMO without the emissions device
    (nobody reads them); observations, rewards and stages equal those with it."""
    runs, commands = [], []
    for metrics in (True, False):
        env = JunctionEnv(westentor, episode_s=900, episode_metrics=metrics)
        try:
            runs.append(rollout(env, 5, 200, lambda e=env: commands.append(
                e.sim.session.command())))
        finally:
            env.close()
    assert "--device.emissions.probability" in commands[0]
    assert "--device.emissions.probability" not in commands[1]
    (oa, ra, sa), (ob, rb, sb) = runs
    assert len(oa) == len(ob) == 181  # the 900-s episode: 180 decisions
    assert all(np.array_equal(x, y) for x, y in zip(oa, ob, strict=True))
    assert ra == rb and sa == sb
    assert len(set(sa)) > 1  # random actions changed the stage
