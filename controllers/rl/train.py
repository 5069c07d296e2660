"""Training with stable-baselines3: SubprocVecEnv (one libsumo simulation per process),
TensorBoard logs, periodic evaluation on held-out demand seeds, checkpoints and resume,
and the ONNX export at the end."""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import SubprocVecEnv, VecMonitor

from controllers.rl.config import ALL, TRAIN_SEED_MIN, EnvConfig
from controllers.rl.env import JunctionEnv, make_env
from controllers.rl.export import export_policy
from controllers.rl.nets import StagePolicy
from controllers.rl.train_residual import ResidualPlan, train_residual
from controllers.rl.train_rollout import RolloutPlan, policy_extra, train_rollout
from controllers.rl.vec import SharedPolicyVecEnv
from scenarios.files import write_json_atomic
from scenarios.scenario import load_scenario
from signals.errors import ConfigError

log = logging.getLogger(__name__)

ALGOS = ("ppo", "dqn")
CHECKPOINT_RE = re.compile(r"ckpt_(\d+)\.zip$")


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes:
        algo: ``ppo`` (shared stage-scoring policy with the ``stage`` encoding) or ``dqn``
            (MLP Q-network).
        steps: total environment steps (decisions) over all environments.
        envs: parallel environments, one SUMO process each.
        seed: training seed (network init, episode demand seeds and scales).
        out: output folder.
        env: environment configuration for training episodes.
        eval_seeds: held-out demand seeds for periodic evaluation (all < TRAIN_SEED_MIN).
        eval_every: environment steps between evaluations (0: only at the end).
        eval_episode_s: simulated seconds of an evaluation episode.
        checkpoint_every: environment steps between checkpoints.
        resume: continue from the latest checkpoint in ``out/checkpoints``.
        junction: traffic-light id to train (default: the scenario's first junction).
        command: the command line, recorded in policy.json.
        hyper: algorithm keyword overrides.
        code_revision: git revision of the code, recorded in policy.json.
        residual: ``residual`` action mode only: warm start, curriculum, validation and
            test seeds (``eval_seeds`` is then unused; see ``train_residual.py``).
        rollout: ``residual`` mode trained by rollout policy improvement instead of PPO
            (``train_rollout.py``); None: PPO.
    """

    out: Path
    algo: str = "ppo"
    steps: int = 100_000
    envs: int = 2
    seed: int = 0
    env: EnvConfig = field(default_factory=lambda: EnvConfig(demand_jitter=0.2))
    eval_seeds: tuple[int, ...] = (1, 2, 3)
    eval_every: int = 20_000
    eval_episode_s: float = 1800.0
    checkpoint_every: int = 20_000
    resume: bool = False
    junction: str | None = None
    command: str = ""
    hyper: dict[str, Any] = field(default_factory=dict)
    code_revision: str = "unknown"
    residual: ResidualPlan = field(default_factory=ResidualPlan)
    rollout: RolloutPlan | None = None

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ConfigError(f"unknown algorithm {self.algo!r} (known: {', '.join(ALGOS)})")
        if self.steps < 1:
            raise ConfigError(f"steps must be >= 1, got {self.steps}")
        if self.envs < 1:
            raise ConfigError(f"envs must be >= 1, got {self.envs}")
        bad = [s for s in self.eval_seeds if not 0 <= s < TRAIN_SEED_MIN]
        if bad:
            raise ConfigError(f"evaluation seeds must lie in 0..{TRAIN_SEED_MIN - 1} (held out "
                              f"from training seeds), got {bad[:5]}"
                              f"{' ...' if len(bad) > 5 else ''}")


def default_hyper(algo: str, envs: int, steps: int = 1_000_000) -> dict[str, Any]:
    """Hyperparameters used unless overridden (tuned for minutes, not hours)."""
    if algo == "ppo":
        n_steps = max(32, min(512 // envs, steps // envs))
        return {"n_steps": n_steps, "batch_size": min(128, n_steps * envs), "n_epochs": 8,
                "learning_rate": 5e-4, "gamma": 0.95, "gae_lambda": 0.9, "ent_coef": 0.01,
                "clip_range": 0.2}
    return {"learning_rate": 5e-4, "buffer_size": 50_000,
            "learning_starts": min(1000, max(steps // 4, 1)),
            "batch_size": 64, "gamma": 0.95, "train_freq": 4, "target_update_interval": 1000,
            "exploration_fraction": 0.3, "exploration_final_eps": 0.02}


def evaluate(model: Any, config: EnvConfig, seeds: tuple[int, ...], episode_s: float,
             junction: str | None = None) -> dict[str, Any]:
    """Run the deterministic policy on each held-out seed; mean delay per seed from tripinfo.

    ``junction="all"``: every junction of the scenario under the one shared policy.
    """
    eval_cfg = replace(config, demand_jitter=0.0, sensor_noise=0.0, sensor_dropout=0.0,
                       demand_seeds=tuple(seeds), episode_s=episode_s, episode_metrics=True)
    if junction == ALL:
        return _evaluate_shared(model, eval_cfg, seeds)
    env = JunctionEnv(config.scenario, junction=junction, config=eval_cfg)
    delays, rewards, violations = [], [], 0
    try:
        for s in seeds:
            obs, _ = env.reset(seed=s, options={"demand_seed": s})
            info: dict[str, Any] = {}
            total, done = 0.0, False
            while not done:
                action, _ = model.predict(obs, deterministic=True)
                obs, r, term, trunc, info = env.step(int(action))
                total += r
                done = term or trunc
            m = info["episode_metrics"]
            delays.append(m["mean_delay_s"])
            violations += m["safety_violations"]
            rewards.append(total)
    finally:
        env.close()
    return _evaluation(seeds, delays, rewards, violations)


def _evaluation(seeds: tuple[int, ...], delays: list[float], rewards: list[float],
                violations: int) -> dict[str, Any]:
    """The evaluation record written to evaluations.json and policy.json."""
    return {"seeds": list(seeds), "mean_delay_s": float(np.mean(delays)),
            "delays_s": delays, "mean_reward": float(np.mean(rewards)),
            "safety_violations": violations}


def _evaluate_shared(model: Any, cfg: EnvConfig, seeds: tuple[int, ...]) -> dict[str, Any]:
    from controllers.rl.multi import JunctionsParallelEnv

    env = JunctionsParallelEnv(cfg.scenario, config=cfg)
    delays, rewards, violations = [], [], 0
    try:
        for s in seeds:
            obs, _ = env.reset(seed=s, options={"demand_seed": s})
            infos: dict[str, dict[str, Any]] = {}
            total = 0.0
            while env.agents:
                agents = list(env.agents)
                actions, _ = model.predict(np.stack([obs[a] for a in agents]),
                                           deterministic=True)
                obs, rew, _, _, infos = env.step(dict(zip(agents, (int(x) for x in actions),
                                                          strict=True)))
                total += sum(rew.values())
            m = next(iter(infos.values()))["episode_metrics"]
            delays.append(m["mean_delay_s"])
            violations += m["safety_violations"]
            rewards.append(total)
    finally:
        env.close()
    return _evaluation(seeds, delays, rewards, violations)


class ProgressBar(BaseCallback):
    """A tqdm bar over environment steps (on stderr)."""

    def __init__(self, total: int, disable: bool = False) -> None:
        super().__init__()
        self.total = total
        self.disable = disable
        self.bar: Any = None

    def _on_training_start(self) -> None:
        import sys

        from tqdm import tqdm

        self.bar = tqdm(total=self.total, initial=min(self.model.num_timesteps, self.total),
                        unit="step", desc="training", file=sys.stderr, disable=self.disable,
                        mininterval=1.0)

    def _on_step(self) -> bool:
        self.bar.update(min(self.model.num_timesteps, self.total) - self.bar.n)
        return True

    def _on_training_end(self) -> None:
        self.bar.close()


class PeriodicTasks(BaseCallback):
    """Checkpoints and held-out evaluations every so many environment steps."""

    def __init__(self, cfg: TrainConfig, history: list[dict]) -> None:
        super().__init__()
        self.cfg = cfg
        self.history = history
        self._next_eval = self._next(cfg.eval_every)
        self._next_ckpt = self._next(cfg.checkpoint_every)

    def _next(self, every: int) -> float:
        return float("inf") if every <= 0 else every

    def _on_training_start(self) -> None:
        n = self.model.num_timesteps
        if self.cfg.eval_every > 0:
            self._next_eval = (n // self.cfg.eval_every + 1) * self.cfg.eval_every
        if self.cfg.checkpoint_every > 0:
            self._next_ckpt = (n // self.cfg.checkpoint_every + 1) * self.cfg.checkpoint_every

    def _on_step(self) -> bool:
        n = self.model.num_timesteps
        if n >= self._next_ckpt:
            save_checkpoint(self.model, self.cfg.out)
            self._next_ckpt += self.cfg.checkpoint_every
        if n >= self._next_eval:
            self.run_eval()
            self._next_eval += self.cfg.eval_every
        return True

    def run_eval(self) -> dict:
        """Evaluate now, log to TensorBoard and the history file."""
        result = evaluate(self.model, self.cfg.env, self.cfg.eval_seeds,
                          self.cfg.eval_episode_s, self.cfg.junction)
        result["steps"] = int(self.model.num_timesteps)
        self.history.append(result)
        self.logger.record("eval/mean_delay_s", result["mean_delay_s"])
        self.logger.record("eval/mean_reward", result["mean_reward"])
        self.logger.dump(self.model.num_timesteps)
        write_json_atomic(self.history, self.cfg.out / "evaluations.json")
        log.info("eval at %d steps: mean delay %.1f s", result["steps"], result["mean_delay_s"])
        return result


def save_checkpoint(model: BaseAlgorithm, out: Path) -> Path:
    """Save a checkpoint named by its step count."""
    path = out / "checkpoints" / f"ckpt_{model.num_timesteps}.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def latest_checkpoint(out: Path) -> Path | None:
    """The checkpoint with the most steps, if any."""
    found = [(int(m.group(1)), p) for p in (out / "checkpoints").glob("ckpt_*.zip")
             if (m := CHECKPOINT_RE.search(p.name))]
    return max(found)[1] if found else None


@dataclass
class TrainResult:
    """What a training run produced."""

    onnx: Path
    spec: Path
    steps: int
    wall_s: float
    final_eval: dict


def _export_residual(cfg: TrainConfig, infos: list, rec: dict, training: dict,
                     val_seeds: tuple[int, ...], test_seeds: tuple[int, ...]) -> TrainResult:
    """Export a residual-mode model (ONNX + policy.json with its seed sets) and save it."""
    extra = policy_extra(cfg.env, val_seeds, test_seeds, cfg.junction)
    onnx_path, json_path = export_policy(rec["model"], "ppo", cfg.env, infos, cfg.out,
                                         training, extra)
    rec["model"].save(cfg.out / "model.zip")
    return TrainResult(onnx=onnx_path, spec=json_path, steps=training["steps"],
                       wall_s=rec["wall_s"], final_eval=rec["test"])


def _run_record(cfg: TrainConfig) -> dict[str, Any]:
    """The head of a one-run training record: command, revision, seed."""
    return {"command": cfg.command, "commands": [cfg.command],
            "code_revision": cfg.code_revision, "seed": cfg.seed}


def _brief(evaluation: dict) -> dict:
    """A validation result without its per-seed rows."""
    return {k: v for k, v in evaluation.items() if k != "per_seed"}


def _train_residual(cfg: TrainConfig, infos: list, progress: bool) -> TrainResult:
    """The residual mode's run (MaskablePPO, warm start, validation selection, test)."""
    if cfg.algo != "ppo" or cfg.resume or cfg.junction == ALL:
        raise ConfigError("the residual action mode trains with --algo ppo on one junction "
                          "and without --resume")
    rec = train_residual(cfg, cfg.residual, progress)
    plan = cfg.residual
    training = {
        **_run_record(cfg),
        "algo": "MaskablePPO (sb3-contrib), residual on actuated",
        "steps": rec["steps"], "envs": cfg.envs,
        "wall_s": round(rec["wall_s"], 1), "train_wall_s": round(rec["train_wall_s"], 1),
        "warm_start": {"follow_bias": plan.follow_bias, "critic_prefit_steps":
                       plan.critic_steps},
        "curriculum": [{"demand": "x0.8-1.0", "from_step": 0},
                       {"demand": "x0.8-1.3", "from_step": int(plan.curriculum_at
                                                               * cfg.steps)}],
        "hyper": rec["hyper"],
        "validation": [_brief(r) for r in rec["history"]],
        "selected_checkpoint": rec["selected"]["checkpoint"],
        "selected_steps": rec["selected"]["steps"],
        "final_eval": rec["test"],
    }
    return _export_residual(cfg, infos, rec, training, plan.val_seeds, plan.test_seeds)


def _train_rollout(cfg: TrainConfig, plan: RolloutPlan, infos: list) -> TrainResult:
    """The residual mode trained by rollout labels (selection on validation, test once)."""
    if cfg.algo != "ppo" or cfg.resume:
        raise ConfigError("--method rollout trains the residual action mode (--algo ppo, no "
                          "--resume)")
    if len({len(i.stage_names) for i in infos}) > 1:
        raise ConfigError("--junction all with --method rollout needs junctions with equal "
                          "stage counts (the labelled observations are stacked)")
    rec = train_rollout(cfg, plan)
    r = plan.rollout
    training = {
        **_run_record(cfg),
        "algo": "rollout policy improvement (counterfactual labels, behaviour cloning of "
                "the MaskablePPO actor, DAgger rounds), residual on actuated",
        "method": {"rounds": plan.rounds, "episodes_per_round": plan.episodes,
                   "horizon_s": r.horizon_s, "margin_veh_s": r.margin_veh_s,
                   "margins_veh_s": list(plan.margin_list),
                   "sample_share": r.sample_share, "demand_range": list(plan.demand_range),
                   "epochs": plan.epochs, "learning_rate": plan.learning_rate,
                   "fit": plan.loss, "max_seed_loss": plan.max_seed_loss,
                   "cost": "approach delay rate + vehicles waiting to enter, summed per "
                           "second over the horizon (vehicle-seconds)",
                   "state copy": "os.fork (exact copy of libsumo and the control path)"},
        "label_workers": cfg.envs, "junction": cfg.junction,
        "eval_episode_s": cfg.eval_episode_s,
        "selection": "lowest mean total delay on the validation seeds among the warm start "
                     "and the fits with no seed more than max_seed_loss worse than the warm "
                     "start; every candidate scored by ampel run --controller rl (runtime "
                     "fallback on), one fresh process per run",
        "steps": rec["points"], "label_points": rec["points"],
        "wall_s": round(rec["wall_s"], 1), "train_wall_s": round(rec["train_wall_s"], 1),
        "rounds": rec["rounds"],
        "validation": [_brief(v) for v in rec["history"]],
        "selected": rec["selected"]["name"],
        "final_eval": rec["test"],
    }
    return _export_residual(cfg, infos, rec, training, plan.val_seeds, plan.test_seeds)


def train(cfg: TrainConfig, progress: bool = True) -> TrainResult:
    """Train, evaluate, checkpoint and export; returns the exported policy's paths."""
    started = time.perf_counter()
    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    scenario = load_scenario(cfg.env.scenario)
    if cfg.env.sensing is None:  # record the profile the policy is trained with
        cfg = replace(cfg, env=replace(cfg.env, sensing=scenario.sensing.name))
    tls = cfg.junction or scenario.junctions[0].tls
    if tls == ALL:
        infos = [j.info for j in scenario.junctions]
    else:
        infos = [j.info for j in scenario.junctions if j.tls == tls]
    if not infos:
        raise ConfigError(f"scenario {scenario.name!r} has no junction {tls!r} (junctions: "
                          f"{', '.join(j.tls for j in scenario.junctions)}, or 'all')")
    rollout = cfg.env.action_mode == "residual" and cfg.rollout is not None
    if tls == ALL and not rollout and not (cfg.algo == "ppo" and cfg.env.encoding == "stage"):
        raise ConfigError("--junction all trains one shared policy: needs --algo ppo with the "
                          "stage encoding, or --method rollout")
    if cfg.env.action_mode == "residual" and cfg.rollout is not None:
        return _train_rollout(cfg, cfg.rollout, infos)
    if cfg.env.action_mode == "residual":
        return _train_residual(cfg, infos, progress)
    algo_cls = PPO if cfg.algo == "ppo" else DQN
    ckpt = latest_checkpoint(out) if cfg.resume else None
    if cfg.resume and ckpt is None:
        raise ConfigError(f"--resume: no checkpoint in {out / 'checkpoints'}")
    history_path = out / "evaluations.json"
    history: list[dict] = (json.loads(history_path.read_text()) if cfg.resume and
                           history_path.is_file() else [])
    if tls == ALL:
        venv = VecMonitor(SharedPolicyVecEnv(cfg.env, cfg.envs))
    else:
        venv = VecMonitor(SubprocVecEnv([make_env(cfg.env, tls) for _ in range(cfg.envs)],
                                        start_method="forkserver"))
    try:
        if ckpt is not None:
            model = algo_cls.load(ckpt, env=venv, device="cpu",
                                  tensorboard_log=str(out / "tensorboard"))
            # fresh episode randomness after a resume (seeded by the step count)
            venv.seed(cfg.seed + int(model.num_timesteps))
            log.info("resuming from %s (%d steps)", ckpt, model.num_timesteps)
        else:
            hyper = {**default_hyper(cfg.algo, cfg.envs, cfg.steps), **cfg.hyper}
            policy: Any = StagePolicy if (cfg.algo == "ppo" and cfg.env.encoding == "stage") \
                else "MlpPolicy"
            model = algo_cls(policy, venv, seed=cfg.seed, device="cpu", verbose=0,
                             tensorboard_log=str(out / "tensorboard"), **hyper)
        tasks = PeriodicTasks(replace(cfg, junction=tls), history)
        remaining = cfg.steps - int(model.num_timesteps)
        if remaining > 0:
            model.learn(remaining, callback=CallbackList([ProgressBar(cfg.steps, not progress),
                                                          tasks]),
                        reset_num_timesteps=ckpt is None, tb_log_name=cfg.algo)
        save_checkpoint(model, out)
        final = tasks.run_eval() if not history or history[-1]["steps"] != model.num_timesteps \
            else history[-1]
    finally:
        venv.close()
    wall = time.perf_counter() - started
    prior_wall, commands = 0.0, []
    spec_path = out / "policy.json"
    if cfg.resume and spec_path.is_file():
        prior = json.loads(spec_path.read_text()).get("training", {})
        prior_wall = float(prior.get("wall_s", 0.0))
        commands = list(prior.get("commands", [prior.get("command", "")]))
    training = {
        "command": cfg.command,
        "commands": [*commands, cfg.command],  # every run that built this policy, in order
        "code_revision": cfg.code_revision,
        "seed": cfg.seed,
        "steps": int(model.num_timesteps),
        "envs": cfg.envs,
        "wall_s": round(prior_wall + wall, 1),
        "resumed": cfg.resume,
        "train_demand_seeds": f"[{TRAIN_SEED_MIN}, 2^31-1), drawn per episode",
        "eval_seeds": list(cfg.eval_seeds),
        "final_eval": final,
        "hyper": {**default_hyper(cfg.algo, cfg.envs, cfg.steps), **cfg.hyper},
    }
    onnx_path, json_path = export_policy(model, cfg.algo, cfg.env, infos, out, training)
    model.save(out / "model.zip")
    return TrainResult(onnx=onnx_path, spec=json_path, steps=int(model.num_timesteps),
                       wall_s=prior_wall + wall, final_eval=final)
