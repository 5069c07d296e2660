"""``ampel train``: train a learned controller and export policy.onnx + policy.json."""

from __future__ import annotations

import argparse
from dataclasses import replace

from hil.argtypes import (
    bounded_float,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    seed_list,
)
from scenarios.sensing import parse_sensing
from signals.errors import ConfigError

_positive_int = positive_int


def sensing_text(text: str) -> str:
    """A sensing profile as text (``camera`` or ``camera:noise=0.1,dropout=0.05``), checked."""
    try:
        parse_sensing(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _margins(text: str) -> tuple[float, ...]:
    """One or more margins (vehicle-seconds >= 0), comma-separated."""
    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"expected margins like 10 or 0,10,20, got {text!r}")
    return tuple(non_negative_float(p.strip()) for p in parts)


#: options in the order they are recorded in policy.json (every one, explicit)
_RECORDED = ("scenario", "junction", "algo", "steps", "envs", "seed", "out", "episode",
             "decision_interval", "action_mode", "encoding", "reward", "sensing", "sensor_noise",
             "sensor_dropout", "demand_jitter", "eval_seeds", "eval_every", "eval_episode",
             "checkpoint_every", "val_seeds", "test_seeds", "follow_bias", "critic_steps",
             "hold_extra", "wall_budget", "method", "rounds", "label_episodes", "horizon",
             "margin", "sample_share", "fit", "max_seed_loss")


#: options the residual mode does not use, and options only it uses
_NOT_RESIDUAL = ("eval_seeds", "checkpoint_every")
_RESIDUAL_ONLY = ("val_seeds", "test_seeds", "follow_bias", "critic_steps", "hold_extra",
                  "wall_budget", "method")
#: options of ``--method rollout`` only (and the PPO options it does not use)
_ROLLOUT_ONLY = ("rounds", "label_episodes", "horizon", "margin", "sample_share", "fit",
                 "max_seed_loss")
_NOT_ROLLOUT = ("steps", "critic_steps", "sensor_noise", "sensor_dropout",
                "demand_jitter", "reward")


def _canonical_argv(args: argparse.Namespace) -> list[str]:
    """The training command with every option spelled out (defaults included)."""
    out: list[str] = []
    residual = args.action_mode == "residual"
    rollout = residual and args.method == "rollout"
    for name in _RECORDED:
        value = getattr(args, name)
        if value is None or (residual and name in _NOT_RESIDUAL) \
                or (not residual and name in _RESIDUAL_ONLY) \
                or (not rollout and name in _ROLLOUT_ONLY) or (rollout and name in _NOT_ROLLOUT):
            continue
        if name in ("eval_seeds", "val_seeds", "test_seeds"):
            value = ",".join(str(s) for s in value)
        elif name == "margin":
            value = ",".join(f"{m:g}" for m in value)
        out += [f"--{name.replace('_', '-')}", f"{value:g}" if isinstance(value, float)
                else str(value)]
    return out + (["--resume"] if args.resume else [])


