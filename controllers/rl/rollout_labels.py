"""Counterfactual labels for the ``residual`` mode by rollouts (approximate policy iteration).

At a decision point of an episode run by a *base policy* (first: always ``follow``, i.e.
actuated control) the whole state is copied and each distinct action is played from the
copy: the action now, the base policy afterwards, for ``horizon_s`` simulated seconds. The
cost of a branch is the growth of the reported total delay over that window (approach
delay rate plus vehicles waiting to enter the network, summed second by second, in
vehicle-seconds; the ``total`` reward). The best action becomes the label when it beats
``follow`` by more than ``margin_veh_s``; otherwise the label is ``follow``.

The copy is taken with ``os.fork()``: the child process holds an exact copy of SUMO
(libsumo runs in-process: vehicles, RNG states, detectors) and of the Python side
(actuated controller, envelope, sequencer, guard, loop counters), plays one branch and
sends its cost back through a pipe. So two identical branches give identical costs
(tested), and nothing has to be saved or restored by hand. Within an episode one child
runs at a time; episodes run in parallel, each in a fresh worker process
(:func:`collect_labels`, ``workers``). POSIX only; the child never touches torch (the
base policy is a :class:`NumpyActor`). Children share the parent's open output files,
so the tripinfo of a labelling episode is garbled: labelling never reads it (costs come
from the simulation itself), and evaluation runs never fork.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np

from controllers.rl.config import ALL, TRAIN_SEED_MAX, TRAIN_SEED_MIN, EnvConfig
from controllers.rl.features import ENVELOPE_FEATURES
from controllers.rl.residual import ACTIONS, FOLLOW
from controllers.rl.rewards import REWARD_SCALE
from controllers.rl.sim import Simulation
from scenarios.scenario import Scenario
from signals.errors import ConfigError
from signals.numbers import check_number

log = logging.getLogger(__name__)

#: a base policy: (encoded observation, action mask) -> action
BasePolicy = Callable[[np.ndarray, np.ndarray], int]

_IS_CURRENT = ENVELOPE_FEATURES.index("is_current")
_IS_NEXT = ENVELOPE_FEATURES.index("is_next")


def follow_policy(obs: np.ndarray, mask: np.ndarray) -> int:
    """The base policy of the first round: always follow actuated control."""
    return FOLLOW


@dataclass(frozen=True)
class RolloutConfig:
    """How decision points are labelled.

    Attributes:
        horizon_s: simulated seconds each branch runs (the action, then the base policy).
        margin_veh_s: a deviation from ``follow`` becomes the label only if its branch
            costs this many vehicle-seconds less than ``follow``'s.
        sample_share: share of decision points that are labelled (the others are played
            by the base policy without branching); drawn per point.
        explore: probability that the episode itself deviates from the base policy at a
            decision point (a random valid action), so labels also cover the states a
            deviating policy reaches (DAgger-like state coverage).
    """

    horizon_s: float = 120.0
    margin_veh_s: float = 5.0
    sample_share: float = 0.25
    explore: float = 0.0

    def __post_init__(self) -> None:
        check_number(self.horizon_s, "horizon_s", low=1.0, high=3600.0)
        check_number(self.margin_veh_s, "margin_veh_s", low=0.0, high=1e6)
        check_number(self.sample_share, "sample_share", low=0.0, high=1.0)
        check_number(self.explore, "explore", low=0.0, high=1.0)


@dataclass
class LabelSet:
    """Labelled decision points: observations, masks, branch costs and labels.

    ``costs[i, a]`` is the cost (vehicle-seconds over the horizon) of playing action ``a``
    at point ``i``; NaN for a masked action. ``labels[i]`` is the chosen action.
    """

    obs: list[np.ndarray] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    costs: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    #: the junction (traffic-light id) of each point (empty for label files made before
    #: corridor labelling)
    junctions: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def extend(self, other: LabelSet) -> None:
        """Append another set's points."""
        self.obs += other.obs
        self.masks += other.masks
        self.costs += other.costs
        self.labels += other.labels
        self.seeds += other.seeds
        self.junctions += other.junctions

    def arrays(self) -> dict[str, np.ndarray]:
        """The set as arrays (``obs``, ``masks``, ``costs``, ``labels``, ``seeds``)."""
        n = len(self)
        return {"obs": np.stack(self.obs) if n else np.zeros((0, 0, len(ENVELOPE_FEATURES))),
                "masks": np.stack(self.masks) if n else np.zeros((0, 3), dtype=bool),
                "costs": np.stack(self.costs) if n else np.zeros((0, 3)),
                "labels": np.asarray(self.labels, dtype=np.int64),
                "seeds": np.asarray(self.seeds, dtype=np.int64),
                "junctions": np.asarray(self.junctions, dtype=str)}

    def label_counts(self) -> dict[str, int]:
        """How many points carry each label."""
        return {name: int(sum(1 for x in self.labels if x == a))
                for a, name in enumerate(ACTIONS)}


