"""One simulated hour driven through ``ampel/Junction-v0`` at 5 s decisions vs raw libsumo
stepping of the same hour, and optionally sumo-rl's environment on the same network.

Both use the same network, demand seed and detector file, in one process, repeated
alternately; the ratio of the medians is printed. The environment run includes what
training pays for: detector reads and observation encoding every decision, the delay
reward read from SUMO every tick, the sequencer and safety guard every tick. Target
(issue 15): at most 1.2x raw, and cheaper than sumo-rl's environment.

The environment runs without episode metrics, so SUMO equips no vehicle with its
emissions device (:attr:`scenarios.session.SumoSession.emissions`); "raw" steps that same
command line, "raw full" the one of ``ampel run`` (with the device, as rounds 1-7's raw).

``--peer`` (a one-junction ``.sumocfg`` only, e.g. RESCO cologne1) also runs sumo-rl's
``SumoEnvironment`` (single agent, 5 s decisions, its default observation and reward,
libsumo, the network's own program: ``fixed_ts``) and raw libsumo stepping of sumo-rl's
own SUMO command line, alternating with the others; each environment's ratio is to the raw
stepping of its own command line (ampel's writes tripinfo and emissions, sumo-rl's not).

    python bench/bench_env_throughput.py
    python bench/bench_env_throughput.py --peer \
        --scenario .venv/lib/python3.11/site-packages/sumo_rl/nets/RESCO/cologne1/cologne1.sumocfg
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from controllers.fixed_time import FixedTimeController, FixedTimePlan
from controllers.rl.env import JunctionEnv
from scenarios.scenario import Scenario, load_scenario
from scenarios.tools import sumo_home


def raw_hour(scenario: Scenario, seed: int, duration: float, out: Path,
             emissions: bool = True) -> float:
    """CPU seconds to write the demand and step SUMO through the hour with its own program
    (``emissions``: SUMO's emissions device on every vehicle, as ``ampel run`` has it;
    without, the command line of an environment without episode metrics)."""
    started = time.process_time()
    session = replace(scenario.session(seed, duration, out), emissions=emissions)
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


def _plain_files(cfg: Path) -> tuple[str, str, float]:
    """Network, routes and begin time of a one-file-each ``.sumocfg`` (sumo-rl's inputs)."""
    import xml.etree.ElementTree as ET

    root = ET.parse(cfg).getroot()

    def value(tag: str) -> str:
        node = root.find(f".//{tag}")
        if node is None:
            raise SystemExit(f"{cfg}: no <{tag}> (--peer needs a plain .sumocfg)")
        return str(node.get("value"))

    return (str(cfg.parent / value("net-file")), str(cfg.parent / value("route-files")),
            float(value("begin")))


def _peer_command(cfg: Path, seed: int) -> list[str]:
    """sumo-rl's SUMO command line for this network (as ``SumoEnvironment`` builds it)."""
    net, routes, begin = _plain_files(cfg)
    return ["sumo", "-n", net, "-r", routes, "--max-depart-delay", "-1",
            "--waiting-time-memory", "1000", "--time-to-teleport", "-1",
            "-b", f"{begin:g}", "--seed", str(seed), "--no-warnings", "--no-step-log"]


def peer_raw(cfg: Path, seed: int, duration: float) -> float:
    """CPU seconds of raw libsumo stepping of sumo-rl's command line."""
    import libsumo

    _, _, begin = _plain_files(cfg)
    started = time.process_time()
    libsumo.start(_peer_command(cfg, seed))
    while libsumo.simulation.getTime() < begin + duration - 1e-9:
        libsumo.simulationStep()
    libsumo.close()
    return time.process_time() - started


_PEER = """
import json, sys, time
import traci  # before libsumo: with LIBSUMO_AS_TRACI set this is libsumo
from sumo_rl import SumoEnvironment
net, routes, begin, duration, seed = json.loads(sys.argv[1])
if "libsumo" not in traci.start.__module__:
    raise SystemExit("sumo-rl would use TraCI, not libsumo")
started = time.process_time()
env = SumoEnvironment(net_file=net, route_file=routes, single_agent=True,
                      begin_time=int(begin), num_seconds=int(duration), delta_time=5,
                      sumo_seed=seed, fixed_ts=True, sumo_warnings=False)
env.reset(seed=seed)
done = False
while not done:
    _, _, terminated, truncated, _ = env.step(0)
    done = terminated or truncated
env.close()
print(time.process_time() - started)
"""


def peer_env(cfg: Path, seed: int, duration: float) -> float:
    """CPU seconds of the same hour through sumo-rl's single-agent environment (in a
    child process, so that ``traci`` is libsumo there; imports not counted)."""
    net, routes, begin = _plain_files(cfg)
    env = dict(os.environ, LIBSUMO_AS_TRACI="quiet")
    env.setdefault("SUMO_HOME", str(sumo_home()))
    out = subprocess.run([sys.executable, "-c", _PEER,
                          json.dumps([net, routes, begin, duration, seed])],
                         env=env, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    """Run the benchmark and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="westentor")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--reward", default="delay")
    parser.add_argument("--peer", action="store_true",
                        help="also run sumo-rl's environment (one-junction .sumocfg only)")
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    runs: dict[str, list[float]] = {"raw": [], "env": [], "raw full": []}
    if args.peer:
        runs.update({"peer raw": [], "peer env": []})
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            runs["raw"].append(raw_hour(scenario, 1, args.duration, Path(tmp) / f"raw{i}",
                                        emissions=False))
            runs["env"].append(env_hour(scenario, 1, args.duration, args.reward))
            runs["raw full"].append(raw_hour(scenario, 1, args.duration,
                                             Path(tmp) / f"full{i}"))
            if args.peer:
                cfg = Path(args.scenario)
                runs["peer raw"].append(peer_raw(cfg, 1, args.duration))
                runs["peer env"].append(peer_env(cfg, 1, args.duration))
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"raw libsumo stepping      : median {med['raw']:.2f} s, min {min(runs['raw']):.2f} s "
          f"CPU ({args.repeats} runs; the environment's command line: no emissions device)")
    print(f"raw, ampel run's command  : median {med['raw full']:.2f} s CPU (emissions device)")
    print(f"ampel/Junction-v0, 5 s    : median {med['env']:.2f} s, min {min(runs['env']):.2f} s "
          f"CPU ({args.repeats} runs, reward {args.reward})")
    print(f"ratio env/raw             : median {med['env'] / med['raw']:.2f}x, "
          f"min {min(runs['env']) / min(runs['raw']):.2f}x (target <= 1.20x)")
    print(f"ratio env/raw full        : median {med['env'] / med['raw full']:.2f}x "
          "(against stepping with the emissions device, as rounds 1-7 measured)")
    if args.peer:
        print(f"sumo-rl raw (its command) : median {med['peer raw']:.2f} s CPU")
        print(f"sumo-rl env, 5 s          : median {med['peer env']:.2f} s CPU")
        print(f"ratio sumo-rl env/its raw : median {med['peer env'] / med['peer raw']:.2f}x")
        print(f"ampel env / sumo-rl env   : median {med['env'] / med['peer env']:.2f}x "
              "(CPU seconds of the same simulated hour)")


if __name__ == "__main__":
    main()
