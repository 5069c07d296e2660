"""One simulated hour of Westentor: ampel fixed-time control vs raw libsumo stepping.

Both runs use the same network, seed, demand and detector file, in one process, and are
repeated alternately; the ratio of the medians is printed. Target: at most 1.3x raw.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from controllers.registry import controller_factory
from controllers.runner import build_controllers, run_closed_loop
from scenarios.scenario import Scenario, load_scenario


def raw_hour(scenario: Scenario, seed: int, duration: float, out: Path) -> float:
    """Seconds to write the demand and step SUMO through the hour with its own program."""
    started = time.perf_counter()
    session = scenario.session(seed, duration, out)
    with session:
        while not session.finished():
            session.step()
    return time.perf_counter() - started


def ampel_hour(scenario: Scenario, seed: int, duration: float, out: Path) -> float:
    """Seconds for the same hour under ampel's fixed-time control, metrics included."""
    controllers = build_controllers(scenario, controller_factory("fixed-time"))
    started = time.perf_counter()
    run_closed_loop(scenario, controllers, seed=seed, duration_s=duration, out_dir=out)
    return time.perf_counter() - started


def main() -> None:
    """Run the benchmark and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3600.0)
    args = parser.parse_args()
    scenario = load_scenario("westentor")
    raw, ours = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            raw.append(raw_hour(scenario, 1, args.duration, Path(tmp) / f"raw{i}"))
            ours.append(ampel_hour(scenario, 1, args.duration, Path(tmp) / f"ampel{i}"))
    r, a = statistics.median(raw), statistics.median(ours)
    print(f"raw libsumo stepping : {r:.2f} s (median of {args.repeats})")
    print(f"ampel fixed-time loop: {a:.2f} s (median of {args.repeats})")
    print(f"ratio ampel/raw      : {a / r:.2f}x (target <= 1.30x)")


if __name__ == "__main__":
    main()
