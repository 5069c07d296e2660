#!/usr/bin/env python
"""Training curves of learned policies: the validation score of every candidate against
the training wall-clock time, from the training record in each ``policy.json``.

``ampel train`` validates the warm start (actuated control) and every candidate on the
validation seeds and records them in ``policy.json`` (``training.validation``): PPO runs a
checkpoint every ``--eval-every`` steps, rollout runs one candidate per margin after each
round. The plot has one panel per policy: mean total delay on the validation seeds
against minutes of training, the warm start as a dashed line, the selected candidate
ringed.

    python scripts/plot_training.py controllers/rl/policies/westentor-camera-30min/policy.json \\
        controllers/rl/policies/werler_strasse-camera/policy.json \\
        controllers/rl/policies/cologne1-camera/policy.json --out docs/img/training.png
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any, NamedTuple

#: score keys in the order they were used by earlier versions of ampel train
SCORE_KEYS = ("mean_total_delay_s", "mean_delay_with_backlog_s")


class Curve(NamedTuple):
    """One policy's validation history."""

    title: str
    minutes: tuple[float, ...]
    scores: tuple[float, ...]
    baseline: float | None
    selected: int | None


def _score(entry: dict[str, Any]) -> float | None:
    for key in SCORE_KEYS:
        if isinstance(entry.get(key), int | float):
            return float(entry[key])
    return None


def read_curve(path: Path) -> Curve:
    """The validation history of one ``policy.json`` (ConfigError if it has none)."""
    from signals.errors import ConfigError

    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    training = spec.get("training") if isinstance(spec, dict) else None
    history = training.get("validation") if isinstance(training, dict) else None
    if not isinstance(history, list) or not history:
        raise ConfigError(f"{path} has no validation history (training.validation)")
    points = [(float(e["wall_s"]) / 60.0, s, e) for e in history
              if isinstance(e, dict) and isinstance(e.get("wall_s"), int | float)
              and (s := _score(e)) is not None]
    if not points:
        raise ConfigError(f"{path}: no validation entry has a wall time and a score")
    baseline = next((s for _, s, e in points
                     if "warm start" in str(e.get("phase", e.get("name", "")))), None)
    chosen = training.get("selected_checkpoint")
    selected = next((i for i, (_, _, e) in enumerate(points)
                     if chosen is not None and e.get("checkpoint") == chosen), None)
    if selected is None and baseline is not None and len(points) > 1:
        # rollout runs: the best candidate that is not the warm start
        selected = min(range(1, len(points)), key=lambda i: points[i][1])
    scenario = str(spec.get("scenario", "?"))
    if scenario.endswith(".sumocfg"):  # an external network: its file name, not its path
        scenario = Path(scenario).stem
    title = f"{path.parent.name}: {scenario}"
    return Curve(title, tuple(m for m, _, _ in points), tuple(s for _, s, _ in points),
                 baseline, selected)


def plot(curves: list[Curve], out: Path) -> None:
    """Write one panel per curve to ``out`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scenarios.files import write_bytes_atomic

    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.2), squeeze=False)
    for ax, c in zip(axes[0], curves, strict=True):
        ax.plot(c.minutes, c.scores, marker="o", color="tab:blue", label="candidate")
        if c.baseline is not None:
            ax.axhline(c.baseline, color="grey", linestyle="--", label="actuated (warm start)")
        if c.selected is not None:
            ax.scatter([c.minutes[c.selected]], [c.scores[c.selected]], s=140,
                       facecolors="none", edgecolors="tab:red", label="selected")
        ax.set_title(c.title, fontsize=9)
        ax.set_xlabel("training wall time [min]")
        ax.set_ylabel("validation mean total delay [s]")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(buf.getvalue(), out)


def main(argv: list[str] | None = None) -> int:
    """Command line; exit 2 with one line on bad input."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("policies", nargs="+", type=Path, help="policy.json files")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out")
    args = parser.parse_args(argv)
    from signals.errors import AmpelError

    try:
        if args.out.exists() and not args.force:
            raise_exists(args.out)
        curves = [read_curve(p) for p in args.policies]
        plot(curves, args.out)
    except AmpelError as exc:
        print(f"plot_training: {exc}", file=sys.stderr)
        return 2
    for c in curves:
        best = c.scores[c.selected] if c.selected is not None else min(c.scores)
        print(f"{c.title}: {len(c.scores)} validations over {c.minutes[-1]:.0f} min, "
              f"warm start {c.baseline if c.baseline is not None else float('nan'):.2f} s, "
              f"selected {best:.2f} s")
    print(f"written: {args.out}")
    return 0


def raise_exists(out: Path) -> None:
    """Refuse to overwrite a plot without --force."""
    from signals.errors import ConfigError

    raise ConfigError(f"{out} exists; pass --force to overwrite it")


if __name__ == "__main__":
    sys.exit(main())
