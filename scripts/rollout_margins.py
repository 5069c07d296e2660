#!/usr/bin/env python
"""Try other margins on a finished ``ampel train --method rollout`` run (one round).

Refits the run's round-1 fit from ``DIR/labels.npz`` (same seed, epochs and learning rate
as the run; the fit's loss, accuracy and deviation share are printed next to the run's, so
a mismatch shows), then validates each margin (the same fit with the hold/end scores
shifted, :func:`controllers.rl.train_rollout.with_margin`) on the run's validation seeds,
and optionally exports one margin's policy. Each margin's policy is exported to
``DIR/margins/M/`` and scored as ``ampel train`` scores its candidates: through ``ampel
run --controller rl`` (runtime fallback on), one fresh process per run, ``--workers`` at
a time (:func:`controllers.rl.fresh_eval.evaluate_policy`). ``ampel train ... --margin
M1,M2,...`` does the same inside the run; this script serves runs made with one margin.

    python scripts/rollout_margins.py DIR --margins 20,30,50,75
    python scripts/rollout_margins.py DIR --export 75 --out DIR2
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("rollout_margins")


def refit(run: Path, spec: dict) -> tuple[Any, Any, float]:
    """The run's round-1 fit (model, env config, the margin it was fitted with)."""
    import numpy as np

    from controllers.rl.config import EnvConfig
    from controllers.rl.rollout_labels import LabelSet
    from controllers.rl.train_rollout import first_junction, fit_actor, new_model
    from scenarios.scenario import load_scenario

    env = dict(spec["env_config"])
    env["demand_seeds"] = tuple(env["demand_seeds"])
    cfg = EnvConfig(**env)
    method = spec["training"]["method"]
    fitted = float(method["margins_veh_s"][0] if "margins_veh_s" in method
                   else method["margin_veh_s"])
    z = np.load(run / "labels.npz")
    labels = LabelSet(obs=list(z["obs"]), masks=list(z["masks"]), costs=list(z["costs"]),
                      labels=[int(x) for x in z["labels"]], seeds=[int(x) for x in z["seeds"]],
                      junctions=[str(x) for x in z["junctions"]] if "junctions" in z else [])
    seed = int(spec["training"]["seed"]) + 1  # round 1, as train_rollout seeds it
    junction = first_junction(load_scenario(cfg.scenario), spec["training"].get("junction"))
    model = new_model(cfg, junction, 2.5, seed)
    fit = fit_actor(model.policy, labels, int(method["epochs"]), float(method["learning_rate"]),
                    seed, loss=method["fit"], margin_veh_s=fitted)
    print(f"refit: {fit}\nrun's fit: {spec['training']['rounds'][0]['fit']}", flush=True)
    return model, cfg, fitted


def _margins(text: str) -> list[float]:
    """``20,30,50`` as numbers (>= 0); anything else is a ConfigError."""
    from signals.errors import ConfigError

    try:
        margins = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--margins: expected numbers like 20,30,50, got {text!r}") from None
    if any(not m >= 0 for m in margins):
        raise ConfigError(f"--margins: margins must be >= 0, got {text!r}")
    return margins


def _main(argv: list[str] | None = None) -> int:
    """Validate margins or export one; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="folder of an ampel train --method rollout run")
    p.add_argument("--margins", default="", help="margins to validate, e.g. 20,30,50")
    p.add_argument("--export", type=float, default=None, help="export this margin's policy")
    p.add_argument("--out", type=Path, default=None, help="folder of the exported policy")
    p.add_argument("--workers", type=int, default=2,
                   help="validation runs at once, each in a fresh process (default: 2)")
    args = p.parse_args(argv)
    if args.export is not None and args.out is None:
        p.error("--export needs --out")
    margins = _margins(args.margins)
    import torch

    from controllers.rl.export import export_policy
    from controllers.rl.fresh_eval import SELECT_METRIC, evaluate_policy
    from controllers.rl.train_rollout import (
        junction_infos,
        read_rollout_run,
        with_margin,
        worst_seed_ratio,
    )
    from scenarios.files import write_json_atomic
    from scenarios.scenario import load_scenario
    from signals.errors import ConfigError

    torch.set_num_threads(1)
    spec, evaluations = read_rollout_run(args.run)
    warm = evaluations[0]
    if args.export is not None and (args.out / "policy.onnx").exists():
        raise ConfigError(f"{args.out} already holds a policy; choose another --out")
    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    model, cfg, fitted = refit(args.run, spec)
    junction = spec["training"].get("junction")
    scenario = load_scenario(cfg.scenario)
    infos = junction_infos(scenario, junction)
    extra = {k: spec[k] for k in ("seeds", "envelope", "applies_to") if k in spec}
    if args.export is not None:
        cand = with_margin(model, fitted, args.export, cfg, junction, 0)
        training = {**spec["training"], "margin_chosen_on_validation": args.export,
                    "exported_by": "scripts/rollout_margins.py (the run's fit, with_margin)"}
        export_policy(cand, "ppo", cfg, infos, args.out, training, extra)
        print(f"exported {args.out / 'policy.onnx'}")
        return 0
    seeds = tuple(spec["seeds"]["validation"])
    episode_s = float(spec["training"].get("eval_episode_s", cfg.episode_s))
    stored = args.run / "margins.json"
    results = json.loads(stored.read_text()) if stored.is_file() else []
    for m in margins:
        folder = args.run / "margins" / f"{m:g}"
        export_policy(with_margin(model, fitted, m, cfg, junction, 0), "ppo", cfg, infos,
                      folder, {**spec["training"], "candidate": f"margin {m:g}"},
                      extra)
        res = evaluate_policy(folder / "policy.onnx", cfg.scenario, seeds, episode_s,
                              cfg.sensing, args.workers)
        res.update(margin=m, worst_seed_ratio=worst_seed_ratio(res, warm))
        results = [r for r in results if r.get("margin") != m] + [res]  # earlier calls kept
        base = warm[SELECT_METRIC]
        print(f"margin {m:g}: {res[SELECT_METRIC]:.2f} s against actuated {base:.2f} s "
              f"({100 * (res[SELECT_METRIC] / base - 1):+.1f} %), worst seed "
              f"x{res['worst_seed_ratio']:.3f}, deviations {100 * res['deviation_share']:.1f} %",
              flush=True)
        write_json_atomic(results, stored)
    return 0


def main(argv: list[str] | None = None) -> int:
    """The script; a user's mistake is one line and exit 2."""
    from experiments.cli.options import script_main

    return script_main("rollout_margins", _main, argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
