"""A PettingZoo ``ParallelEnv``: every signalised junction of a scenario is an agent.

Agents are the junctions' traffic-light ids. With the ``stage`` encoding each agent's
observation has one row per stage of its own junction (shapes differ between junctions of
different size, nothing is padded); one shared policy that scores stage rows serves all.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from controllers.rl.config import EnvConfig
from controllers.rl.env import OBS_HIGH, make_config, resolve_scenario
from controllers.rl.sim import Simulation
from scenarios.scenario import Scenario


class JunctionsParallelEnv(ParallelEnv):
    """All (or the chosen) junctions of a scenario under learning agents.

    Args:
        scenario: scenario name or a loaded :class:`Scenario`.
        junctions: traffic-light ids to control (default: all; the rest run fixed time).
        config: an :class:`EnvConfig`; further keyword arguments override its fields.

    Infos carry ``action_mask``, ``deferred``/``deferred_reason`` per agent, as in
    ``ampel/Junction-v0``; at the end of an episode every agent's info holds the scenario's
    ``episode_metrics``.
    """

    metadata = {"render_modes": [], "name": "ampel_junctions_v0", "is_parallelizable": True}

    def __init__(self, scenario: str | Scenario = "westentor",
                 junctions: tuple[str, ...] | None = None, config: EnvConfig | None = None,
                 **kwargs: Any) -> None:
        if isinstance(scenario, str):
            kwargs.setdefault("scenario", scenario)
        self.config = make_config(config, kwargs)
        self.scenario = resolve_scenario(scenario)
        ids = tuple(junctions) if junctions else tuple(j.tls for j in self.scenario.junctions)
        self.sim = Simulation(self.scenario, self.config, ids)
        self.scenario = self.sim.scenario  # with the configured sensing profile
        self.possible_agents = list(ids)
        self.agents: list[str] = []
        self.render_mode = None
        self._rng = np.random.default_rng()
        self._spaces = {
            a: (spaces.Box(0.0, OBS_HIGH, self.sim.observation_shape(a), dtype=np.float32),
                spaces.Discrete(self.sim.action_count(a)))
            for a in ids}

    @functools.cache  # noqa: B019 - PettingZoo's documented pattern
    def observation_space(self, agent: str) -> spaces.Box:
        """Observation space of one agent."""
        return self._spaces[agent][0]

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> spaces.Discrete:
        """Action space of one agent."""
        return self._spaces[agent][1]

    def reset(self, seed: int | None = None, options: dict | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        """Start a new episode (ends the previous simulation first)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.sim.start(self._rng, options)
        self.agents = list(self.possible_agents)
        obs = {a: self.sim.encode(a, self._rng) for a in self.agents}
        infos = {a: {**self.sim.episode, **self._info(a)} for a in self.agents}
        return obs, infos

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        """Apply every agent's action and simulate one decision interval."""
        if not self.agents:
            raise RuntimeError("episode over: call reset()")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"no action for agent(s) {', '.join(missing)}")
        for a in self.agents:
            if not self.action_space(a).contains(actions[a]):
                raise ValueError(f"action {actions[a]!r} of {a} outside {self.action_space(a)}")
        reports = self.sim.advance({a: int(actions[a]) for a in self.agents})
        rewards = {a: float(self.sim.reward(a)) for a in self.agents}
        obs = {a: self.sim.encode(a, self._rng) for a in self.agents}
        infos = {}
        for a in self.agents:
            r = reports[a]
            infos[a] = {**self._info(a), "requested_stage": r.requested_stage,
                        "deferred": r.deferred, "deferred_reason": r.reason}
        done = self.sim.done
        if done:
            metrics = self.sim.finish()
            for a in self.agents:
                infos[a]["episode_metrics"] = metrics
        terminations = {a: False for a in self.agents}
        truncations = {a: done for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def action_masks(self) -> dict[str, np.ndarray]:
        """Valid-action masks of the live agents."""
        return {a: self.sim.mask(a) for a in self.agents}

    def close(self) -> None:
        """End the simulation and remove its files."""
        self.sim.close()

    def _info(self, agent: str) -> dict:
        last = self.sim.agents[agent].last_obs
        assert last is not None  # observed at every reset and step
        return {"action_mask": self.sim.mask(agent), "stage": last.stage,
                "target_stage": last.target_stage, "time_s": last.time_s,
                "deferred_requests": self.sim.agents[agent].deferred}
