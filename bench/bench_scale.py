"""Cost against junction count: generated grids, each controller vs raw libsumo stepping.

For every grid size (n x n traffic lights, ``netgenerate`` with attached fringe roads and
seeded ``randomTrips`` demand that grows with the grid), the benchmark runs, alternating
and each in its own process:

- raw: libsumo stepping of the same SUMO command line ampel uses (network, routes,
  detectors, outputs), the traffic lights running their own programs;
- ``ampel run --controller C`` for each controller (the whole process: imports, signal
  layout derivation, control, metrics).

It prints the CPU time (user + system) and peak memory (max RSS) of each process, the
ratio to raw of the median CPU time, the machine's load average during the runs (other
jobs on the machine slow every run, not only ampel's), and how many of ampel's modules
have up-to-date bytecode: ``scripts/install.sh`` precompiles them, as a regular
installation does; without it (an editable installation under
``PYTHONDONTWRITEBYTECODE=1``) every ``ampel run`` compiles its modules again, which on a
one-junction hour costs about 0.1 of the ratio. Not a test: figures
depend on the machine; the ratios are comparable because the runs alternate in one
invocation.

    python bench/bench_scale.py --quick           # 1 and 9 traffic lights, 300 s
    python bench/bench_scale.py                   # 1, 9, 25, 100 traffic lights, 900 s
    python bench/bench_scale.py --sumocfg net.sumocfg --duration 3600   # a given network
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import signals
from scenarios.build import sumo_binary
from scenarios.scenario import load_scenario
from scenarios.tools import sumo_home

#: trips per hour and traffic light (the issue's 10x10 grid: 9,000 trips in one hour)
TRIPS_PER_TLS_HOUR = 90.0

_RAW = """
import json, sys
import libsumo
cmd, end = json.loads(sys.argv[1])
libsumo.start(cmd)
while libsumo.simulation.getTime() < end - 1e-9:
    libsumo.simulationStep()
libsumo.close()
"""


@dataclass(frozen=True)
class Measurement:
    """One process: CPU seconds (user + system) and peak resident memory in MiB."""

    cpu_s: float
    rss_mib: float


def make_grid(folder: Path, n: int, duration_s: float, seed: int) -> Path:
    """An n x n grid of traffic lights with fringe roads, seeded random trips, a .sumocfg."""
    folder.mkdir(parents=True, exist_ok=True)
    net = folder / "grid.net.xml"
    subprocess.run([sumo_binary("netgenerate"), "--grid", f"--grid.number={n}",
                    "--grid.length", "200", "--grid.attach-length", "200",
                    "-j", "traffic_light", "--default.lanenumber", "2", "--no-turnarounds",
                    "--seed", str(seed), "-o", str(net)], check=True, capture_output=True)
    trips = max(1.0, TRIPS_PER_TLS_HOUR * n * n * duration_s / 3600.0)
    routes = folder / "grid.rou.xml"
    subprocess.run([sys.executable, str(sumo_home() / "tools" / "randomTrips.py"),
                    "-n", str(net), "-r", str(routes), "-o", str(folder / "grid.trips.xml"),
                    "-e", f"{duration_s:g}", "-p", f"{duration_s / trips:.4f}",
                    "--fringe-factor", "10", "--seed", str(seed), "--validate"],
                   check=True, capture_output=True)
    cfg = folder / "grid.sumocfg"
    cfg.write_text("<configuration><input>"
                   f'<net-file value="{net.name}"/><route-files value="{routes.name}"/>'
                   f'</input><time><begin value="0"/><end value="{duration_s:g}"/></time>'
                   "</configuration>\n", encoding="utf-8")
    return cfg


#: ampel's packages (pyproject.toml), whose bytecode scripts/install.sh precompiles
PACKAGES = ("signals", "scenarios", "controllers", "hil", "experiments")


def bytecode_state() -> tuple[int, int]:
    """(modules whose cached bytecode matches their source, all modules) of ampel's packages.

    A timestamp-based ``.pyc`` is up to date when it records its source's modification
    time and size (what the import system checks); a hash-based one when the hash matches.
    """
    root = Path(signals.__file__).resolve().parent.parent
    fresh = total = 0
    for package in PACKAGES:
        for source in sorted((root / package).rglob("*.py")):
            total += 1
            cached = Path(importlib.util.cache_from_source(str(source)))
            if cached.is_file() and _pyc_matches(cached.read_bytes()[:16], source):
                fresh += 1
    return fresh, total


def _pyc_matches(header: bytes, source: Path) -> bool:
    """Whether a .pyc header (magic, flags, mtime/size or hash) matches its source."""
    if len(header) < 16 or header[:4] != importlib.util.MAGIC_NUMBER:
        return False
    flags = int.from_bytes(header[4:8], "little")
    if flags & 1:
        return header[8:16] == importlib.util.source_hash(source.read_bytes())
    st = source.stat()
    return (int.from_bytes(header[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
            and int.from_bytes(header[12:16], "little") == st.st_size & 0xFFFFFFFF)


def print_bytecode_state() -> None:
    """State whether the measured ``ampel run`` processes compile ampel's modules."""
    fresh, total = bytecode_state()
    note = ("precompiled, as scripts/install.sh leaves them" if fresh == total else
            "the others are compiled in every process while PYTHONDONTWRITEBYTECODE is set; "
            "python -m compileall -q " + " ".join(PACKAGES) + " precompiles them")
    print(f"# ampel's bytecode: {fresh} of {total} modules up to date ({note}); "
          f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}",
          flush=True)