def choose_label(costs: np.ndarray, margin_veh_s: float) -> int:
    """``follow`` unless another action's branch is cheaper by more than the margin."""
    best = int(np.nanargmin(costs))
    if best != FOLLOW and costs[FOLLOW] - costs[best] > margin_veh_s:
        return best
    return FOLLOW


def in_child(fn: Callable[[], float]) -> float:
    """Run ``fn`` in a forked copy of this process and return its float result.

    The child exits with ``os._exit`` (no cleanup of the parent's files or SUMO); any
    exception in it comes back as a RuntimeError.
    """
    if not hasattr(os, "fork"):
        raise ConfigError("rollout labels need os.fork() (Linux or another POSIX system)")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one branch, then leave without cleanup
        code = 0
        try:
            os.close(r)
            os.write(w, struct.pack("d", float(fn())))
        except BaseException:  # noqa: BLE001 - reported to the parent by the exit code
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    try:
        data = b""
        while len(data) < 8:
            chunk = os.read(r, 8 - len(data))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    if len(data) != 8 or os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("a rollout branch failed in its child process")
    return float(struct.unpack("d", data)[0])


def base_actions(sim: Simulation, base: BasePolicy) -> dict[str, int]:
    """The base policy's action of every agent deciding this second."""
    return {aid: base(sim.encode(aid, None), sim.mask(aid)) for aid in sim.deciding()}


def play_branch(sim: Simulation, aid: str, first: int, base: BasePolicy,
                horizon_s: float, others: dict[str, int] | None = None) -> float:
    """Play ``first`` at ``aid`` now (every other deciding agent plays ``others``, its
    base action) and ``base`` everywhere afterwards for ``horizon_s`` seconds; return the
    cost in vehicle-seconds over every agent's approaches (the simulation's reward must
    be ``total``). Changes ``sim``: run it in a child (:func:`in_child`) to keep the
    state."""
    sim.stop_at_s = sim.time_s + horizon_s
    cost = 0.0
    actions = {**(others or {}), aid: first}
    while True:
        sim.advance(actions)
        cost -= sim.reward() * REWARD_SCALE
        if sim.done or sim.time_s >= sim.stop_at_s:
            return cost
        actions = base_actions(sim, base)


def distinct_actions(sim: Simulation, aid: str) -> list[int]:
    """Valid actions at the current decision point whose request differs from the ones
    before (``hold`` when actuated extends anyway plays the same as ``follow``)."""
    decision = sim.agents[aid].decision
    if decision is None:
        return [FOLLOW]
    seen: set[int] = set()
    out: list[int] = []
    for a in range(len(ACTIONS)):
        if not decision.mask[a]:
            continue
        stage = decision.request(a).stage
        if stage not in seen:
            seen.add(stage)
            out.append(a)
    return out


