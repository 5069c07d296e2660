"""``ampel run``: one simulation of a scenario under a controller."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator

from experiments.cli.options import parse_param_options
from hil.argtypes import (
    bounded_float,
    demand_scale,
    duration_s,
    non_negative_float,
    seed,
)
from scenarios.profiles import period_names
from scenarios.sensing import SENSING_NAMES

SUMMARY_ORDER = (
    ("vehicles_departed", "Motor vehicles departed", "{:d}"),
    ("vehicles_arrived", "Motor vehicles arrived", "{:d}"),
    ("vehicles_not_departed", "Motor vehicles not departed", "{:d}"),
    ("mean_total_delay_s", "Mean total delay [s]", "{:.1f}"),
    ("mean_delay_s", "Mean delay (timeLoss) [s]", "{:.1f}"),
    ("mean_depart_delay_s", "Mean insertion delay [s]", "{:.1f}"),
    ("mean_travel_time_s", "Mean travel time [s]", "{:.1f}"),
    ("mean_waiting_s", "Mean waiting time [s]", "{:.1f}"),
    ("max_waiting_s", "Max waiting time [s]", "{:.0f}"),
    ("mean_stops", "Mean stops per vehicle", "{:.2f}"),
    ("bicycle_mean_delay_s", "Bicycle mean delay [s]", "{:.1f}"),
    ("pedestrian_mean_delay_s", "Pedestrian mean delay [s]", "{:.1f}"),
    ("co2_kg", "CO2 [kg]", "{:.1f}"),
    ("nox_g", "NOx [g]", "{:.1f}"),
    ("pmx_g", "PMx [g]", "{:.2f}"),
    ("teleports", "Teleports", "{:d}"),
    ("safety_violations", "Safety violations", "{:d}"),
    ("wall_s", "Wall time [s]", "{:.1f}"),
)


def format_summary(summary: dict) -> str:
    """The summary table printed after a run."""
    lines = [f"{summary['scenario']} | {summary['controller']} | seed {summary['seed']} | "
             f"{summary['duration_s']:g} s | intergreens {summary.get('intergreens', 'rilsa')}"]
    for key, label, fmt in SUMMARY_ORDER:
        if key in summary:
            value = summary[key]
            lines.append(f"  {label:<28} {fmt.format(value)}")
            if key == "safety_violations" and summary.get("safety_violations_source"):
                lines[-1] += f" ({summary['safety_violations_source']})"
    return "\n".join(lines)


@contextlib.contextmanager
def _progress(args: argparse.Namespace) -> Iterator[Callable[[float], None] | None]:
    """A progress bar's per-step callback (None with ``--quiet``: no bar, tqdm not loaded)."""
    if args.quiet:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=int(args.duration), unit="sim s", desc=f"{args.scenario}/{args.controller}",
              file=sys.stderr, mininterval=0.5, delay=1.0) as bar:
        def advance(t: float) -> None:
            bar.update(min(int(t), bar.total) - bar.n)

        yield advance


def _cmd_run(args: argparse.Namespace) -> int:
    from controllers.registry import controller_factory
    from controllers.runner import build_controllers, run_closed_loop
    from experiments.results import code_revision
    from scenarios.files import write_json_atomic
    from scenarios.outpaths import writable_dir
    from scenarios.periods import apply_period, run_period
    from scenarios.scenario import load_scenario
    from scenarios.sensing import SensingProfile

    controller_factory(args.controller)  # an unknown name fails before the network builds
    scenario, params = apply_period(load_scenario(args.scenario), args.period,
                                    parse_param_options(getattr(args, "param", None) or []),
                                    args.plan)
    factory = controller_factory(args.controller, params or None)
    scenario = scenario.with_sensing(SensingProfile(
        args.sensing or scenario.sensing.name, camera_noise=args.camera_noise,
        camera_dropout=args.camera_dropout))
    if args.duration is None:
        args.duration = scenario.default_duration_s
    controllers = build_controllers(scenario, factory)
    out = writable_dir(args.out)
    with _progress(args) as advance:
        result = run_closed_loop(scenario, controllers, seed=args.seed, duration_s=args.duration,
                                 out_dir=out, demand_scale=args.demand, gui=args.gui,
                                 on_step=advance)
    summary = {
        "scenario": scenario.name,
        "controller": args.controller,
        "seed": args.seed,
        "duration_s": float(args.duration),
        "demand_scale": args.demand,
        "period": run_period(scenario, args.period),
        **scenario.sensing.describe(),
        **result.metrics,
        "safety_violations": result.safety_violations,
        "deferred_requests": result.deferred_requests,
        "stage_changes": result.stage_changes,
        "wall_s": round(result.wall_s, 3),
        "code_revision": code_revision(),
        **result.record(),
    }
    write_json_atomic(summary, out / "summary.json")
    for line in result.notes:
        print(line)
    print(format_summary(summary))
    print(f"  written: {out / 'summary.json'}, {out / 'tripinfo.xml'}")
    if result.safety_violations:
        source = summary.get("safety_violations_source")
        for message in result.violation_messages:
            print(f"  SAFETY ({source}): {message}" if source else f"  SAFETY: {message}",
                  file=sys.stderr)
        return 0 if source else 1  # a reference's violations are SUMO's, not a failure
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``ampel run``."""
    p = sub.add_parser(
        "run", help="run one simulation under a controller",
        description="Run one SUMO simulation of a scenario under a controller, print a "
                    "summary table and write DIR/summary.json and DIR/tripinfo.xml.")
    p.add_argument("--scenario", required=True, help="registered scenario name (see 'ampel "
                   "scenarios') or path/to/x.sumocfg (an external SUMO scenario)")
    p.add_argument("--controller", default="fixed-time", help="controller name (default: "
                   "fixed-time)")
    p.add_argument("--plan", default=None, help="fixed-time plan name from the scenario "
                   "(default: the plan named after --period, else its first plan)")
    p.add_argument("--seed", type=seed, default=1, help="demand and SUMO seed "
                   "(default: 1)")
    p.add_argument("--duration", type=duration_s, default=None,
                   help="simulated seconds (default: 3600, the morning peak hour; for a "
                   ".sumocfg its end - begin)")
    p.add_argument("--demand", type=demand_scale, default=1.0,
                   help="demand scale factor, e.g. 1.3 for 30%% more traffic (default: 1.0)")
    p.add_argument("--period", default=None, choices=period_names(),
                   help="time of day: demand profile and, if the junctions have one, the "
                   "plan of that name (default: morning_peak)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="controller parameter, repeatable, e.g. --param max_gap_s=2.5 "
                   "(see README, Controllers); unknown keys are refused")
    p.add_argument("--sensing", default=None, choices=SENSING_NAMES,
                   help="detectors on every approach lane: loops (stop line + 35 m), advance "
                   "(+ a loop 120 m upstream), camera (+ a 100 m video zone) (default: the "
                   "scenario's, loops)")
    p.add_argument("--camera-noise", type=non_negative_float, default=0.0,
                   help="camera: relative standard deviation of each value (default: 0)")
    p.add_argument("--camera-dropout", type=bounded_float(0.0, 1.0), default=0.0,
                   help="camera: probability that a lane's reading is missing (default: 0)")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--gui", action="store_true", help="watch in sumo-gui (TraCI)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_run)
