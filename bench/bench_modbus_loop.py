"""Deadline misses of the adapter's control loop at 10 Hz against the virtual field controller.

Starts ``ampel hil serve`` (Westentor, real time, loopback) in a subprocess and runs the
adapter with a controller from the registry in this process for ``--duration`` seconds
(default 600 = 10 minutes). A deadline is missed when a cycle ends after its 100 ms slot.
``--sensing camera`` serves and reads the camera profile (one more read per cycle).
Prints misses, cycle-time percentiles, commands and anomalies. Target: zero misses.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
from pathlib import Path

from bench_modbus_latency import percentile, start_server

from controllers.registry import controller_factory
from hil.adapter import Adapter, AdapterConfig
from hil.audit import AuditLog
from hil.codec import JunctionBinding
from hil.link import FieldLink, LinkOptions
from hil.registermap import CAMERA_PROFILE, load_register_map
from scenarios.scenario import load_scenario


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--controller", default="fixed-time")
    parser.add_argument("--period", type=float, default=0.1)
    parser.add_argument("--sensing", choices=("loops", "camera"), default="loops")
    args = parser.parse_args()
    scenario = load_scenario("westentor").with_sensing(args.sensing)
    junction = scenario.junctions[0]
    profile = CAMERA_PROFILE if args.sensing == "camera" else None
    binding = JunctionBinding.for_junction(load_register_map(profile), junction)
    controller = controller_factory(args.controller)(junction, scenario)
    proc, port = start_server(*(["--profile", str(profile)] if profile else []))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            audit = AuditLog(Path(tmp) / "audit.jsonl")
            adapter = Adapter(FieldLink(binding, LinkOptions(port=port)), controller,
                              junction.layout.tls, audit, AdapterConfig(period_s=args.period))
            stats = adapter.run(threading.Event(), duration_s=args.duration)
            state = adapter.state
            adapter.shutdown()
            audit.close()
    finally:
        proc.terminate()
        proc.wait(10)
    cycles = [c * 1000 for c in stats.cycle_s]
    print(f"adapter loop, {args.controller}, {args.sensing}, {1 / args.period:g} Hz for "
          f"{args.duration:g} s: {stats.cycles} cycles, {adapter.link.requests} requests, "
          f"final state {state}")
    print(f"  missed deadlines  {stats.deadline_misses}")
    print(f"  cycle time        p50 {statistics.median(cycles):.3f} ms   "
          f"p99 {percentile(cycles, 99):.3f} ms   max {max(cycles):.3f} ms")
    print(f"  commands {stats.commands}, anomalies {stats.anomalies}, alarms {stats.alarms}")
    print(f"  target zero missed deadlines: {'met' if stats.deadline_misses == 0 else 'MISSED'}")


if __name__ == "__main__":
    main()
