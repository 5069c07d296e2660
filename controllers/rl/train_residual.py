"""Training of the ``residual`` mode: MaskablePPO warm-started at actuated control.

Order of a run (all in one process group, the learner single-threaded):

1. the policy starts at "follow actuated" (the follow logit's bias, :class:`ResidualHead`);
   it is evaluated as it is on the validation seeds (step 0: actuated control itself);
2. the critic is pre-fitted on rollouts of that policy while the actor is frozen
   (``critic_steps`` decisions);
3. the actor learns, first on demand x0.8-1.0, after ``curriculum_at`` of the budget on
   x0.8-1.3;
4. every ``eval_every`` decisions a checkpoint is saved and evaluated on the validation
   seeds; the best one (lowest mean delay, the step-0 policy included) is selected;
5. the selected checkpoint alone is evaluated once on the test seeds and exported.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from controllers.rl.config import EnvConfig
from controllers.rl.env import JunctionEnv
from signals.numbers import check_number

log = logging.getLogger(__name__)

#: the metric checkpoints are selected on (own count of the insertion backlog included)
SELECT_METRIC = "mean_total_delay_s"


@dataclass(frozen=True)
class ResidualPlan:
    """The residual-specific part of a training run.

    Attributes:
        val_seeds: validation seeds (checkpoint selection).
        test_seeds: test seeds (evaluated once, on the selected checkpoint).
        follow_bias: initial logit advantage of ``follow``.
        critic_steps: decisions of critic pre-fit with the actor frozen.
        curriculum_at: share of the budget after which demand goes to x0.8-1.3.
        wall_budget_s: no further learning chunk starts when the previous one's duration
            would take the run past this wall time (evaluations included).
    """

    val_seeds: tuple[int, ...] = tuple(range(11, 31))
    test_seeds: tuple[int, ...] = tuple(range(500, 520))
    follow_bias: float = 2.5
    critic_steps: int = 20_000
    curriculum_at: float = 0.4
    wall_budget_s: float = float("inf")

    def __post_init__(self) -> None:
        # a non-finite bias makes the initial logits invalid (found with --follow-bias inf)
        check_number(self.follow_bias, "follow_bias", low=-20.0, high=20.0)
        check_number(self.curriculum_at, "curriculum_at", low=0.0, high=1.0)


def residual_hyper(envs: int, steps: int) -> dict[str, Any]:
    """MaskablePPO hyperparameters: gamma 0.995 per decision, GAE lambda 0.95."""
    n_steps = max(64, min(1024, steps // (4 * envs)))
    return {"n_steps": n_steps, "batch_size": min(256, n_steps * envs), "n_epochs": 8,
            "learning_rate": 1e-3, "gamma": 0.995, "gae_lambda": 0.95, "ent_coef": 0.0,
            "clip_range": 0.2, "vf_coef": 0.5, "max_grad_norm": 0.5}


def evaluate_masked(model: Any, config: EnvConfig, seeds: tuple[int, ...],
                    episode_s: float, junction: str | None) -> dict[str, Any]:
    """Deterministic masked policy on each seed (no noise, no jitter); per-seed metrics."""
    cfg = replace(config, demand_jitter=0.0, demand_scale=config.demand_scale,
                  sensor_noise=0.0, sensor_dropout=0.0, demand_seeds=tuple(seeds),
                  episode_s=episode_s, episode_metrics=True)
    env = JunctionEnv(cfg.scenario, junction=junction, config=cfg)
    rows: list[dict] = []
    try:
        for s in seeds:
            obs, _ = env.reset(seed=s, options={"demand_seed": s})
            info: dict[str, Any] = {}
            total, done, deviations, decisions = 0.0, False, 0, 0
            while not done:
                action, _ = model.predict(obs, deterministic=True,
                                          action_masks=env.action_masks())
                deviations += int(action) != 0
                decisions += 1
                obs, r, term, trunc, info = env.step(int(action))
                total += r
                done = term or trunc
            m = info["episode_metrics"]
            rows.append({"seed": s, "reward": total, "decisions": decisions,
                         "deviations": deviations,
                         **{k: m[k] for k in ("mean_delay_s", SELECT_METRIC,
                                              "vehicles_departed", "vehicles_arrived",
                                              "vehicles_not_departed", "safety_violations")
                            if k in m}})
    finally:
        env.close()
    return summarise_eval(rows)


def summarise_eval(rows: list[dict]) -> dict[str, Any]:
    """Means over the seeds plus the per-seed rows."""
    return {"seeds": [r["seed"] for r in rows],
            "mean_delay_s": float(np.mean([r["mean_delay_s"] for r in rows])),
            SELECT_METRIC: float(np.mean([r[SELECT_METRIC] for r in rows])),
            "mean_reward": float(np.mean([r["reward"] for r in rows])),
            "deviation_share": float(sum(r["deviations"] for r in rows)
                                     / max(sum(r["decisions"] for r in rows), 1)),
            "safety_violations": int(sum(r["safety_violations"] for r in rows)),
            "per_seed": rows}


def set_actor_frozen(model: Any, frozen: bool) -> None:
    """Freeze or release the actor's parameters (critic pre-fit)."""
    for p in model.policy.actor_parameters():
        p.requires_grad_(not frozen)