def branch_costs(sim: Simulation, aid: str, base: BasePolicy, horizon_s: float,
                 others: dict[str, int] | None = None) -> np.ndarray:
    """Cost of every valid action of ``aid`` at the current decision point (NaN where
    masked; the other deciding agents play ``others``); an action with the same request
    as an earlier one gets that one's cost."""
    decision = sim.agents[aid].decision
    costs = np.full(len(ACTIONS), np.nan)
    if decision is None:
        return costs
    by_stage: dict[int, float] = {}
    for a in range(len(ACTIONS)):
        if not decision.mask[a]:
            continue
        stage = decision.request(a).stage
        if stage not in by_stage:
            by_stage[stage] = in_child(partial(play_branch, sim, aid, a, base, horizon_s,
                                               others))
        costs[a] = by_stage[stage]
    return costs


def agent_ids(scenario: Scenario, junction: str | None) -> tuple[str, ...]:
    """The junctions under the policy: one (default: the first), or ``all``."""
    if junction == ALL:
        return tuple(j.tls for j in scenario.junctions)
    return (junction or scenario.junctions[0].tls,)


def label_episode(scenario: Scenario, config: EnvConfig, seed: int, demand_scale: float,
                  base: BasePolicy, rollout: RolloutConfig, rng: np.random.Generator,
                  junction: str | None = None) -> LabelSet:
    """Run one episode under ``base`` and label a share of its decision points.

    With ``junction="all"`` every junction of the scenario runs its own actuated envelope
    and the one (shared) base policy; a decision point of any junction may be sampled;
    its branches change that junction's action only (the others play the base policy)
    and cost the growth of total delay over all junctions' approaches.
    """
    cfg = replace(config, reward="total", episode_metrics=False, demand_seeds=(),
                  demand_jitter=0.0)
    sim = Simulation(scenario, cfg, agent_ids(scenario, junction))
    out = LabelSet()
    try:
        sim.start(rng, {"demand_seed": seed, "demand_scale": demand_scale})
        sim.reward()
        while not sim.done:
            actions = base_actions(sim, base)
            for aid in actions:
                if len(distinct_actions(sim, aid)) > 1 and rng.random() < rollout.sample_share:
                    costs = branch_costs(sim, aid, base, rollout.horizon_s, actions)
                    out.obs.append(sim.encode(aid, None).copy())
                    out.masks.append(sim.mask(aid).copy())
                    out.costs.append(costs)
                    out.labels.append(choose_label(costs, rollout.margin_veh_s))
                    out.seeds.append(seed)
                    out.junctions.append(aid)
            if rollout.explore > 0:
                for aid in actions:
                    if rng.random() < rollout.explore:
                        actions[aid] = int(rng.choice(np.flatnonzero(sim.mask(aid))))
            sim.advance(actions)
            sim.reward()
    finally:
        sim.close()
    return out


@dataclass(frozen=True)
class EpisodeTask:
    """One labelling episode, as a worker process receives it (picklable).

    ``rng_seed`` seeds the episode's own generator (which points are labelled,
    exploration), so an episode's labels depend only on its task, never on which worker
    ran it or when.
    """

    index: int
    config: EnvConfig
    seed: int
    demand_scale: float
    rng_seed: int
    base: BasePolicy
    rollout: RolloutConfig
    junction: str | None


def label_task(task: EpisodeTask) -> tuple[LabelSet, float]:
    """Label one episode (run in a fresh worker process by :func:`collect_labels`);
    returns its labels and its wall seconds."""
    from scenarios.scenario import load_scenario

    started = time.perf_counter()
    scenario = load_scenario(task.config.scenario)
    got = label_episode(scenario, task.config, task.seed, task.demand_scale, task.base,
                        task.rollout, np.random.default_rng(task.rng_seed), task.junction)
    return got, time.perf_counter() - started


