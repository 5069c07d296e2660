"""``ampel hil serve | deploy | bridge``: the hardware-in-the-loop sub-commands."""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

from hil.argtypes import (
    bounded_float,
    demand_scale,
    duration_s,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    seed,
)
from hil.argtypes import port as tcp_port
from signals.errors import ConfigError, FieldDeviceError, PolicyError

__all__ = ["register"]

log = logging.getLogger(__name__)


def _quiet_pymodbus(verbose: bool) -> None:
    """pymodbus logs every failed connect as an error; the adapter reports those itself."""
    if not verbose:
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def _add_transport(p: argparse._ActionsContainer, server: bool) -> None:
    """How this end talks Modbus besides plain TCP: ``--serial``/``--baudrate`` (RTU) and
    the TLS files (Modbus/TCP over TLS)."""
    p.add_argument("--serial", default=None,
                   help="serve Modbus RTU on this serial device instead of TCP" if server
                   else "talk Modbus RTU on this serial device")
    p.add_argument("--baudrate", type=positive_int, default=19200,
                   help="serial speed (default: 19200)")
    own = "server" if server else "client (for mutual TLS)"
    p.add_argument("--tls-cert", type=Path, default=None,
                   help=f"PEM certificate of this {own}; enables Modbus/TCP over TLS")
    p.add_argument("--tls-key", type=Path, default=None, help="PEM private key of --tls-cert")
    p.add_argument("--tls-ca", type=Path, default=None,
                   help="PEM CA bundle: " + ("require client certificates signed by it"
                                             if server else "verify the server against it "
                                             "(enables TLS)"))


def _add_client_link(p: argparse.ArgumentParser, timeout_s: float, retries: int) -> None:
    """The options of a Modbus client (``deploy``, ``bridge``): where the field controller
    is, how long to wait for it, and the transport (one group in ``--help``)."""
    g = p.add_argument_group("Modbus link")
    g.add_argument("--target", default=None, help="field controller HOST:PORT (Modbus/TCP)")
    g.add_argument("--timeout", type=positive_float, default=timeout_s,
                   help=f"seconds to wait for one Modbus answer (default: {timeout_s:g})")
    g.add_argument("--retries", type=non_negative_int, default=retries,
                   help=f"retries after a timeout (default: {retries})")
    _add_transport(g, server=False)


def _tls_files(args: argparse.Namespace):
    from hil.tls import TlsFiles

    return TlsFiles(cert=args.tls_cert, key=args.tls_key, ca=args.tls_ca)


#: the sensing profiles the HIL register maps carry (no advance-loop registers)
HIL_SENSING = ("loops", "camera")


def _load(args: argparse.Namespace):
    """Scenario (with the sensing of ``--sensing``, if the command has it), its first
    junction, and the junction bound to the register map of ``--profile``."""
    from hil.codec import JunctionBinding
    from hil.registermap import load_register_map
    from scenarios.scenario import load_scenario
    from scenarios.sensing import SensingProfile

    regmap = load_register_map(args.profile)
    scenario = load_scenario(args.scenario)
    sensing = getattr(args, "sensing", None)
    if sensing is not None or scenario.sensing.camera:
        scenario = scenario.with_sensing(SensingProfile(
            sensing or scenario.sensing.name,
            camera_noise=getattr(args, "camera_noise", 0.0),
            camera_dropout=getattr(args, "camera_dropout", 0.0)))
    junction = scenario.junctions[0]
    return scenario, junction, JunctionBinding.for_junction(regmap, junction)


def _add_sensing(q: argparse.ArgumentParser, simulated: bool) -> None:
    what = ("the bridge feeds each lane's simulated camera into the controller's camera inputs"
            if simulated else "the controller reads each lane's camera registers")
    q.add_argument("--sensing", default=None, choices=HIL_SENSING,
                   help=f"loops (stop line + 35 m) or camera (also a 100 m video zone: {what}; "
                        "needs a profile with camera registers, e.g. --profile "
                        "hil/profiles/ampel-camera-v1.yaml) (default: the scenario's, loops)")
    if simulated:
        q.add_argument("--camera-noise", type=non_negative_float, default=0.0,
                       help="camera: relative standard deviation of each value (default: 0)")
        q.add_argument("--camera-dropout", type=bounded_float(0.0, 1.0), default=0.0,
                       help="camera: probability that a lane's reading is missing "
                            "(default: 0)")


