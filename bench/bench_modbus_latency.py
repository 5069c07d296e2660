"""Modbus round-trip latency over loopback: adapter-side client vs the virtual field controller.

Starts ``ampel hil serve`` (Westentor, real time) in a subprocess and times, from this
process, the two requests of one adapter cycle: reading the status block (header and
signal groups, one function-code-4 request) and writing the command block (one
function-code-16 request). Prints p50 / p99 / max in milliseconds. Target: p99 < 10 ms.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time

from hil.codec import JunctionBinding
from hil.link import FieldLink, LinkOptions
from hil.registermap import load_register_map
from scenarios.scenario import load_scenario


def start_server(*extra: str) -> tuple[subprocess.Popen, int]:
    """The virtual field controller on a free loopback port (``extra``: more serve options)."""
    proc = subprocess.Popen([sys.executable, "-m", "experiments.cli", "hil", "serve",
                             "--scenario", "westentor", "--port", "0", *extra],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    m = re.search(r"modbus://[^:]+:(\d+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, int(m.group(1))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    junction = load_scenario("westentor").junctions[0]
    binding = JunctionBinding.for_junction(load_register_map(), junction)
    proc, port = start_server()
    try:
        link = FieldLink(binding, LinkOptions(port=port, timeout_s=1.0, retries=0))
        link.connect()
        for _ in range(100):  # warm-up
            link.read_status()
        reads, writes = [], []
        for i in range(args.requests):
            t0 = time.perf_counter()
            link.read_status()
            t1 = time.perf_counter()
            link.write({"adapter_heartbeat": i % 65536})
            t2 = time.perf_counter()
            reads.append((t1 - t0) * 1000)
            writes.append((t2 - t1) * 1000)
        link.close()
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"Modbus/TCP round trip over loopback, {args.requests} requests each")
    for name, values in (("read status block (FC4)", reads),
                         ("write command (FC16)", writes)):
        print(f"  {name:<28} p50 {statistics.median(values):6.3f} ms   "
              f"p99 {percentile(values, 99):6.3f} ms   max {max(values):6.3f} ms")
    p99 = max(percentile(reads, 99), percentile(writes, 99))
    print(f"  target p99 < 10 ms: {'met' if p99 < 10 else 'MISSED'} ({p99:.3f} ms)")


if __name__ == "__main__":
    main()
