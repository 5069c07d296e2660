"""``ampel/Junction-v0``: a gymnasium environment controlling one junction of a scenario.

SUMO starts at ``reset()`` (never in the constructor) and every ``reset``/``close`` ends the
running simulation, so one process holds at most one libsumo simulation. Other junctions
of the scenario run their fixed-time plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from controllers.rl.config import EnvConfig
from controllers.rl.sim import Simulation
from scenarios.scenario import Scenario, load_scenario
from signals.errors import ConfigError

#: observations are clipped to this range
OBS_HIGH = 5.0


def make_config(config: EnvConfig | None, kwargs: dict[str, Any]) -> EnvConfig:
    """An EnvConfig from a config object and/or keyword arguments (unknown keys rejected)."""
    names = {f.name for f in fields(EnvConfig)}
    unknown = sorted(set(kwargs) - names)
    if unknown:
        raise ConfigError(f"unknown environment option(s): {', '.join(unknown)}")
    base = config.to_dict() if config is not None else {}
    base.update(kwargs)
    return EnvConfig(**base)


def resolve_scenario(scenario: str | Scenario) -> Scenario:
    """A loaded scenario from a name or a Scenario."""
    return load_scenario(scenario) if isinstance(scenario, str) else scenario


class JunctionEnv(gym.Env):
    """One junction under a learning agent.

    Args:
        scenario: scenario name or a loaded :class:`Scenario`.
        junction: traffic-light id of the junction to control (default: the first).
        config: an :class:`EnvConfig`; further keyword arguments override its fields.

    ``step(action)`` requests a stage (``next-stage``) or keeps/switches (``keep-switch``)
    and simulates ``decision_interval_s`` seconds. ``info`` carries ``action_mask`` (actions
    carried out at once), ``deferred``/``deferred_reason`` (what the sequencer postponed:
    never dropped, it starts as soon as the rules allow), ``stage``, ``target_stage`` and,
    at the end of an episode, ``episode_metrics`` from SUMO's tripinfo.
    """

    metadata = {"render_modes": []}
    action_space: spaces.Discrete

    def __init__(self, scenario: str | Scenario = "westentor", junction: str | None = None,
                 config: EnvConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        if isinstance(scenario, str):
            kwargs.setdefault("scenario", scenario)
        self.config = make_config(config, kwargs)
        self.scenario = resolve_scenario(scenario)
        tls = junction or self.scenario.junctions[0].tls
        self.sim = Simulation(self.scenario, self.config, (tls,))
        self.scenario = self.sim.scenario  # with the configured sensing profile
        self.agent_id = tls
        self.info = self.sim.junction(tls).info
        self.observation_space = spaces.Box(0.0, OBS_HIGH, self.sim.observation_shape(tls),
                                            dtype=np.float32)
        self.action_space = spaces.Discrete(self.sim.action_count(tls))

    def reset(self, *, seed: int | None = None, options: dict | None = None
              ) -> tuple[np.ndarray, dict]:
        """Start a new episode (ends the previous simulation first)."""
        super().reset(seed=seed)
        self.sim.start(self.np_random, options)
        obs = self._obs()
        return obs, {**self.sim.episode, **self._info()}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Apply an action and simulate one decision interval."""
        try:
            a = int(action)
        except (TypeError, ValueError):
            raise ValueError(f"action {action!r} is not an integer") from None
        if not 0 <= a < self.action_space.n or a != action:
            raise ValueError(f"action {action!r} outside {self.action_space}")
        report = self.sim.advance({self.agent_id: a})[self.agent_id]
        reward = self.sim.reward(self.agent_id)
        obs = self._obs()
        info = self._info()
        info.update(requested_stage=report.requested_stage, deferred=report.deferred,
                    deferred_reason=report.reason)
        truncated = self.sim.done
        if truncated:
            info["episode_metrics"] = self.sim.finish()
        return obs, float(reward), False, truncated, info

    def set_demand(self, scale: float, jitter: float) -> None:
        """Change the demand scale and jitter of the following episodes (curriculum)."""
        self.config = replace(self.config, demand_scale=float(scale), demand_jitter=float(jitter))
        self.sim.config = self.config

    def action_masks(self) -> np.ndarray:
        """Valid-action mask (sb3-contrib MaskablePPO protocol)."""
        return self.sim.mask(self.agent_id)

    def close(self) -> None:
        """End the simulation and remove its files."""
        self.sim.close()
        super().close()

    def _obs(self) -> np.ndarray:
        return self.sim.encode(self.agent_id, self.np_random)

    def _info(self) -> dict:
        agent = self.sim.agents[self.agent_id]
        obs = agent.last_obs
        assert obs is not None  # observed at every reset and step
        return {"action_mask": self.sim.mask(self.agent_id), "stage": obs.stage,
                "target_stage": obs.target_stage, "time_s": obs.time_s,
                "deferred_requests": agent.deferred}


def make_env(config: EnvConfig, junction: str | None) -> Callable[[], JunctionEnv]:
    """A thunk that builds one environment (for vectorised environments)."""
    def thunk() -> JunctionEnv:
        return JunctionEnv(config.scenario, junction=junction, config=config)
    return thunk
