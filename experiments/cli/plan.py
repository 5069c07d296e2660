"""``ampel plan``: compute signal plans (Webster; green-wave offsets) from a scenario."""

from __future__ import annotations

import argparse
from pathlib import Path

from signals.errors import ConfigError


def _load(args: argparse.Namespace):
    from scenarios.periods import scenario_for_period
    from scenarios.scenario import load_scenario

    return scenario_for_period(load_scenario(args.scenario), getattr(args, "period", None))


def _cmd_webster(args: argparse.Namespace) -> int:
    from controllers.common import parse_params
    from controllers.webster import WebsterParams, plan_yaml, webster_plan
    from experiments.cli.options import parse_param_options
    from scenarios.files import write_text_atomic
    from scenarios.outpaths import writable_file

    if args.out is not None:
        writable_file(args.out, "--out")
    params = parse_param_options(args.param)
    if args.demand != 1.0:
        params["demand_scale"] = str(args.demand)
    p = parse_params(WebsterParams, params, "webster")
    scenario = _load(args)
    results = [webster_plan(j, scenario, p) for j in scenario.junctions]
    text = plan_yaml(results, scenario.name, args.name)
    print(text, end="")
    if args.out is not None:
        write_text_atomic(Path(args.out), text)
        print(f"# written: {args.out}")
    return 0


def _cmd_green_wave(args: argparse.Namespace) -> int:
    from controllers.common import parse_params
    from controllers.coordination import CoordinationParams, green_wave, green_wave_text
    from experiments.cli.options import parse_param_options

    p = parse_params(CoordinationParams, parse_param_options(args.param), "green-wave")
    scenario = _load(args)
    wave = green_wave(scenario, p)
    print(green_wave_text(wave), end="")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``ampel plan webster`` and ``ampel plan green-wave``."""
    from hil.argtypes import demand_scale

    plan = sub.add_parser("plan", help="compute signal plans from a scenario",
                          description="Compute fixed-time plans from a scenario's demand.")
    kinds = plan.add_subparsers(dest="plan_kind", metavar="KIND",
                                parser_class=type(plan))
    p = kinds.add_parser(
        "webster", help="Webster cycle and splits from the scenario's demand",
        description="Print Webster plans (cycle from C0 = (1.5 L + 5) / (1 - Y), greens in "
                    "proportion to the critical flow ratios) as YAML to paste under the "
                    "junctions of scenario.yaml; 'ampel run --controller webster' runs the "
                    "same plan directly.")
    p.add_argument("--scenario", required=True, help="registered scenario or x.sumocfg")
    p.add_argument("--demand", type=demand_scale, default=1.0,
                   help="plan for this demand factor (default: 1.0)")
    p.add_argument("--name", default="webster", help="plan name in the YAML (default: webster)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="Webster parameter, e.g. --param max_cycle_s=100 (repeatable)")
    p.add_argument("--out", default=None, help="also write the YAML to this file")
    p.set_defaults(handler=_cmd_webster)
    p = kinds.add_parser(
        "green-wave", help="green-wave offsets and bandwidth along a corridor",
        description="Offsets of the coordinated stage along the scenario's junctions from "
                    "their distances and a progression speed, and the resulting bandwidth "
                    "in both directions.")
    p.add_argument("--scenario", required=True, help="registered scenario or x.sumocfg")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="coordination parameter, e.g. --param speed_kmh=45 (repeatable)")
    p.set_defaults(handler=_cmd_green_wave)

    def _no_kind(args: argparse.Namespace) -> int:
        raise ConfigError("plan: choose a kind: webster or green-wave (see 'ampel plan --help')")

    plan.set_defaults(handler=_no_kind)
