"""One simulated hour of Westentor driven through ``ampel/Junction-v0`` at 5 s decisions
vs raw libsumo stepping of the same hour.

Both use the same network, demand seed and detector file, in one process, repeated
alternately; the ratio of the medians is printed. The environment run includes what
training pays for: detector reads and observation encoding every decision, the delay
reward read from SUMO every tick, the sequencer and safety guard every tick. Target: at
most 1.3x raw (the issue quotes about 2.6x for sumo-rl's environment).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from controllers.fixed_time import FixedTimeController, FixedTimePlan
from controllers.rl.env import JunctionEnv
from scenarios.scenario import Scenario, load_scenario


def raw_hour(scenario: Scenario, seed: int, duration: float, out: Path) -> float:
    """CPU seconds to write the demand and step SUMO through the hour with its own program."""
    started = time.process_time()
    session = scenario.session(seed, duration, out)
    with session:
        while not session.finished():
            session.step()
    return time.process_time() - started


def env_hour(scenario: Scenario, seed: int, duration: float, reward: str) -> float:
    """CPU seconds for the same hour through the environment.

    The agent requests the stages of the junction's fixed-time plan, so that the traffic
    (and with it SUMO's own cost per step) is comparable to the raw run's signal program;
    random actions would jam the junction and measure SUMO's cost of a jam instead.
    """
    junction = scenario.junctions[0]
    plan = FixedTimeController(FixedTimePlan.build(junction.layout.model,
                                                   junction.plan().greens))
    env = JunctionEnv(scenario, episode_s=duration, demand_seeds=(seed,), reward=reward,
                      episode_metrics=False)
    started = time.process_time()
    _, info = env.reset(seed=0)
    truncated = False
    while not truncated:
        _, _, _, truncated, info = env.step(plan.stage_at(info["time_s"]))
    env.close()
    return time.process_time() - started


def main() -> None:
    """Run the benchmark and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--reward", default="delay")
    args = parser.parse_args()
    scenario = load_scenario("westentor")
    raw, ours = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            raw.append(raw_hour(scenario, 1, args.duration, Path(tmp) / f"raw{i}"))
            ours.append(env_hour(scenario, 1, args.duration, args.reward))
    r, a = statistics.median(raw), statistics.median(ours)
    print(f"raw libsumo stepping      : median {r:.2f} s, min {min(raw):.2f} s CPU "
          f"({args.repeats} runs)")
    print(f"ampel/Junction-v0, 5 s    : median {a:.2f} s, min {min(ours):.2f} s CPU "
          f"({args.repeats} runs, reward {args.reward})")
    print(f"ratio env/raw             : median {a / r:.2f}x, min {min(ours) / min(raw):.2f}x "
          "(target <= 1.30x)")


if __name__ == "__main__":
    main()