def _measure(cmd: list[str]) -> Measurement:
    """Run a child process to completion; its CPU time and peak memory."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}... failed: {proc.stderr.read().decode()}")
    return Measurement(usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0)


def raw_command(cfg: Path, duration_s: float, seed: int, out: Path) -> list[str]:
    """The child command stepping SUMO with ampel's command line and no control."""
    scenario = load_scenario(str(cfg))
    session = scenario.session(seed, duration_s, out)
    return [sys.executable, "-c", _RAW, json.dumps([session.command(), session.end_s])]


def ampel_command(cfg: Path, controller: str, duration_s: float, seed: int,
                  out: Path) -> list[str]:
    """The child command ``ampel run`` for one controller."""
    return [sys.executable, "-m", "experiments.cli", "run", "--scenario", str(cfg),
            "--controller", controller, "--seed", str(seed), "--duration", f"{duration_s:g}",
            "--out", str(out), "--quiet"]


def bench_grid(n: int, controllers: list[str], duration_s: float, repeats: int, seed: int,
               tmp: Path) -> dict[str, list[Measurement]]:
    """Alternating raw and controlled runs on one grid size."""
    cfg = make_grid(tmp / f"grid{n}", n, duration_s, seed)
    return bench_config(cfg, str(n), controllers, duration_s, repeats, seed, tmp)


def bench_config(cfg: Path, tag: str, controllers: list[str], duration_s: float, repeats: int,
                 seed: int, tmp: Path) -> dict[str, list[Measurement]]:
    """Alternating raw and controlled runs of one ``.sumocfg``."""
    n = tag
    commands = {"raw": raw_command(cfg, duration_s, seed, tmp / f"raw{n}")}
    for c in controllers:
        commands[c] = ampel_command(cfg, c, duration_s, seed, tmp / f"{c}{n}")
    results: dict[str, list[Measurement]] = {name: [] for name in commands}
    loads = [os.getloadavg()[0]]
    for _ in range(repeats):
        for name, cmd in commands.items():
            results[name].append(_measure(cmd))
        loads.append(os.getloadavg()[0])
    print(f"# {tag}: 1-minute load average {min(loads):.1f}-{max(loads):.1f} during the runs",
          flush=True)
    return results


def main() -> None:
    """Run the benchmark and print one table row per grid size and run kind."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,3,5,10",
                        help="grid side lengths n (n x n traffic lights), comma-separated")
    parser.add_argument("--controllers", default="fixed-time,actuated,max-pressure")
    parser.add_argument("--duration", type=float, default=900.0, help="simulated seconds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="1 and 9 traffic lights, 300 s, one repeat")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--plot", default=None,
                        help="also draw CPU ratio against traffic lights into this PNG file")
    parser.add_argument("--sumocfg", default=None,
                        help="measure this network instead of generated grids")
    args = parser.parse_args()
    controllers = [c for c in args.controllers.split(",") if c]
    print_bytecode_state()
    if args.sumocfg:
        with tempfile.TemporaryDirectory() as tmp:
            results = bench_config(Path(args.sumocfg).resolve(), "cfg", controllers,
                                   args.duration, args.repeats, args.seed, Path(tmp))
        print(f"{'run':<18} {'CPU s':>7} {'ratio':>6} {'peak MiB':>9} {'mem ratio':>9}")
        rows = _rows(results, 0)
        for r in rows:
            print(f"{r['run']:<18} {r['cpu_s']:>7.2f} {r['ratio']:>5.2f}x {r['peak_mib']:>9.0f} "
                  f"{r['mem_ratio']:>8.2f}x")
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")
        return
    sizes = [int(x) for x in args.sizes.split(",")]
    if args.quick:
        sizes, args.duration, args.repeats = [1, 3], 300.0, 1
    rows = []
    print(f"{'TLS':>4}  {'run':<14} {'CPU s':>7} {'ratio':>6} {'peak MiB':>9} {'mem ratio':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            results = bench_grid(n, controllers, args.duration, args.repeats, args.seed,
                                 Path(tmp))
            for r in _rows(results, n * n):
                rows.append(r)
                print(f"{r['tls']:>4}  {r['run']:<14} {r['cpu_s']:>7.2f} {r['ratio']:>5.2f}x "
                      f"{r['peak_mib']:>9.0f} {r['mem_ratio']:>8.2f}x", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    if args.plot:
        plot(rows, Path(args.plot))


def _rows(results: dict[str, list[Measurement]], tls: int) -> list[dict]:
    """One row per run kind: median CPU, its ratio to raw, peak memory and its ratio."""
    raw_cpu = statistics.median(m.cpu_s for m in results["raw"])
    raw_mem = max(m.rss_mib for m in results["raw"])
    rows = []
    for name, ms in results.items():
        cpu = statistics.median(m.cpu_s for m in ms)
        mem = max(m.rss_mib for m in ms)
        rows.append({"tls": tls, "run": name, "cpu_s": cpu, "ratio": cpu / raw_cpu,
                     "peak_mib": mem, "mem_ratio": mem / raw_mem})
    return rows


def plot(rows: list[dict], path: Path) -> None:
    """CPU time relative to raw SUMO against the number of traffic lights, per run kind."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for name in dict.fromkeys(r["run"] for r in rows):
        pts = [(r["tls"], r["ratio"]) for r in rows if r["run"] == name]
        ax.plot(*zip(*pts, strict=True), marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("traffic lights")
    ax.set_ylabel("CPU time / raw libsumo")
    ax.axhline(1.3, color="grey", linestyle=":", linewidth=1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