def _cmd_train(args: argparse.Namespace) -> int:
    from controllers.rl.config import EnvConfig, mode_defaults
    from controllers.rl.rollout_labels import RolloutConfig
    from controllers.rl.train import TrainConfig, train
    from controllers.rl.train_residual import ResidualPlan
    from controllers.rl.train_rollout import RolloutPlan
    from experiments.results import code_revision
    from scenarios.outpaths import writable_dir
    from scenarios.scenario import load_scenario
    from signals.errors import ConfigError

    load_scenario(args.scenario)  # one-line error for an unknown scenario or bad .sumocfg
    residual = args.action_mode == "residual"
    if args.method == "rollout" and (not residual or args.algo != "ppo" or args.resume):
        raise ConfigError("--method rollout trains the residual action mode (--algo ppo, no "
                          "--resume)")
    for key, value in mode_defaults(args.action_mode).items():
        option = key.removesuffix("_s")  # decision_interval_s -> --decision-interval
        if getattr(args, option) is None:
            setattr(args, option, value)
    # never replace an earlier policy: a folder with files needs --resume
    out = writable_dir(args.out, "--out", empty=not args.resume,
                       hint="pass --resume to continue that training, or choose another "
                            "--out")
    env = EnvConfig(scenario=args.scenario, decision_interval_s=args.decision_interval,
                    episode_s=args.episode, action_mode=args.action_mode,
                    encoding=args.encoding, reward=args.reward,
                    sensor_noise=args.sensor_noise, sensor_dropout=args.sensor_dropout,
                    demand_jitter=args.demand_jitter, hold_extra_s=args.hold_extra,
                    sensing=args.sensing)
    plan = ResidualPlan(val_seeds=args.val_seeds, test_seeds=args.test_seeds,
                        follow_bias=args.follow_bias, critic_steps=args.critic_steps,
                        wall_budget_s=args.wall_budget * 60.0)
    import shlex

    command = "ampel train " + shlex.join(_canonical_argv(args))
    cfg = TrainConfig(out=out, algo=args.algo, steps=args.steps, envs=args.envs,
                      seed=args.seed, env=env, eval_seeds=args.eval_seeds,
                      eval_every=args.eval_every, eval_episode_s=args.eval_episode,
                      checkpoint_every=args.checkpoint_every, resume=args.resume,
                      junction=args.junction, command=command,
                      code_revision=code_revision(), residual=plan)
    if residual and args.method == "rollout":
        rollout = RolloutPlan(
            rounds=args.rounds, episodes=args.label_episodes,
            rollout=RolloutConfig(horizon_s=args.horizon, margin_veh_s=args.margin[0],
                                  sample_share=args.sample_share), margins=args.margin,
            val_seeds=args.val_seeds, test_seeds=args.test_seeds,
            follow_bias=args.follow_bias, loss=args.fit, max_seed_loss=args.max_seed_loss,
            wall_budget_s=args.wall_budget * 60.0)
        cfg = replace(cfg, rollout=rollout)
    result = train(cfg, progress=not args.quiet)
    ev = result.final_eval
    if residual and args.method == "rollout":
        print(f"labelled {result.steps} decision points in {args.rounds} round(s), "
              f"{result.wall_s / 60:.1f} min in all (rollout, seed {args.seed})")
    else:
        print(f"trained {result.steps} steps in {result.wall_s / 60:.1f} min "
              f"({args.algo}, {args.envs} envs, seed {args.seed})")
    which = "selected checkpoint, test seeds" if residual else "final policy"
    print(f"  held-out seeds {ev['seeds']}: mean delay {ev['mean_delay_s']:.1f} s "
          f"({args.eval_episode:g} s episodes, {which})")
    if residual and args.method == "rollout":
        print(f"  written: {result.onnx}, {result.spec}, candidates in {out / 'candidates'}")
    else:
        print(f"  written: {result.onnx}, {result.spec}, TensorBoard logs in "
              f"{out / 'tensorboard'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` sub-command."""
    p = sub.add_parser(
        "train", help="train a learned controller (SB3) and export it to ONNX",
        description="Train a policy for one junction with stable-baselines3 (one SUMO "
                    "process per environment), evaluate it on held-out demand seeds, and "
                    "write DIR/policy.onnx + DIR/policy.json, checkpoints and TensorBoard "
                    "logs (tensorboard --logdir DIR/tensorboard).")
    p.add_argument("--scenario", required=True,
                   help="registered scenario name or path/to/x.sumocfg (an external SUMO "
                        "scenario, e.g. a RESCO network)")
    p.add_argument("--junction", default=None,
                   help="traffic-light id (default: the first); 'all': one shared policy for "
                        "every junction of the scenario, all under it at once (PPO with the "
                        "stage encoding, or --method rollout on the residual mode; equal "
                        "stage counts)")
    p.add_argument("--algo", choices=("ppo", "dqn"), default="ppo",
                   help="ppo: shared stage-scoring policy; dqn: MLP Q-network (default: ppo)")
    p.add_argument("--steps", type=_positive_int, default=100_000,
                   help="total decisions over all environments (default: 100000)")
    p.add_argument("--envs", type=_positive_int, default=2,
                   help="parallel environments, one SUMO process each; with --method "
                        "rollout: episodes labelled at once (default: 2)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="training seed")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--resume", action="store_true",
                   help="continue from the latest checkpoint in DIR/checkpoints")
    p.add_argument("--episode", type=positive_float, default=None,
                   help="simulated seconds per training episode (default: 3600 residual, "
                        "else 1800)")
    p.add_argument("--decision-interval", type=positive_float, default=None,
                   help="seconds between decisions (default: 1 residual, else 5)")
    p.add_argument("--action-mode", choices=("residual", "next-stage", "keep-switch"),
                   default="residual",
                   help="action space (default: residual, a correction on actuated control)")
    p.add_argument("--encoding", choices=("envelope", "stage", "lane"), default=None,
                   help="observation encoding (default: envelope with residual, else stage)")
    p.add_argument("--reward", choices=("backlog", "delay", "queue", "waiting", "pressure"),
                   default=None, help="training reward (default: backlog with residual, "
                                      "else delay)")
    p.add_argument("--sensing", type=sensing_text, default="loops",
                   help="sensing profile of training, validation and labelling runs: loops "
                        "(stop-line + upstream loop), advance (+ a loop 120 m upstream), "
                        "camera (+ a 100 m video zone); options after a colon, e.g. "
                        "camera:noise=0.1,dropout=0.05 to train on noisy cameras; recorded in "
                        "policy.json, and the rl controller refuses a run without the inputs "
                        "the policy was trained with (default: loops)")
    p.add_argument("--sensor-noise", type=bounded_float(0.0, 1.0), default=0.0,
                   help="multiplicative detector noise, e.g. 0.1 (default: 0)")
    p.add_argument("--sensor-dropout", type=bounded_float(0.0, 1.0), default=0.0,
                   help="per-lane detector dropout probability (default: 0)")
    p.add_argument("--demand-jitter", type=bounded_float(0.0, 1.0), default=0.2,
                   help="demand scale drawn per episode within 1 +- this (default: 0.2)")
    p.add_argument("--eval-seeds", type=seed_list, default=(1, 2, 3),
                   help="held-out demand seeds for evaluation, e.g. 1-3 (default: 1-3)")
    p.add_argument("--eval-every", type=non_negative_int, default=20_000,
                   help="steps between evaluations (0: only at the end; default: 20000)")
    p.add_argument("--eval-episode", type=positive_float, default=None,
                   help="simulated seconds per evaluation episode (default: 3600 residual, "
                        "else 1800)")
    p.add_argument("--val-seeds", type=seed_list, default=tuple(range(11, 31)),
                   help="residual: validation seeds that select the checkpoint "
                        "(default: 11-30)")
    p.add_argument("--test-seeds", type=seed_list, default=tuple(range(500, 520)),
                   help="residual: test seeds, evaluated once on the selected checkpoint "
                        "(default: 500-519)")
    p.add_argument("--follow-bias", type=bounded_float(-20.0, 20.0), default=2.5,
                   help="residual: initial logit advantage of 'follow actuated' (default: 2.5)")
    p.add_argument("--critic-steps", type=non_negative_int, default=20_000,
                   help="residual: decisions of critic pre-fit, actor frozen (default: 20000)")
    p.add_argument("--hold-extra", type=non_negative_float, default=10.0,
                   help="residual: seconds 'hold' may extend past actuated's maximum green "
                        "(default: 10)")
    p.add_argument("--wall-budget", type=positive_float, default=float("inf"),
                   help="residual: stop learning after this many wall minutes")
    p.add_argument("--method", choices=("ppo", "rollout"), default="ppo",
                   help="residual: ppo = MaskablePPO on the reward (default); rollout = "
                        "rollout policy improvement: at sampled decision points of episodes "
                        "run by actuated control (later rounds: by the last fitted policy) "
                        "each action is played from an exact copy of the simulation "
                        "(os.fork) for --horizon seconds, the cheapest becomes the label, "
                        "and the policy network is fitted to the labels; --envs episodes are "
                        "labelled at once, each in its own process; --steps, "
                        "--critic-steps, --reward, --sensor-*, --demand-jitter are unused")
    p.add_argument("--rounds", type=_positive_int, default=2,
                   help="rollout: labelling rounds, each followed by a fit and a validation "
                        "(default: 2)")
    p.add_argument("--label-episodes", type=_positive_int, default=6,
                   help="rollout: labelled one-hour episodes per round, fresh training seeds, "
                        "demand x0.8-1.2 (default: 6)")
    p.add_argument("--horizon", type=positive_float, default=120.0,
                   help="rollout: simulated seconds per branch (default: 120)")
    p.add_argument("--margin", type=_margins, default=(5.0,),
                   help="rollout: vehicle-seconds a deviation must save over 'follow' to "
                        "be chosen (advantage fit) or become the label (label fit); a comma "
                        "list, e.g. 0,10,20, makes each margin a validation candidate of "
                        "every round's one fit (default: 5)")
    p.add_argument("--sample-share", type=bounded_float(0.0, 1.0), default=0.25,
                   help="rollout: share of decision points that are labelled (default: 0.25)")
    p.add_argument("--fit", choices=("advantage", "label"), default="advantage",
                   help="rollout: advantage = regress each action's score on its branch cost "
                        "against follow (deviate only where the expected saving exceeds "
                        "--margin; default); label = cross-entropy on the best action")
    p.add_argument("--max-seed-loss", type=non_negative_float, default=0.15,
                   help="rollout: a fitted policy may be selected only if no validation seed "
                        "is more than this share worse than actuated control (default: 0.15)")
    p.add_argument("--checkpoint-every", type=_positive_int, default=20_000,
                   help="steps between checkpoints (default: 20000)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_train)
