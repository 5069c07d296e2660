#!/usr/bin/env python
"""Pool the labels of several ``ampel train --method rollout`` runs into one run folder.

Writes ``OUT/labels.npz`` (the runs' labelled points, concatenated), and copies the first
run's ``policy.json`` (its training record gains ``pooled_from`` and the pooled point
count) and ``evaluations.json`` (the warm-start validation the margins are compared with),
so that ``scripts/rollout_margins.py OUT`` refits and validates on the pooled labels. The
runs must share the observation layout (same scenario, sensing and encoding); the
``advantage`` fit reads only the branch costs, so runs labelled with different margins
pool cleanly.

    python scripts/pool_rollout_labels.py /tmp/run-a /tmp/run-b --out /tmp/pooled
    python scripts/rollout_margins.py /tmp/pooled --margins 50,75,100
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

KEYS = ("obs", "masks", "costs", "labels", "seeds")


def pool(runs: list[Path], out: Path) -> int:
    """Write the pooled folder; returns the number of pooled points."""
    import numpy as np

    from controllers.rl.train_rollout import read_rollout_run
    from scenarios.files import write_json_atomic
    from signals.errors import ConfigError

    if (out / "labels.npz").exists():
        raise ConfigError(f"{out} already holds pooled labels; choose another --out")
    runs_read = [read_rollout_run(r) for r in runs]
    specs = [spec for spec, _ in runs_read]
    parts = [np.load(r / "labels.npz") for r in runs]
    shapes = {p["obs"].shape[1:] for p in parts}
    if len(shapes) != 1:
        raise ConfigError(f"runs have different observation shapes: {sorted(shapes)}")
    layouts = {json.dumps([s["observation"], s["env_config"].get("sensing")], sort_keys=True)
               for s in specs}
    if len(layouts) != 1:
        raise ConfigError("runs differ in observation or sensing; their labels do not pool")
    seeds = [set(p["seeds"].tolist()) for p in parts]
    if any(seeds[i] & seeds[j] for i in range(len(seeds)) for j in range(i)):
        raise ConfigError("runs share a training seed; pool runs labelled on distinct hours")
    out.mkdir(parents=True, exist_ok=True)
    pooled = {k: np.concatenate([p[k] for p in parts]) for k in KEYS}
    if all("junctions" in p for p in parts):  # label files of corridor-aware runs
        pooled["junctions"] = np.concatenate([p["junctions"] for p in parts])
    spec = specs[0]
    spec["training"] = {**spec["training"], "label_points": int(len(pooled["labels"])),
                        "pooled_from": [str(r) for r in runs],
                        "pooled_hours": int(len(set(pooled["seeds"].tolist())))}
    write_json_atomic(spec, out / "policy.json")
    write_json_atomic(runs_read[0][1], out / "evaluations.json")
    np.savez_compressed(out / "labels.npz", **pooled)  # last: it marks a complete folder
    return int(len(pooled["labels"]))


def _main(argv: list[str] | None = None) -> int:
    """Pool the runs' labels; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", type=Path, nargs="+", help="folders of rollout runs")
    p.add_argument("--out", type=Path, required=True, help="folder of the pooled run")
    args = p.parse_args(argv)
    n = pool(args.runs, args.out)
    print(f"pooled {n} points from {len(args.runs)} runs into {args.out / 'labels.npz'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The script; a user's mistake is one line and exit 2."""
    from experiments.cli.options import script_main

    return script_main("pool_rollout_labels", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