def episode_tasks(config: EnvConfig, base: BasePolicy, rollout: RolloutConfig,
                  rng: np.random.Generator, episodes: int,
                  demand_range: tuple[float, float], junction: str | None
                  ) -> list[EpisodeTask]:
    """The labelling episodes of a round, all drawn from ``rng`` up front: training seed
    (``[TRAIN_SEED_MIN, TRAIN_SEED_MAX)``, never a validation or test seed), demand scale
    from ``demand_range``, the episode's own generator seed."""
    out = []
    for k in range(episodes):
        seed = int(rng.integers(TRAIN_SEED_MIN, TRAIN_SEED_MAX))
        scale = float(rng.uniform(*demand_range))
        out.append(EpisodeTask(k, config, seed, scale, int(rng.integers(0, 2**63 - 1)), base,
                               rollout, junction))
    return out


def collect_labels(config: EnvConfig, base: BasePolicy, rollout: RolloutConfig,
                   rng: np.random.Generator, episodes: int,
                   demand_range: tuple[float, float] = (0.8, 1.2),
                   wall_budget_s: float = float("inf"), junction: str | None = None,
                   workers: int = 2) -> LabelSet:
    """Label ``episodes`` episodes (:func:`episode_tasks`), ``workers`` at a time, each in
    a fresh process that forks its own branch children. No episode starts once the wall
    budget is used up, nor one that would end past it by the longest episode's duration so
far. The points come in episode order: the same ``rng`` state gives the
    same labels whatever the number of workers or their timing."""
    from controllers.rl.procs import fresh_map

    started = time.perf_counter()
    tasks = episode_tasks(config, base, rollout, rng, episodes, demand_range, junction)

    longest = [0.0]  # the longest episode so far: none starts that would overrun

    def keep_going() -> bool:
        return time.perf_counter() - started + longest[0] <= wall_budget_s

    got: dict[int, LabelSet] = {}
    for k, (labels, seconds) in fresh_map(label_task, tasks, workers, keep_going):
        got[k] = labels
        longest[0] = max(longest[0], seconds)
        t = tasks[k]
        log.info("episode %d (seed %d, demand x%.2f): %d points, labels %s, %.0f s",
                 k + 1, t.seed, t.demand_scale, len(labels), labels.label_counts(),
                 time.perf_counter() - started)
    if len(got) < episodes:
        log.info("label budget used up after %d of %d episodes", len(got), episodes)
    out = LabelSet()
    for k in sorted(got):
        out.extend(got[k])
    return out


@dataclass
class NumpyActor:
    """The residual policy's actor in numpy (no torch, safe in forked children).

    Computes the same logits as :class:`controllers.rl.nets.ResidualPolicy`'s actor:
    shared stage rows (two tanh layers on [row, mean row]), then the head on the hidden
    vectors of the shown stage, of the next stage and their mean.
    """

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    wo: np.ndarray
    bo: np.ndarray

    @classmethod
    def from_policy(cls, policy: Any) -> NumpyActor:
        """Copy the weights of a ``ResidualPolicy``."""
        rows = policy.mlp_extractor.rows
        head = policy.action_net.out

        def arr(t: Any) -> np.ndarray:
            return t.detach().cpu().numpy().astype(np.float64)

        return cls(arr(rows[0].weight), arr(rows[0].bias), arr(rows[2].weight),
                   arr(rows[2].bias), arr(head.weight), arr(head.bias))

    def logits(self, obs: np.ndarray) -> np.ndarray:
        """Action scores for one (stages x features) observation."""
        x = np.asarray(obs, dtype=np.float64)
        ctx = np.broadcast_to(x.mean(axis=0, keepdims=True), x.shape)
        h = np.tanh(np.concatenate([x, ctx], axis=1) @ self.w1.T + self.b1)
        h = np.tanh(h @ self.w2.T + self.b2)
        feats = np.concatenate([(h * x[:, _IS_CURRENT:_IS_CURRENT + 1]).sum(axis=0),
                                (h * x[:, _IS_NEXT:_IS_NEXT + 1]).sum(axis=0), h.mean(axis=0)])
        return np.asarray(self.wo @ feats + self.bo)

    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> int:
        scores = np.where(np.asarray(mask, dtype=bool), self.logits(obs), -np.inf)
        return int(np.argmax(scores))