def set_demand(venv: Any, scale: float, jitter: float) -> None:
    """Curriculum: set every training environment's demand scale and jitter."""
    venv.env_method("set_demand", scale, jitter)


def train_residual(cfg: Any, plan: ResidualPlan, progress: bool = True) -> dict[str, Any]:
    """Run the residual training described in the module docstring; returns a record
    with the selected checkpoint, every validation result and the test result, and
    writes ``policy.onnx``/``policy.json`` of the selected checkpoint to ``cfg.out``."""
    import torch
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.vec_env import SubprocVecEnv, VecMonitor

    from controllers.rl.env import make_env
    from controllers.rl.nets import ResidualPolicy
    from scenarios.files import write_json_atomic

    torch.set_num_threads(1)
    started = time.perf_counter()
    out: Path = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    lo_a, hi_a = 0.8, 1.0
    env_a = replace(cfg.env, demand_scale=(lo_a + hi_a) / 2,
                    demand_jitter=(hi_a - lo_a) / (hi_a + lo_a))
    venv = VecMonitor(SubprocVecEnv([make_env(env_a, cfg.junction) for _ in range(cfg.envs)],
                                    start_method="forkserver"))
    hyper = {**residual_hyper(cfg.envs, cfg.steps), **cfg.hyper}
    history: list[dict] = []
    ckpt_dir = out / "checkpoints"
    ckpt_dir.mkdir(exist_ok=True)
    eval_env = replace(cfg.env, demand_scale=1.0)

    def validate(model: Any, phase: str) -> dict:
        res = evaluate_masked(model, eval_env, plan.val_seeds, cfg.eval_episode_s,
                              cfg.junction)
        res.update(steps=int(model.num_timesteps), phase=phase,
                   wall_s=round(time.perf_counter() - started, 1))
        path = ckpt_dir / f"ckpt_{model.num_timesteps}.zip"
        model.save(path)
        res["checkpoint"] = path.name
        history.append(res)
        write_json_atomic(history, out / "evaluations.json")
        log.info("validation at %d steps (%s): %s %.2f s, deviations %.1f %%",
                 res["steps"], phase, SELECT_METRIC, res[SELECT_METRIC],
                 100 * res["deviation_share"])
        return res

    try:
        model = MaskablePPO(ResidualPolicy, venv, seed=cfg.seed, device="cpu", verbose=0,
                            tensorboard_log=str(out / "tensorboard"),
                            policy_kwargs={"follow_bias": plan.follow_bias}, **hyper)
        validate(model, "warm start (actuated)")
        set_actor_frozen(model, True)
        critic = min(plan.critic_steps, cfg.steps)
        model.learn(critic, reset_num_timesteps=True, tb_log_name="residual")
        set_actor_frozen(model, False)
        switch_at = int(plan.curriculum_at * cfg.steps)
        phase = "x0.8-1.0"
        last_chunk_s = 0.0
        while model.num_timesteps < cfg.steps:
            if time.perf_counter() - started + last_chunk_s > plan.wall_budget_s:
                log.info("wall budget used up at %d steps", model.num_timesteps)
                break
            chunk_started = time.perf_counter()
            if phase == "x0.8-1.0" and model.num_timesteps >= switch_at:
                phase = "x0.8-1.3"
                set_demand(venv, 1.05, 0.25 / 1.05)
            chunk = min(cfg.eval_every or cfg.steps, cfg.steps - model.num_timesteps)
            model.learn(chunk, reset_num_timesteps=False, tb_log_name="residual")
            validate(model, phase)
            last_chunk_s = time.perf_counter() - chunk_started  # stop before overshooting
        steps_done = int(model.num_timesteps)
    finally:
        venv.close()
    best = min(history, key=lambda r: (r[SELECT_METRIC], r["steps"]))
    train_wall = time.perf_counter() - started
    selected = MaskablePPO.load(ckpt_dir / best["checkpoint"], device="cpu")
    test = evaluate_masked(selected, eval_env, plan.test_seeds, cfg.eval_episode_s,
                           cfg.junction)
    return {"model": selected, "history": history, "steps": steps_done, "selected": best,
            "test": test, "train_wall_s": train_wall, "hyper": hyper,
            "wall_s": time.perf_counter() - started}