# ------------------------------------------------------------------- serve
def _cmd_serve(args: argparse.Namespace) -> int:
    from controllers.registry import controller_factory
    from hil.field import FieldConfig, VirtualFieldController
    from hil.server import FieldServer, ServeOptions
    from hil.tls import server_context

    _quiet_pymodbus(args.verbose)
    scenario, junction, binding = _load(args)
    binding = replace(binding, cameras=False)  # it publishes what its profile has
    params = {"plan": args.plan} if args.plan else None
    local = controller_factory("fixed-time", params)(junction, scenario)
    config = FieldConfig(watchdog_s=args.watchdog, handshake_beats=args.handshake)
    files = _tls_files(args)
    sslctx = server_context(files) if files.enabled else None
    options = ServeOptions(host=args.host, port=args.port, speed=args.speed, sync=args.sync,
                           serial=args.serial, baudrate=args.baudrate, sslctx=sslctx)
    controller = VirtualFieldController(binding, local, junction.layout.tls, config)
    server = FieldServer(controller, options)
    if not args.serial and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"ampel hil serve: warning: listening on {args.host}, not only loopback",
              file=sys.stderr)

    import asyncio  # here: ``ampel run`` and the other commands do not need it

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        where = await server.start()
        print(f"ampel hil serve: {scenario.name} virtual field controller on {where} "
              f"(profile {binding.regmap.profile}, speed {args.speed:g}x"
              f"{', sync' if args.sync else ''}, watchdog {args.watchdog:g} s)", flush=True)
        try:
            await server.run(stop)
        finally:
            await server.stop()

    asyncio.run(main())
    print(f"ampel hil serve: stopped after {controller.ticks} ticks, mode {controller.mode}",
          flush=True)
    return 0


# ------------------------------------------------------------------ deploy
def _link_options(args: argparse.Namespace, timeout: float, retries: int):
    from hil.link import LinkOptions, parse_target
    from hil.tls import client_context

    files = _tls_files(args)
    if args.serial:
        if args.target:
            raise ConfigError("give --target or --serial, not both")
        if files.enabled:
            raise ConfigError("TLS is for Modbus/TCP; it cannot be used with --serial")
        return LinkOptions(serial=args.serial, baudrate=args.baudrate, timeout_s=timeout,
                           retries=retries)
    if not args.target:
        raise ConfigError("--target HOST:PORT (or --serial DEVICE) is required")
    host, port = parse_target(args.target)
    sslctx = client_context(files) if files.enabled else None
    return LinkOptions(host=host, port=port, sslctx=sslctx, timeout_s=timeout, retries=retries)


