"""Training of the ``residual`` mode by rollout policy improvement (``ampel train --method
rollout``): counterfactual labels (:mod:`controllers.rl.rollout_labels`), behaviour cloning
of the MaskablePPO actor, DAgger-style rounds, selection on validation seeds.

Order of a run (one process, one SUMO simulation at a time, one torch thread):

1. round 1 labels episodes run by actuated control (base policy ``follow``);
2. the actor of a fresh :class:`~controllers.rl.nets.ResidualPolicy` (the network that
   exports to ONNX) is fitted to every label so far by masked cross-entropy;
3. the fitted policy is evaluated on the validation seeds; it becomes the base policy of
   the next round (its states, its continuation in the branches);
4. after the last round the best of actuated control (the warm start, always a candidate)
   and the fitted policies on validation is selected — a fit only if no validation seed is
   more than ``max_seed_loss`` worse than under actuated control — evaluated once on the
   test seeds and exported.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from controllers.rl.config import ALL, TRAIN_SEED_MIN
from controllers.rl.fresh_eval import SELECT_METRIC, evaluate_policy
from controllers.rl.rollout_labels import (
    BasePolicy,
    LabelSet,
    NumpyActor,
    RolloutConfig,
    collect_labels,
    follow_policy,
)
from signals.errors import ConfigError
from signals.numbers import check_number

log = logging.getLogger(__name__)

#: fit targets: ``advantage`` regresses each action's logit minus follow's onto minus its
#: cost difference to follow (the argmax is then the action with the lowest expected cost);
#: ``label`` fits the hard labels by cross-entropy
LOSSES = ("advantage", "label")


@dataclass(frozen=True)
class RolloutPlan:
    """The rollout-specific part of a training run.

    Attributes:
        rounds: labelling rounds (round 1 under actuated, later ones under the last fit).
        episodes: labelled episodes per round (fresh training seeds).
        rollout: how decision points are labelled (horizon, margin, sample share).
        demand_range: each labelled episode's demand scale is drawn from this range.
        epochs: passes over the labels per fit.
        learning_rate: Adam step size of the fit.
        val_seeds: validation seeds (selection); test_seeds: evaluated once at the end.
        follow_bias: initial ``follow`` logit of the network (before the fit).
        loss: ``advantage`` (regression on the branch costs) or ``label`` (cross-entropy on
            the hard labels); see :func:`fit_actor`.
        max_seed_loss: a fit is a candidate only if on every validation seed its total
            delay is at most ``1 + max_seed_loss`` times actuated's (the per-seed target).
        wall_budget_s: no further labelling episode starts past this wall time.
        margins: ``advantage`` fit: the margins (vehicle-seconds) tried on every round's
            fit, each a validation candidate (:func:`shift_margin`; the fit itself is the
            same); empty: the one margin of ``rollout``.
    """

    rounds: int = 2
    episodes: int = 6
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    demand_range: tuple[float, float] = (0.8, 1.2)
    epochs: int = 40
    learning_rate: float = 3e-3
    val_seeds: tuple[int, ...] = tuple(range(11, 31))
    test_seeds: tuple[int, ...] = tuple(range(500, 520))
    follow_bias: float = 2.5
    loss: str = "advantage"
    max_seed_loss: float = 0.15
    wall_budget_s: float = float("inf")
    margins: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown fit loss {self.loss!r} (known: {', '.join(LOSSES)})")
        for m in self.margins:
            check_number(m, "margin", low=0.0, high=1e6)
        if len(self.margins) > 1 and self.loss != "advantage":
            raise ConfigError("several margins need the advantage fit (the label fit has its "
                              "margin in the labels)")
        object.__setattr__(self, "margins", tuple(float(m) for m in self.margins))
        check_number(self.rounds, "rounds", low=1, high=100)
        check_number(self.episodes, "episodes", low=1, high=10_000)
        check_number(self.epochs, "epochs", low=1, high=10_000)
        check_number(self.learning_rate, "learning_rate", low=1e-6, high=1.0)
        check_number(self.follow_bias, "follow_bias", low=-20.0, high=20.0)
        check_number(self.max_seed_loss, "max_seed_loss", low=0.0, high=100.0)
        lo, hi = self.demand_range
        check_number(lo, "demand_range low", low=0.05, high=hi)
        check_number(hi, "demand_range high", low=lo, high=5.0)

    @property
    def margin_list(self) -> tuple[float, ...]:
        """The margins tried on every fit (at least the rollout's own)."""
        return self.margins or (self.rollout.margin_veh_s,)


def policy_logits(policy: Any, obs: Any) -> Any:
    """The actor's action scores for a batch (the same path as the ONNX export)."""
    features = policy.extract_features(obs, policy.pi_features_extractor)
    return policy.action_net(policy.mlp_extractor.forward_actor(features))


def fit_actor(policy: Any, labels: LabelSet, epochs: int, learning_rate: float,
              seed: int, loss: str = "advantage", cost_scale_veh_s: float = 100.0,
              margin_veh_s: float = 0.0, batch_size: int = 256) -> dict[str, float]:
    """Fit the actor of a ``ResidualPolicy`` to the labelled points (the critic is left
    alone).

    ``advantage``: Huber regression of ``logit[a] - logit[follow]`` onto
    ``-(cost[a] - cost[follow]) / cost_scale_veh_s`` for every valid action (the clairvoyant
    branch costs are noisy; the regression estimates their mean given the features, and
    deviations whose expected saving is small never win); afterwards the ``hold`` and
    ``end`` biases are lowered by ``margin_veh_s / cost_scale_veh_s``, so the exported
    argmax deviates only where the expected saving exceeds the margin. ``label``: masked
    cross-entropy on the hard labels. Returns the final loss, the agreement with the
    labels and the share of points where the fitted policy deviates.
    """
    import torch

    if loss not in LOSSES:
        raise ConfigError(f"unknown fit loss {loss!r} (known: {', '.join(LOSSES)})")
    data = labels.arrays()
    n = len(labels)
    if n == 0:
        return {"loss": float("nan"), "accuracy": float("nan"), "deviations": 0.0, "points": 0}
    obs = torch.as_tensor(data["obs"], dtype=torch.float32)
    masks = torch.as_tensor(data["masks"], dtype=torch.bool)
    target = torch.as_tensor(data["labels"], dtype=torch.long)
    costs = np.nan_to_num(data["costs"] - data["costs"][:, :1], nan=0.0)
    adv = torch.as_tensor(-costs / cost_scale_veh_s, dtype=torch.float32)
    params = list(policy.actor_parameters())
    opt = torch.optim.Adam(params, lr=learning_rate)
    gen = torch.Generator().manual_seed(seed)
    policy.train()
    loss_value = float("nan")
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            logits = policy_logits(policy, obs[idx])
            if loss == "label":
                value = torch.nn.functional.cross_entropy(
                    logits.masked_fill(~masks[idx], -1e9), target[idx])
            else:
                diff = logits - logits[:, :1]
                m = masks[idx].clone()
                m[:, 0] = False
                err = torch.nn.functional.huber_loss(diff[m], adv[idx][m], reduction="sum",
                                                     delta=3.0)
                value = (err + 1e-3 * (logits[:, 0] ** 2).sum()) / len(idx)
            opt.zero_grad()
            value.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            total += float(value.detach()) * len(idx)
        loss_value = total / n
    if loss == "advantage" and margin_veh_s > 0:
        shift_margin(policy, margin_veh_s, cost_scale_veh_s)
    policy.eval()
    with torch.no_grad():
        pred = policy_logits(policy, obs).masked_fill(~masks, -1e9).argmax(dim=1)
    return {"loss": loss_value, "accuracy": float((pred == target).float().mean()),
            "deviations": float((pred != 0).float().mean()), "points": n}


def shift_margin(policy: Any, margin_veh_s: float, cost_scale_veh_s: float = 100.0) -> None:
    """Lower the ``hold`` and ``end`` scores of an ``advantage`` fit by ``margin_veh_s``
    (negative: raise them), so the argmax deviates from follow only where the expected
    saving exceeds the margin."""
    import torch

    with torch.no_grad():
        policy.action_net.out.bias[1:] -= margin_veh_s / cost_scale_veh_s


def first_junction(scenario: Any, junction: str | None) -> str | None:
    """The junction whose environment builds the network (``all``: the first one; the
    shared network fits every layout)."""
    return scenario.junctions[0].tls if junction == ALL else junction


def with_margin(model: Any, fitted_margin: float, margin: float, env_config: Any,
                junction: str | None, seed: int) -> Any:
    """A copy of ``model`` (fitted with ``fitted_margin``) with ``margin`` instead."""
    if junction == ALL:
        from scenarios.scenario import load_scenario

        junction = first_junction(load_scenario(env_config.scenario), junction)
    copy = new_model(env_config, junction, 0.0, seed)
    copy.policy.load_state_dict(model.policy.state_dict())
    shift_margin(copy.policy, margin - fitted_margin)
    copy.policy.eval()
    return copy


def worst_seed_ratio(result: dict, baseline: dict) -> float:
    """Largest per-seed ratio of total delay against the baseline's on the same seed."""
    base = {r["seed"]: r[SELECT_METRIC] for r in baseline["per_seed"]}
    return max((r[SELECT_METRIC] / base[r["seed"]] for r in result["per_seed"]
                if base.get(r["seed"], 0) > 0), default=1.0)


def select(history: list[dict], max_seed_loss: float) -> int:
    """Index of the selected candidate: the lowest mean total delay among the warm start
    (``history[0]``, always eligible) and the fits within the per-seed bound."""
    for res in history:
        res["worst_seed_ratio"] = round(worst_seed_ratio(res, history[0]), 4)
    ok = [i for i, r in enumerate(history)
          if i == 0 or r["worst_seed_ratio"] <= 1.0 + max_seed_loss]
    return min(ok, key=lambda i: (history[i][SELECT_METRIC], i))


def save_labels(labels: LabelSet, path: Any) -> None:
    """Write the labelled points to an ``.npz`` file (obs, masks, costs, labels, seeds,
    junctions)."""
    a = labels.arrays()
    np.savez_compressed(path, obs=a["obs"], masks=a["masks"], costs=a["costs"],
                        labels=a["labels"], seeds=a["seeds"], junctions=a["junctions"])


def new_model(env_config: Any, junction: str | None, follow_bias: float, seed: int) -> Any:
    """A MaskablePPO with a fresh ``ResidualPolicy`` (only its actor is fitted here; the
    model object carries the network to validation, export and ``model.zip``)."""
    from sb3_contrib import MaskablePPO

    from controllers.rl.env import JunctionEnv
    from controllers.rl.nets import ResidualPolicy

    env = JunctionEnv(env_config.scenario, junction=junction, config=env_config)
    return MaskablePPO(ResidualPolicy, env, seed=seed, device="cpu", verbose=0,
                       policy_kwargs={"follow_bias": follow_bias}, n_steps=64, batch_size=64)


def read_rollout_run(run: Path) -> tuple[dict, list[dict]]:
    """A finished rollout run's ``policy.json`` and ``evaluations.json`` (the scripts that
    refit or pool its labels); a folder that is not one is a :class:`ConfigError`."""
    files = [run / name for name in ("policy.json", "evaluations.json", "labels.npz")]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise ConfigError(f"{run} is not a finished 'ampel train --method rollout' run "
                          f"(missing {', '.join(missing)})")
    try:
        spec = json.loads(files[0].read_text())
        evaluations = json.loads(files[1].read_text())
    except ValueError as exc:
        raise ConfigError(f"{run}: unreadable rollout run ({exc})") from None
    if not evaluations or "method" not in spec.get("training", {}):
        raise ConfigError(f"{run}: policy.json is not from 'ampel train --method rollout' "
                          "or the run has no validation yet")
    return spec, evaluations


#: wall seconds kept back from labelling for the fit of a round (besides its validation)
FIT_RESERVE_S = 60.0


def policy_extra(env_config: Any, val_seeds: tuple[int, ...], test_seeds: tuple[int, ...],
                 junction: str | None = None) -> dict[str, Any]:
    """The ``policy.json`` fields of a residual policy besides its training record: the
    three seed sets, the envelope (read by the ``rl`` controller) and, for a policy
    trained on every junction at once, ``applies_to: all`` (``shared`` is set by the
    export: the ``rl`` controller runs it at every junction whose layout it lists)."""
    out: dict[str, Any] = {
        "seeds": {"train": f"[{TRAIN_SEED_MIN}, 2^31-1), drawn per episode",
                  "validation": list(val_seeds), "test": list(test_seeds)},
        "envelope": {"actuated": "default ActuatedParams",
                     "hold_extra_s": env_config.hold_extra_s}}
    if junction == ALL:
        out["applies_to"] = ALL
    return out


def junction_infos(scenario: Any, junction: str | None) -> list[Any]:
    """The layouts a policy trained on ``junction`` serves (``all``: every junction)."""
    if junction == ALL:
        return [j.info for j in scenario.junctions]
    tls = junction or scenario.junctions[0].tls
    return [j.info for j in scenario.junctions if j.tls == tls]


def train_rollout(cfg: Any, plan: RolloutPlan) -> dict[str, Any]:
    """Run the rounds described in the module docstring. Returns a record with the
    selected model, every round's labels and validation result, and the test result.

    Every candidate (the warm start and each fit with each margin) is exported to
    ``DIR/candidates/NN/`` and scored there by :func:`evaluate_policy`: through the
    ``rl`` controller with its runtime fallback, one fresh process per run, ``cfg.envs``
    at a time (exactly what ``ampel run --controller rl`` reports for that file).
    Labelling stops early enough that the round's fit and the validation of its margins
    (timed by the latest validation) fit into ``plan.wall_budget_s``.
    """
    import torch

    from controllers.rl.export import export_policy
    from scenarios.files import write_json_atomic
    from scenarios.scenario import load_scenario

    torch.set_num_threads(1)
    started = time.perf_counter()
    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    scenario = load_scenario(cfg.env.scenario)
    infos = junction_infos(scenario, cfg.junction)
    extra = policy_extra(cfg.env, plan.val_seeds, plan.test_seeds, cfg.junction)
    rng = np.random.default_rng(cfg.seed)
    history: list[dict] = []
    models: list[Any] = []
    folders: list[Path] = []

    def validate(model: Any, name: str, info: dict) -> float:
        t0 = time.perf_counter()
        folder = out / "candidates" / f"{len(history):02d}"
        export_policy(model, "ppo", cfg.env, infos, folder,
                      {"candidate": name, "command": cfg.command}, extra)
        res = evaluate_policy(folder / "policy.onnx", cfg.env.scenario, plan.val_seeds,
                              cfg.eval_episode_s, cfg.env.sensing, cfg.envs)
        res.update(name=name, candidate=str(folder.relative_to(out)),
                   wall_s=round(time.perf_counter() - started, 1),
                   validation_wall_s=round(time.perf_counter() - t0, 1), **info)
        history.append(res)
        models.append(model)
        folders.append(folder)
        write_json_atomic(history, out / "evaluations.json")
        log.info("validation of %s: %s %.2f s, deviations %.1f %%, fallback %.1f %%", name,
                 SELECT_METRIC, res[SELECT_METRIC], 100 * res["deviation_share"],
                 100 * res["fallback_share"])
        return time.perf_counter() - t0

    warm = new_model(cfg.env, first_junction(scenario, cfg.junction), plan.follow_bias,
                     cfg.seed)
    val_s = validate(warm, "warm start (actuated)", {"round": 0, "points": 0})
    base: BasePolicy = follow_policy
    labels = LabelSet()
    rounds: list[dict] = []
    margins = plan.margin_list
    for k in range(1, plan.rounds + 1):
        # keep back the fit and the validations, timed by the latest validation (the
        # machine's load changes: the warm start's may have run on a busier machine)
        reserve_s = val_s * len(margins) + FIT_RESERVE_S
        left = plan.wall_budget_s - (time.perf_counter() - started) - reserve_s
        if left <= 0:
            log.info("wall budget used up before round %d", k)
            break
        got = collect_labels(cfg.env, base, plan.rollout, rng, plan.episodes,
                             plan.demand_range, left, cfg.junction, workers=cfg.envs)
        labels.extend(got)
        save_labels(labels, out / "labels.npz")
        model = new_model(cfg.env, first_junction(scenario, cfg.junction), plan.follow_bias,
                          cfg.seed + k)
        fit = fit_actor(model.policy, labels, plan.epochs, plan.learning_rate, cfg.seed + k,
                        loss=plan.loss, margin_veh_s=margins[0])
        info = {"round": k, "points": len(got), "labels": got.label_counts(),
                "episodes": len(set(got.seeds)), "fit": fit,
                "labelling_done_s": round(time.perf_counter() - started, 1)}
        rounds.append(info)
        model.save(out / f"fit-round-{k}.zip")  # the fit, whichever candidate is selected
        first = len(history)
        for m in margins:
            cand = model if m == margins[0] else with_margin(model, margins[0], m, cfg.env,
                                                             cfg.junction, cfg.seed + k)
            name = f"round {k}" if len(margins) == 1 else f"round {k}, margin {m:g}"
            val_s = validate(cand, name, {**info, "margin_veh_s": m})
        # the next round's base: this round's best margin (within the per-seed bound)
        best = select([history[0], *history[first:]], plan.max_seed_loss)
        base = NumpyActor.from_policy(models[first + max(best, 1) - 1].policy)
    best_i = select(history, plan.max_seed_loss)
    train_wall = time.perf_counter() - started
    selected = models[best_i]
    test = evaluate_policy(folders[best_i] / "policy.onnx", cfg.env.scenario, plan.test_seeds,
                           cfg.eval_episode_s, cfg.env.sensing, cfg.envs)
    return {"model": selected, "history": history, "rounds": rounds,
            "selected": history[best_i], "test": test, "train_wall_s": train_wall,
            "points": len(labels), "wall_s": time.perf_counter() - started}
