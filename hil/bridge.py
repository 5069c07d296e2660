"""SUMO in the loop: a Modbus field controller (virtual or real) drives a simulated junction.

Each controller tick the bridge reads the signal-group states, checks them with its own
:class:`~signals.SafetyGuard`, applies them to SUMO, advances SUMO one step, and writes the
simulated detector loops into the controller's detector inputs (holding block
``detector_inputs``) together with ``bridge_ack`` = the controller heartbeat it applied.
Under the ``camera`` sensing profile it first writes each lane's camera reading (with the
profile's noise and dropout) into ``camera_inputs`` (a camera register profile such as
``ampel-camera-v1``).

Time model: the controller's clock is the master. The bridge steps SUMO once per controller
tick (SUMO step = controller tick = 1 s). A virtual controller started with ``--sync``
waits for ``bridge_ack`` before its next tick, so no tick is ever skipped and the loop runs
as fast as the slowest party allows (``--speed`` caps it). A real controller ticks in real
time; ticks the bridge could not apply in time are counted as ``missed_ticks``.

This is the only module of ``hil`` that touches SUMO (libsumo).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from controllers.registry import controller_factory
from controllers.runner import SignalledJunction
from hil.codec import CameraMismatch, JunctionBinding, JunctionMismatch, camera_row
from hil.link import FieldLink, LinkError, LinkOptions
from hil.registermap import DecodeError
from scenarios.files import write_json_atomic
from scenarios.layout import StateEncoder
from scenarios.metrics import summarise
from scenarios.scenario import Scenario
from scenarios.session import SumoSession
from scenarios.vclass import session_type_classes
from signals import Colour, SafetyGuard
from signals.errors import ConfigError, FieldDeviceError

__all__ = ["BridgeOptions", "format_result", "run_bridge", "write_summary"]

log = logging.getLogger(__name__)

_U16 = 0x10000

RESULT_ORDER = (
    ("vehicles_departed", "Motor vehicles departed", "{:d}"),
    ("vehicles_arrived", "Motor vehicles arrived", "{:d}"),
    ("mean_delay_s", "Mean delay (timeLoss) [s]", "{:.1f}"),
    ("mean_travel_time_s", "Mean travel time [s]", "{:.1f}"),
    ("mean_waiting_s", "Mean waiting time [s]", "{:.1f}"),
    ("mean_stops", "Mean stops per vehicle", "{:.2f}"),
    ("teleports", "Teleports", "{:d}"),
    ("safety_violations", "Safety violations", "{:d}"),
    ("missed_ticks", "Missed controller ticks", "{:d}"),
    ("external_share", "Share of ticks in external", "{:.2f}"),
    ("wall_s", "Wall time [s]", "{:.1f}"),
)


@dataclass(frozen=True)
class BridgeOptions:
    """One bridged run.

    Attributes:
        seed: demand and SUMO seed.
        duration_s: simulated seconds.
        demand_scale: factor on every flow.
        wait_s: give up when the controller shows no new tick for this many wall seconds.
        poll_s: wall seconds between two reads while waiting for the next tick.
    """

    seed: int = 1
    duration_s: float = 3600.0
    demand_scale: float = 1.0
    wait_s: float = 10.0
    poll_s: float = 0.001

    def __post_init__(self) -> None:
        if not self.duration_s > 0:
            raise ConfigError(f"duration must be positive, got {self.duration_s}")
        if not self.wait_s > 0:
            raise ConfigError(f"wait must be positive, got {self.wait_s}")


def _loop_values(session: SumoSession, detectors: tuple) -> list[dict[str, int]]:
    """Per detector slot (stop line, upstream per lane): presence, count, occupancy."""
    loop_ids = tuple(x for det in detectors for x in (det.stopline, det.upstream))
    return [{"presence": int(present), "count": count % _U16,
             "occupancy": int(round(min(100.0, occupancy) * 10))}
            for present, count, occupancy in session.loop_values(loop_ids)]


def _connect(link: FieldLink, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            link.connect()
            return
        except LinkError as exc:
            if time.monotonic() >= deadline:
                raise FieldDeviceError(f"bridge: {exc} (gave up after {wait_s:g} s)") from None
            time.sleep(0.1)


def _check_junction(link: FieldLink, scenario: str, tls: str) -> None:
    """Refuse (one ValueError line) a field controller that runs another junction."""
    try:
        link.read_status()
    except CameraMismatch as exc:
        link.close()
        raise FieldDeviceError(
            f"bridge: the field controller at {link.options.describe()} has no camera inputs "
            f"for junction {tls} ({exc}); start 'ampel hil serve --scenario {scenario} "
            f"--profile hil/profiles/ampel-camera-v1.yaml' or bridge without --sensing camera"
        ) from None
    except JunctionMismatch as exc:
        link.close()
        raise FieldDeviceError(
            f"bridge: the field controller at {link.options.describe()} does not run junction "
            f"{tls} of scenario {scenario} ({exc}); start 'ampel hil serve --scenario "
            f"{scenario}' or pick its scenario") from None
    except (DecodeError, LinkError):
        pass  # transient: the loop below reports persistent trouble


def run_bridge(scenario: Scenario, binding: JunctionBinding, link_options: LinkOptions,
               options: BridgeOptions, out_dir: Path) -> dict[str, Any]:
    """Run SUMO against the field controller; returns the summary (same keys as ``ampel run``)."""
    if "detector_inputs" not in binding.regmap.holding.blocks:
        raise ConfigError(f"profile {binding.regmap.profile} has no detector_inputs block: the "
                          "bridge cannot feed the controller's detectors")
    cameras = binding.regmap.holding.blocks.get("camera_inputs") if binding.cameras else None
    if binding.cameras and cameras is None:
        raise ConfigError(f"profile {binding.regmap.profile} has no camera_inputs block: the "
                          "bridge cannot feed the controller's cameras (camera sensing)")
    junction = scenario.junctions[0]
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    link = FieldLink(binding, link_options)
    _connect(link, options.wait_s)
    _check_junction(link, scenario.name, junction.layout.tls)
    has_ack = binding.regmap.holding.has("bridge_ack")
    others = [SignalledJunction.create(j, controller_factory("fixed-time")(j, scenario))
              for j in scenario.junctions[1:]]
    session = scenario.session(options.seed, options.duration_s, out_dir, options.demand_scale)
    step_s = session.step_length_s
    guard = SafetyGuard(binding.model, dt=step_s)
    encoder = StateEncoder(junction.layout)
    stats = {"ticks": 0, "missed_ticks": 0, "external_ticks": 0, "dark_ticks": 0,
             "stage_changes": 0, "link_errors": 0, "implausible": 0}
    modes: dict[str, int] = {}
    last_hb: int | None = None
    last_stage: int | None = None
    dark = "o" * len(junction.layout.links)
    last_error = ""
    try:
        with session:
            waiting_since = time.monotonic()
            while not session.finished():
                try:
                    snap = link.read_status()
                except DecodeError as exc:
                    stats["implausible"] += 1
                    last_error = str(exc)
                    if stats["implausible"] in (1, 10) or stats["implausible"] % 1000 == 0:
                        log.warning("bridge: implausible read-back (%d so far): %s",
                                    stats["implausible"], exc)
                    snap = None
                except LinkError as exc:
                    stats["link_errors"] += 1
                    log.warning("bridge: %s; reconnecting", exc)
                    _connect(link, options.wait_s)
                    continue
                if snap is None or snap.controller_heartbeat == last_hb:
                    if time.monotonic() - waiting_since > options.wait_s:
                        why = (f"only implausible read-backs ({last_error})" if snap is None
                               and last_error else "is the controller running?")
                        raise FieldDeviceError(f"bridge: no new controller tick for "
                                               f"{options.wait_s:g} s; {why}")
                    time.sleep(options.poll_s)
                    continue
                waiting_since = time.monotonic()
                if last_hb is not None:
                    stats["missed_ticks"] += (snap.controller_heartbeat - last_hb) % _U16 - 1
                last_hb = snap.controller_heartbeat
                stats["ticks"] += 1
                modes[snap.mode] = modes.get(snap.mode, 0) + 1
                stats["external_ticks"] += snap.mode == "external"
                colours = snap.colours()
                if any(c is None for c in colours):
                    # flashing amber / dark: SUMO's 'o' (off, blinking: vehicles yield)
                    stats["dark_ticks"] += 1
                    session.set_signal_state(junction.layout.tls, dark)
                else:
                    lit = cast("tuple[Colour, ...]", colours)  # no None: checked above
                    guard.check(lit)
                    session.set_signal_state(junction.layout.tls, encoder.encode(lit))
                if snap.active_stage is not None and snap.active_stage != last_stage:
                    stats["stage_changes"] += last_stage is not None
                    last_stage = snap.active_stage
                t = session.time_s - session.begin_s
                for sj in others:
                    sj.control_step(session, t)
                session.step()
                rows = _loop_values(session, junction.detectors)
                extra = {"bridge_ack": snap.controller_heartbeat} if has_ack else None
                try:
                    if cameras is not None:  # before the acknowledgement that ends the tick
                        link.write_slots("camera_inputs", [
                            camera_row(cameras, c)
                            for c in session.camera_readings(junction.detectors)])
                    link.write_slots("detector_inputs", rows, extra)
                except LinkError as exc:
                    stats["link_errors"] += 1
                    log.warning("bridge: %s; reconnecting", exc)
                    _connect(link, options.wait_s)
    finally:
        link.close()
    metrics = summarise(session.files.tripinfo, session.files.statistics,
                        session_type_classes(session))
    violations = guard.violations + [v for sj in others for v in sj.guard.violations]
    ticks = max(1, stats["ticks"])
    return {
        "scenario": scenario.name,
        "controller": f"modbus {link_options.describe()}",
        "seed": options.seed,
        "duration_s": float(options.duration_s),
        "demand_scale": options.demand_scale,
        **scenario.sensing.describe(),
        **metrics,
        "safety_violations": len(violations),
        "violation_messages": [v.message for v in violations[:20]],
        "stage_changes": stats["stage_changes"],
        "controller_ticks": stats["ticks"],
        "missed_ticks": stats["missed_ticks"],
        "external_share": round(stats["external_ticks"] / ticks, 4),
        "dark_or_flashing_ticks": stats["dark_ticks"],
        "controller_modes": modes,
        "link_errors": stats["link_errors"],
        "implausible_reads": stats["implausible"],
        "wall_s": round(time.perf_counter() - started, 3),
    }


def write_summary(result: dict[str, Any], path: Path) -> None:
    """Write the summary atomically (temp file + rename)."""
    write_json_atomic(result, path)


def format_result(result: dict[str, Any]) -> str:
    """The summary table printed after a bridged run."""
    lines = [f"{result['scenario']} | {result['controller']} | seed {result['seed']} | "
             f"{result['duration_s']:g} s"]
    for key, label, fmt in RESULT_ORDER:
        if key in result:
            lines.append(f"  {label:<28} {fmt.format(result[key])}")
    return "\n".join(lines)