def _cmd_deploy(args: argparse.Namespace) -> int:
    from controllers.registry import controller_factory
    from controllers.sumo_native import SUMO_TYPES
    from hil.adapter import Adapter, AdapterConfig
    from hil.audit import AuditLog
    from hil.link import FieldLink
    from scenarios.outpaths import writable_file

    _quiet_pymodbus(args.verbose)
    writable_file(args.audit, "--audit")  # appended to, never truncated
    if args.policy is not None and not args.policy.is_file():
        raise PolicyError(f"policy file {args.policy} does not exist")
    options = _link_options(args, args.timeout, args.retries)
    config = AdapterConfig(period_s=args.period, watchdog_s=args.watchdog, stale_s=args.stale,
                           slow_s=args.slow, conflict_resume_s=args.conflict_resume)
    params = {"policy": str(args.policy)} if args.policy is not None else None
    factory = controller_factory(args.controller, params)
    if args.controller in SUMO_TYPES:
        raise ConfigError(f"{args.controller} is SUMO's own control, a simulation reference; "
                          "hil deploy runs ampel's controllers only")
    scenario, junction, binding = _load(args)
    controller = factory(junction, scenario)
    audit = AuditLog(args.audit)
    adapter = Adapter(FieldLink(binding, options), controller, junction.layout.tls, audit,
                      config)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"ampel hil deploy: {args.controller} on {scenario.name} -> "
          f"{options.describe()} every {args.period:g} s; audit log {args.audit}", flush=True)
    try:
        stats = adapter.run(stop, duration_s=args.duration,
                            connect_timeout_s=args.connect_timeout)
    finally:
        adapter.shutdown()
        audit.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if adapter.mismatch is not None and adapter.mismatch_cameras:
        raise FieldDeviceError(f"the field controller at {options.describe()} has no camera "
                               f"inputs for junction {junction.layout.tls} ({adapter.mismatch}); "
                               "nothing was written (deploy without --sensing camera, or serve "
                               "a camera profile)")
    if adapter.mismatch is not None:
        raise FieldDeviceError(f"the field controller at {options.describe()} does not run "
                               f"junction {junction.layout.tls} of scenario {scenario.name} "
                               f"({adapter.mismatch}); nothing was written")
    if adapter.refused_by is not None:
        raise FieldDeviceError(f"{options.describe()} is under external control of another "
                               f"adapter session (owner {adapter.refused_by:#010x}); this one "
                               "wrote nothing and stopped (see the audit log)")
    if stats.connects == 0:
        raise FieldDeviceError(f"no field controller answered at {options.describe()} within "
                               f"{min(args.connect_timeout, args.duration or math.inf):g} s; "
                               "nothing was commanded (check --target and that it is running)")
    print(f"ampel hil deploy: stopped in state {adapter.state}: {stats.cycles} cycles, "
          f"{stats.commands} commands, {stats.anomalies} anomalies, {stats.alarms} alarms, "
          f"{stats.deadline_misses} missed deadlines; controller returned to local mode",
          flush=True)
    return 3 if stats.alarms else 0


