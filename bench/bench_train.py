"""Training throughput: environment steps and learner updates per second of ``ampel train``.

For 1 and 2 environments (one SUMO process each, ``SubprocVecEnv`` as ``ampel train``
builds it) the benchmark runs, alternating and in one invocation:

- ``train``: PPO with the shared stage-scoring policy and ``ampel train``'s default
  hyperparameters for the given budget; a callback times each rollout (environment steps,
  with the policy's forward pass) and each update phase (the learner's gradient steps);
- ``random``: the same vectorised environments driven by uniformly random actions for the
  same number of steps (the environments' cost without a policy or learner).

It prints environment steps per second (all environments together) in both loops, their
ratio, and the learner's minibatch updates per second. The learner runs single-threaded
(``torch.set_num_threads(1)``), so that the figures do not depend on how many cores the
machine lends PyTorch. Wall-clock rates: run it on a quiet machine, or read the ratios.

    python bench/bench_train.py                     # westentor, 1 and 2 envs, 1024 steps
    python bench/bench_train.py --envs 1 --steps 512
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import SubprocVecEnv, VecMonitor

from controllers.rl.config import EnvConfig
from controllers.rl.env import make_env
from controllers.rl.nets import StagePolicy
from controllers.rl.train import default_hyper


@dataclass
class Rates:
    """Seconds and counts of one loop."""

    env_steps: int = 0
    env_s: float = 0.0
    updates: int = 0
    update_s: float = 0.0

    @property
    def steps_per_s(self) -> float:
        """Environment steps per second (all environments together)."""
        return self.env_steps / self.env_s if self.env_s > 0 else math.nan

    @property
    def updates_per_s(self) -> float:
        """Learner minibatch updates per second of update phase."""
        return self.updates / self.update_s if self.update_s > 0 else math.nan


class PhaseTimer(BaseCallback):
    """Times SB3's rollout (collection) and update phases."""

    def __init__(self, rates: Rates, updates_per_rollout: int) -> None:
        super().__init__()
        self.rates = rates
        self._per_rollout = updates_per_rollout
        self._mark = 0.0
        self._steps_at = 0

    def _on_rollout_start(self) -> None:
        now = time.perf_counter()
        if self._mark:  # the previous update phase ends here
            self.rates.update_s += now - self._mark
            self.rates.updates += self._per_rollout
        self._mark = now
        self._steps_at = self.num_timesteps

    def _on_rollout_end(self) -> None:
        now = time.perf_counter()
        self.rates.env_s += now - self._mark
        self.rates.env_steps += self.num_timesteps - self._steps_at
        self._mark = now

    def _on_step(self) -> bool:
        return True

    def finish(self) -> None:
        """Close the last update phase (``learn`` returns right after it)."""
        if self._mark:
            self.rates.update_s += time.perf_counter() - self._mark
            self.rates.updates += self._per_rollout
            self._mark = 0.0


def _venv(config: EnvConfig, envs: int) -> VecMonitor:
    return VecMonitor(SubprocVecEnv([make_env(config, None) for _ in range(envs)],
                                    start_method="forkserver"))


def train_loop(config: EnvConfig, envs: int, steps: int, seed: int) -> Rates:
    """``ampel train``'s PPO loop for ``steps`` environment steps, timed by phase."""
    hyper = default_hyper("ppo", envs, steps)
    per_rollout = hyper["n_steps"] * envs
    updates = hyper["n_epochs"] * math.ceil(per_rollout / hyper["batch_size"])
    rates = Rates()
    venv = _venv(config, envs)
    try:
        model = PPO(StagePolicy, venv, seed=seed, device="cpu", verbose=0, **hyper)
        timer = PhaseTimer(rates, updates)
        model.learn(steps, callback=timer)
        timer.finish()
    finally:
        venv.close()
    return rates


def random_loop(config: EnvConfig, envs: int, steps: int, seed: int) -> Rates:
    """The same environments driven by random actions for ``steps`` environment steps."""
    rates = Rates()
    venv = _venv(config, envs)
    try:
        venv.seed(seed)
        rng = np.random.default_rng(seed)
        n_actions = int(venv.action_space.n)  # type: ignore[attr-defined]
        venv.reset()
        started = time.perf_counter()
        done = 0
        while done < steps:
            venv.step(rng.integers(0, n_actions, size=envs))
            done += envs
        rates.env_s = time.perf_counter() - started
        rates.env_steps = done
    finally:
        venv.close()
    return rates


def main() -> None:
    """Run the benchmark and print one row per loop and number of environments."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="westentor")
    parser.add_argument("--envs", default="1,2", help="numbers of environments, comma-separated")
    parser.add_argument("--steps", type=int, default=1024,
                        help="environment steps per loop (all environments together)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = EnvConfig(scenario=args.scenario, demand_jitter=0.2)  # as `ampel train`
    print(f"{'envs':>4}  {'loop':<7} {'env steps/s':>11} {'vs random':>9} {'updates/s':>9}")
    for envs in (int(x) for x in args.envs.split(",")):
        results: dict[str, list[Rates]] = {"random": [], "train": []}
        for r in range(args.repeats):
            results["random"].append(random_loop(config, envs, args.steps, args.seed + r))
            results["train"].append(train_loop(config, envs, args.steps, args.seed + r))
        best: dict[str, Any] = {k: max(v, key=lambda x: x.steps_per_s)
                                for k, v in results.items()}
        base = best["random"].steps_per_s
        for name in ("random", "train"):
            rates = best[name]
            updates = f"{rates.updates_per_s:9.1f}" if rates.updates else f"{'-':>9}"
            print(f"{envs:>4}  {name:<7} {rates.steps_per_s:>11.1f} "
                  f"{rates.steps_per_s / base:>8.2f}x {updates}", flush=True)


if __name__ == "__main__":
    main()
