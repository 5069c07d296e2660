#!/usr/bin/env python
"""How far the residual envelope's actions can reach: the clairvoyant rollout ceiling.

Runs one hour of a scenario three ways on the same demand seed and prints the cost the
rollout labels use (approach delay rate plus vehicles waiting to enter, summed over the
hour, vehicle-seconds; no runtime fallback):

- ``follow``: actuated control (the warm start);
- ``policy``: an exported residual policy (``--policy``), if given;
- ``oracle``: at every decision point with a choice, every distinct action is branched
  for ``--horizon`` seconds (actuated afterwards) and the cheapest is played (ties and
  gains within ``--margin`` go to ``follow``). The branches see the seed's future
  arrivals, so this is an upper bound of one-step rollout improvement, not a policy.

The oracle branches about 1,700 points per Westentor hour (about 20 minutes of CPU).
Use training seeds (not the validation or test seeds of a policy).

    python scripts/rollout_ceiling.py --scenario westentor --sensing camera --seeds 2000001 \\
        --policy controllers/rl/policies/westentor-camera-30min/policy.onnx
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


def run_hour(scenario: Any, config: Any, seed: int, mode: str, policy: Any = None,
             horizon_s: float = 120.0, margin_veh_s: float = 0.0) -> dict:
    """One episode under ``mode`` (follow, policy or oracle); its cost and deviations."""
    import numpy as np

    from controllers.rl.residual import FOLLOW
    from controllers.rl.rewards import REWARD_SCALE
    from controllers.rl.rollout_labels import (
        base_actions,
        branch_costs,
        choose_label,
        distinct_actions,
        follow_policy,
    )
    from controllers.rl.sim import Simulation

    sim = Simulation(scenario, config, (scenario.junctions[0].tls,))
    started = time.perf_counter()
    cost, deviations, branched = 0.0, 0, 0
    try:
        sim.start(np.random.default_rng(0), {"demand_seed": seed, "demand_scale": 1.0})
        sim.reward()
        while not sim.done:
            actions = base_actions(sim, follow_policy)
            for aid in actions:
                if mode == "oracle" and len(distinct_actions(sim, aid)) > 1:
                    costs = branch_costs(sim, aid, follow_policy, horizon_s, actions)
                    actions[aid] = choose_label(costs, margin_veh_s)
                    branched += 1
                elif mode == "policy":
                    actions[aid] = policy.act_masked(sim.encode(aid, None),
                                                     tuple(sim.mask(aid)))
                deviations += actions[aid] != FOLLOW
            sim.advance(actions)
            cost -= sim.reward() * REWARD_SCALE
    finally:
        sim.close()
    return {"seed": seed, "mode": mode, "sensing": sim.scenario.sensing.name,
            "cost_veh_s": round(cost, 1),
            "deviations": deviations, "branched_points": branched,
            "wall_s": round(time.perf_counter() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="westentor",
                        help="registered scenario or .sumocfg (its first junction is run)")
    parser.add_argument("--sensing", default=None,
                        help="loops, advance or camera (default: the policy's, else camera)")
    parser.add_argument("--seeds", default="2000001", help="demand seeds, e.g. 2000001,2000002")
    parser.add_argument("--policy", help="an exported residual policy.onnx to score as well")
    parser.add_argument("--horizon", type=float, default=120.0, help="branch length [s]")
    parser.add_argument("--margin", type=float, default=0.0,
                        help="a deviation must beat follow by this many vehicle-seconds")
    parser.add_argument("--duration", type=float, default=3600.0, help="episode length [s]")
    parser.add_argument("--modes", default="follow,policy,oracle",
                        help="which of follow, policy, oracle to run")
    parser.add_argument("--json", action="store_true", help="print one JSON row per run")
    args = parser.parse_args(argv)

    from controllers.rl.config import EnvConfig
    from controllers.rl.env import make_config
    from controllers.rl.policy import OnnxPolicy
    from scenarios.scenario import load_scenario
    from signals.errors import AmpelError

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        unknown = set(modes) - {"follow", "policy", "oracle"}
        if unknown:
            raise ValueError(f"unknown mode {sorted(unknown)[0]!r}")
    except ValueError as exc:
        print(f"rollout_ceiling: {exc}", file=sys.stderr)
        return 2
    if "policy" in modes and not args.policy:
        modes.remove("policy")
    try:
        scenario = load_scenario(args.scenario)
        policy = OnnxPolicy.load(args.policy) if args.policy else None
        # the policy's own environment (sensing, hold_extra_s, ...) when one is scored
        trained = (make_config(None, dict(policy.spec.get("env_config") or {}))
                   if policy is not None else None)
        overrides: dict[str, Any] = dict(
            scenario=args.scenario, decision_interval_s=1.0, episode_s=args.duration,
            action_mode="residual", encoding="envelope", reward="total", demand_jitter=0.0,
            demand_seeds=(), episode_metrics=False)
        if args.sensing is not None or trained is None:
            overrides["sensing"] = args.sensing or "camera"
        config = make_config(trained or EnvConfig(hold_extra_s=10.0), overrides)
    except AmpelError as exc:
        print(f"rollout_ceiling: {exc}", file=sys.stderr)
        return 2
    for seed in seeds:
        base = None
        for mode in modes:
            row = run_hour(scenario, config, seed, mode, policy, args.horizon, args.margin)
            if mode == "follow":
                base = row["cost_veh_s"]
            elif base:
                row["vs_follow"] = round(row["cost_veh_s"] / base - 1.0, 4)
            print(json.dumps(row) if args.json else
                  " ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