# ------------------------------------------------------------------ bridge
def _cmd_bridge(args: argparse.Namespace) -> int:
    from hil.bridge import BridgeOptions, run_bridge, write_summary
    from scenarios.outpaths import writable_dir

    _quiet_pymodbus(args.verbose)
    out = writable_dir(args.out, "--out")
    options = _link_options(args, args.timeout, args.retries)
    scenario, junction, binding = _load(args)
    result = run_bridge(scenario, binding, options,
                        BridgeOptions(seed=args.seed, duration_s=args.duration,
                                      demand_scale=args.demand, wait_s=args.wait),
                        out_dir=out)
    write_summary(result, out / "summary.json")
    from hil.bridge import format_result

    print(format_result(result))
    print(f"  written: {out / 'summary.json'}, {out / 'tripinfo.xml'}")
    return 1 if result["safety_violations"] else 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``ampel hil ...``."""
    p = sub.add_parser("hil", help="hardware-in-the-loop over Modbus (serve, deploy, bridge)",
                       description="Hardware-in-the-loop: a virtual field controller, the "
                                   "adapter that runs a controller against a field controller, "
                                   "and the bridge that puts SUMO in the loop.")
    hil = p.add_subparsers(dest="hil_command", metavar="ACTION", parser_class=type(p))

    def common(q: argparse.ArgumentParser, scenario_default: str | None) -> None:
        q.add_argument("--scenario", required=scenario_default is None,
                       default=scenario_default,
                       help="registered scenario whose first junction is controlled"
                       + (f" (default: {scenario_default})" if scenario_default else ""))
        q.add_argument("--profile", type=Path, default=None,
                       help="register map file (YAML; default: hil/profiles/ampel-v1.yaml)")

    q = hil.add_parser("serve", help="run a virtual field controller (Modbus server)",
                       description="A virtual field controller for a scenario's junction: its "
                                   "own fixed-time plan, sequencer and safety checks; external "
                                   "stage requests after healthy heartbeats; watchdog fallback.")
    common(q, None)
    q.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    q.add_argument("--port", type=tcp_port, default=5020, help="TCP port, 0 = any free port "
                   "(default: 5020)")
    q.add_argument("--plan", default=None, help="local fixed-time plan (default: the first)")
    q.add_argument("--speed", type=positive_float, default=1.0,
                   help="simulated seconds per wall second (default: 1 = real time)")
    q.add_argument("--sync", action="store_true",
                   help="test bench: wait for the bridge's acknowledgement before each tick")
    q.add_argument("--watchdog", type=positive_float, default=1.0,
                   help="wall seconds without adapter heartbeat before falling back to the "
                        "local plan (default: 1.0)")
    q.add_argument("--handshake", type=positive_int, default=3,
                   help="healthy heartbeats before external control is granted (default: 3)")
    _add_transport(q.add_argument_group("Modbus RTU and TLS (default: plain Modbus/TCP)"),
                   server=True)
    q.set_defaults(handler=_cmd_serve)

    q = hil.add_parser("deploy", help="run a controller or policy against a field controller",
                       description="The HIL adapter: reads detectors and signal states over "
                                   "Modbus, runs the controller, writes stage requests and its "
                                   "heartbeat, checks every read-back against the conflict "
                                   "matrix. Ctrl-C returns the controller to local mode.")
    q.add_argument("--controller", required=True,
                   help="controller name from the registry (e.g. fixed-time, actuated, "
                        "max-pressure, rl)")
    q.add_argument("--policy", type=Path, default=None, help="policy file for --controller rl")
    common(q, "westentor")
    _add_sensing(q, simulated=False)
    q.add_argument("--period", type=positive_float, default=0.1,
                   help="control-loop period in seconds (default: 0.1 = 10 Hz)")
    q.add_argument("--watchdog", type=positive_float, default=1.0,
                   help="the field controller's watchdog in seconds (default: 1.0); "
                        "timeout x (retries+1) must stay at or below a quarter of it")
    q.add_argument("--stale", type=positive_float, default=2.5,
                   help="seconds the controller heartbeat may stand still (default: 2.5)")
    q.add_argument("--slow", type=positive_float, default=None,
                   help="Modbus I/O seconds per cycle above which a cycle is slow; three in a "
                        "row request the local plan (default: the period, at least 0.05)")
    q.add_argument("--conflict-resume", type=positive_float, default=None,
                   help="resume after a conflict alarm once the read-back has been clean this "
                        "many seconds (default: the alarm latches until restart)")
    q.add_argument("--audit", type=Path, default=Path("hil-audit.jsonl"),
                   help="audit log, JSON lines (default: hil-audit.jsonl)")
    q.add_argument("--duration", type=positive_float, default=None,
                   help="stop after this many seconds (default: run until Ctrl-C)")
    q.add_argument("--connect-timeout", type=positive_float, default=30.0,
                   help="give up (exit 2) when no field controller answered within this many "
                        "seconds of the start (default: 30)")
    _add_client_link(q, timeout_s=0.1, retries=1)
    q.set_defaults(handler=_cmd_deploy)

    q = hil.add_parser("bridge", help="put SUMO in the loop of a Modbus field controller",
                       description="SUMO in the loop: simulated detectors feed the controller's "
                                   "detector inputs, its signal-group states drive SUMO; "
                                   "writes the same summary.json as 'ampel run'.")
    common(q, None)
    q.add_argument("--seed", type=seed, default=1, help="demand and SUMO seed")
    q.add_argument("--duration", type=duration_s, default=3600.0,
                   help="simulated seconds (default: 3600)")
    q.add_argument("--demand", type=demand_scale, default=1.0, help="demand scale factor")
    _add_sensing(q, simulated=True)
    q.add_argument("--out", required=True, help="output folder (created if missing)")
    q.add_argument("--wait", type=positive_float, default=10.0,
                   help="give up when the controller does not answer for this many seconds "
                        "(default: 10)")
    _add_client_link(q, timeout_s=0.5, retries=2)
    q.set_defaults(handler=_cmd_bridge)
