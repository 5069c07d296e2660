"""Ways to read every induction loop's seconds since detection once per step (issue 15).

Starts the given ``.sumocfg`` as ``ampel run`` would (ampel's detectors on every approach
lane), steps it and, in every step, reads the value for all of ampel's loops one way:

- ``map``: ``map`` over libsumo's C getter (what :class:`scenarios.loopcount.LoopBank`
  does);
- ``subscribe``: one variable subscription per loop, ``getAllSubscriptionResults`` per
  step;
- ``context``: one context subscription of the induction-loop domain around one junction
  with a radius covering the network, ``getAllContextSubscriptionResults`` per step;
- ``none``: stepping only (the baseline to subtract).

All ways give the same values (checked). Meant for instruction counts, one process per
way, e.g. ``valgrind --tool=callgrind --callgrind-out-file=/dev/null python
bench/bench_loop_reads.py --scenario grid.sumocfg --mode map --steps 60``; without
valgrind it prints the CPU time of the steps.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from scenarios.loopcount import direct_call
from scenarios.scenario import load_scenario

_TIME_SINCE_DETECTION = 0x16
_INDUCTIONLOOP_DOMAIN = 0xA0  # CMD_GET_INDUCTIONLOOP_VARIABLE


def main() -> None:
    """Run one way of reading and print the CPU time and a checksum of the values."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--mode", choices=("map", "subscribe", "context", "none"),
                        default="map")
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    ids = [loop for j in scenario.junctions for d in j.detectors
           for loop in (d.stopline, d.upstream)]
    with tempfile.TemporaryDirectory() as tmp:
        session = scenario.session(1, args.steps + 1.0, Path(tmp))
        with session:
            import libsumo

            since = direct_call(libsumo.inductionloop, "getTimeSinceDetection")
            if args.mode == "subscribe":
                for loop in ids:
                    libsumo.inductionloop.subscribe(loop, [_TIME_SINCE_DETECTION])
            elif args.mode == "context":
                libsumo.junction.subscribeContext(scenario.junctions[0].info.junction,
                                                  _INDUCTIONLOOP_DOMAIN, 1e7,
                                                  [_TIME_SINCE_DETECTION])
            checksum = 0.0
            started = time.process_time()
            for _ in range(args.steps):
                session.step()
                if args.mode == "map":
                    values = list(map(since, ids))
                elif args.mode == "subscribe":
                    results = libsumo.inductionloop.getAllSubscriptionResults()
                    values = [results[loop][_TIME_SINCE_DETECTION] for loop in ids]
                elif args.mode == "context":
                    found = next(iter(libsumo.junction.getAllContextSubscriptionResults()
                                      .values()))
                    values = [found[loop][_TIME_SINCE_DETECTION] for loop in ids]
                else:
                    values = []
                checksum += sum(values)
            used = time.process_time() - started
    print(f"{args.mode}: {len(ids)} loops, {args.steps} steps, {used:.3f} s CPU, "
          f"checksum {checksum:.6g}")


if __name__ == "__main__":
    main()
