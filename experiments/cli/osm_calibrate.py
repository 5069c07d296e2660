"""``ampel scenarios import-osm`` and ``ampel calibrate``: replace assumptions with data."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from hil.argtypes import non_negative_int, positive_float
from signals.errors import ConfigError

if TYPE_CHECKING:
    from scenarios.calibrate import CalibrationResult


def _cmd_import_osm(args: argparse.Namespace) -> int:
    from scenarios.osm import import_osm

    result = import_osm(Path(args.osm_file), args.name, seed=args.seed,
                        vehicles_per_hour=args.vehicles_per_hour)
    print(f"scenario {result.name}: {len(result.traffic_lights)} traffic light(s), "
          f"written to {result.folder}")
    for d in result.traffic_lights:
        model = d.layout.model
        print(f"  {d.layout.tls}: {len(model.groups)} signal groups, {len(model.stages)} "
              f"stages, plan greens {', '.join(f'{g:g}' for _, g in d.plan.greens)} s")
    print(f"  run it: ampel run --scenario {result.name} --out runs/{result.name}")
    return 0


def format_geh_table(result: CalibrationResult) -> str:
    """The per-counting-point table printed by ``ampel calibrate``."""
    width = max([len(p.point) for p in result.points] + [5])
    lines = [f"{'POINT':<{width}}  {'EDGE':<16} {'COUNT/h':>8} {'MODEL/h':>8} {'GEH':>6}"]
    for p in result.points:
        lines.append(f"{p.point:<{width}}  {p.edge:<16} {p.counted_per_h:>8.0f} "
                     f"{p.modelled_per_h:>8.0f} {p.geh:>6.2f}")
    lines.append(f"GEH < 5 at {result.share_below_5 * 100:.0f} % of {len(result.points)} "
                 f"counting points (acceptance: >= 85 %)")
    return "\n".join(lines)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from scenarios.calibrate import calibrate
    from scenarios.registry import find_entry

    if args.out is not None and not args.out.strip():
        raise ConfigError("--out: an empty path; give a folder name")
    result = calibrate(args.scenario, Path(args.counts), out_dir=Path(args.out)
                       if args.out is not None else None, seed=args.seed)
    print(format_geh_table(result))
    # a folder outside $AMPEL_SCENARIOS is not registered: point at its .sumocfg instead
    entry = find_entry(result.name)
    registered_here = entry is not None and entry.folder.resolve() == result.folder.resolve()
    target = result.name if registered_here else str(result.folder / f"{result.name}.sumocfg")
    print(f"  calibrated scenario {result.name}: {result.folder} "
          f"(ampel run --scenario {target} ...)")
    return 0 if result.share_below_5 >= 0.85 else 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``scenarios import-osm`` (under the existing ``scenarios`` command) and
    ``calibrate``."""
    scenarios = sub.choices["scenarios"]
    ssub = scenarios.add_subparsers(dest="scenarios_command", metavar="SUBCOMMAND",
                                    parser_class=type(scenarios))
    p = ssub.add_parser(
        "import-osm", help="build a scenario from an OpenStreetMap extract",
        description="Build a user scenario from an OpenStreetMap extract: netconvert with "
                    "traffic-light guessing, signal groups and stages derived from the "
                    "programs, assumed random demand, a generated CARD.md. Written to "
                    "$AMPEL_SCENARIOS (default ~/.local/share/ampel/scenarios)/NAME.")
    p.add_argument("osm_file", metavar="FILE.osm", help="OpenStreetMap XML extract")
    p.add_argument("--name", required=True, help="scenario name (lower-case, digits, - _)")
    p.add_argument("--seed", type=non_negative_int, default=1,
                   help="seed of the assumed random demand (default: 1)")
    p.add_argument("--vehicles-per-hour", type=positive_float, default=600.0,
                   help="assumed demand over the whole network (default: 600)")
    p.set_defaults(handler=_cmd_import_osm)

    p = sub.add_parser(
        "calibrate", help="fit routes to measured counts (GEH per counting point)",
        description="Fit a scenario's routes to measured hourly counts with SUMO's "
                    "routeSampler and report the GEH statistic per counting point. "
                    "counts.csv has the columns edge,count and optionally point, begin_s, "
                    "end_s (count = vehicles in [begin_s, end_s), default one hour). The "
                    "calibrated routes become the user scenario NAME-calibrated. Exit 1 "
                    "when fewer than 85 % of the points have GEH < 5.")
    p.add_argument("--scenario", required=True, help="scenario name or path/to/x.sumocfg")
    p.add_argument("--counts", required=True, help="counts.csv")
    p.add_argument("--out", default=None, help="folder of the calibrated scenario (default: "
                   "$AMPEL_SCENARIOS/NAME-calibrated)")
    p.add_argument("--seed", type=non_negative_int, default=1,
                   help="seed of the candidate routes and the sampling (default: 1)")
    p.set_defaults(handler=_cmd_calibrate)
