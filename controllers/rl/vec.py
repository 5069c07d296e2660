"""A stable-baselines3 ``VecEnv`` over PettingZoo junction environments for parameter
sharing: every agent of every worker is one slot, so one policy learns from all junctions
at once while they all run under it (as they will when deployed).

Each worker process owns one :class:`JunctionsParallelEnv` (one libsumo simulation per
process). All agents must have the same observation and action spaces (junctions with the
same number of stages); the shared stage network itself has no such limit, only batching
in one training run does.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from controllers.rl.config import EnvConfig
from signals.errors import ConfigError


def _worker(remote: Any, config: EnvConfig, junctions: tuple[str, ...] | None) -> None:
    from controllers.rl.multi import JunctionsParallelEnv

    env = JunctionsParallelEnv(config.scenario, junctions=junctions, config=config)
    agents = list(env.possible_agents)
    try:
        while True:
            cmd, data = remote.recv()
            if cmd == "reset":
                obs, _ = env.reset(seed=data)
                remote.send([obs[a] for a in agents])
            elif cmd == "step":
                obs, rew, term, trunc, infos = env.step(dict(zip(agents, data, strict=True)))
                done = any(trunc.values()) or any(term.values())
                out_infos = [dict(infos[a]) for a in agents]
                if done:
                    for a, info in zip(agents, out_infos, strict=True):
                        info["terminal_observation"] = obs[a]
                        info["TimeLimit.truncated"] = True
                    obs, _ = env.reset()
                remote.send(([obs[a] for a in agents], [rew[a] for a in agents], done,
                             out_infos))
            elif cmd == "spaces":
                remote.send((agents, env.observation_space(agents[0]),
                             env.action_space(agents[0]),
                             [(env.observation_space(a).shape, env.action_space(a).n)
                              for a in agents]))
            elif cmd == "masks":
                masks = env.action_masks()
                remote.send([masks[a] for a in agents])
            elif cmd == "close":
                break
    finally:
        env.close()
        remote.close()


class SharedPolicyVecEnv(VecEnv):
    """``workers`` simulations of a scenario; every junction agent is one VecEnv slot."""

    def __init__(self, config: EnvConfig, workers: int = 2,
                 junctions: Sequence[str] | None = None) -> None:
        ctx = mp.get_context("forkserver")
        self._remotes, self._procs = [], []
        for _ in range(workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, config,
                                                     tuple(junctions) if junctions else None),
                               daemon=True)
            proc.start()
            child.close()
            self._remotes.append(parent)
            self._procs.append(proc)
        self._remotes[0].send(("spaces", None))
        agents, obs_space, act_space, shapes = self._remotes[0].recv()
        if len(set(shapes)) != 1:
            self.close()
            raise ConfigError("shared training needs junctions with equal stage counts "
                              f"(got {sorted(set(shapes))}); train them in separate runs")
        self.agents = agents
        self._per = len(agents)
        self._seeds: list[int | None] = [None] * workers
        self._actions: np.ndarray | None = None
        super().__init__(workers * self._per, obs_space, act_space)
        assert isinstance(act_space, spaces.Discrete)

    def _flat(self, chunks: list[list[np.ndarray]]) -> np.ndarray:
        return np.stack([x for chunk in chunks for x in chunk])

    def reset(self) -> np.ndarray:
        for remote, seed in zip(self._remotes, self._seeds, strict=True):
            remote.send(("reset", seed))
        self._seeds = [None] * len(self._remotes)
        return self._flat([r.recv() for r in self._remotes])

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(len(self._remotes), self._per)
        for remote, acts in zip(self._remotes, self._actions, strict=True):
            remote.send(("step", [int(a) for a in acts]))

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        results = [r.recv() for r in self._remotes]
        obs = self._flat([r[0] for r in results])
        rewards = np.array([x for r in results for x in r[1]], dtype=np.float32)
        dones = np.array([r[2] for r in results for _ in range(self._per)], dtype=bool)
        infos = [info for r in results for info in r[3]]
        return obs, rewards, dones, infos

    def seed(self, seed: int | None = None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        self._seeds = [seed + i for i in range(len(self._remotes))]
        return [s for s in self._seeds for _ in range(self._per)]

    def action_masks(self) -> np.ndarray:
        """Valid-action masks of every slot."""
        for remote in self._remotes:
            remote.send(("masks", None))
        return self._flat([r.recv() for r in self._remotes])

    def close(self) -> None:
        if getattr(self, "closed", False):
            return
        for remote in self._remotes:
            try:
                remote.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
        for proc in self._procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
        self.closed = True

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        if attr_name == "render_mode":
            return [None] * len(list(self._get_indices(indices)))
        raise AttributeError(f"SharedPolicyVecEnv does not expose {attr_name!r}")

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        raise AttributeError("SharedPolicyVecEnv attributes are read-only")

    def env_method(self, method_name: str, *args: Any, indices: Any = None,
                   **kwargs: Any) -> list[Any]:
        raise AttributeError(f"SharedPolicyVecEnv has no per-slot method {method_name!r}")

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(list(self._get_indices(indices)))
