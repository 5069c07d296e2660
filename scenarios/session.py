"""The SUMO session: the only place that talks to libsumo / TraCI.

libsumo (in-process, fast) by default; TraCI with ``sumo-gui`` when a GUI is wanted. One
libsumo simulation per process: parallel runs need processes, not threads.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenarios.build import sumo_binary
from scenarios.detectors import LaneDetectors
from scenarios.observation import LaneReading

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionFiles:
    """Inputs and outputs of one simulation run."""

    net: Path
    routes: Path
    additional: tuple[Path, ...]
    tripinfo: Path
    statistics: Path


@dataclass
class _LoopCounters:
    stop_total: int = 0
    up_total: int = 0
    stop_seen: int = 0
    up_seen: int = 0
    up_ids_seen: int = 0


@dataclass
class SumoSession:
    """A running SUMO simulation. Use as a context manager; ``close()`` flushes outputs."""

    files: SessionFiles
    seed: int
    begin_s: float = 0.0
    end_s: float = 3600.0
    gui: bool = False
    step_length_s: float = 1.0
    _sim: Any = field(default=None, init=False, repr=False)
    _counters: dict[str, _LoopCounters] = field(default_factory=dict, init=False, repr=False)
    _last_state: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _speed_limits: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    def command(self) -> list[str]:
        """The SUMO command line for this run."""
        binary = sumo_binary("sumo-gui" if self.gui else "sumo")
        cmd = [
            binary, "-n", str(self.files.net), "-r", str(self.files.routes),
            "--begin", str(self.begin_s), "--end", str(self.end_s),
            "--step-length", str(self.step_length_s),
            "--seed", str(self.seed),
            "--tripinfo-output", str(self.files.tripinfo),
            "--tripinfo-output.write-unfinished", "true",
            "--statistic-output", str(self.files.statistics),
            "--device.emissions.probability", "1",
            "--time-to-teleport", "300",
            "--no-step-log", "true", "--no-warnings", "true",
            "--duration-log.disable", "true",
        ]
        if self.files.additional:
            cmd += ["-a", ",".join(str(p) for p in self.files.additional)]
        if self.gui:
            cmd += ["--start", "--delay", "100"]
        return cmd

    def start(self) -> SumoSession:
        """Start the simulation (libsumo, or TraCI + sumo-gui)."""
        if self._sim is not None:
            raise RuntimeError("session already started")
        if self.gui:
            import traci

            if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
                raise ValueError("--gui needs a graphical display (DISPLAY is not set); "
                                 "run without --gui")
            label = f"ampel-{uuid.uuid4().hex[:8]}"
            try:
                traci.start(self.command(), label=label, numRetries=20)
            except (traci.exceptions.FatalTraCIError, traci.exceptions.TraCIException,
                    OSError) as exc:
                raise ValueError(f"sumo-gui did not start: {exc}") from None
            self._sim = traci.getConnection(label)
        else:
            import libsumo

            libsumo.start(self.command())
            self._sim = libsumo
        return self

    def __enter__(self) -> SumoSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def time_s(self) -> float:
        """Current simulation time."""
        return float(self._sim.simulation.getTime())

    def step(self) -> None:
        """Advance the simulation by one step."""
        self._sim.simulationStep()

    def finished(self) -> bool:
        """True once the end time is reached."""
        return self.time_s >= self.end_s - 1e-9

    def set_signal_state(self, tls: str, state: str) -> None:
        """Apply a link state string to a traffic light (only when it changed)."""
        if self._last_state.get(tls) != state:
            self._sim.trafficlight.setRedYellowGreenState(tls, state)
            self._last_state[tls] = state

    def read_lanes(self, detectors: tuple[LaneDetectors, ...]) -> tuple[LaneReading, ...]:
        """Detector readings per lane since the previous call (counts are differences)."""
        loops = self._sim.inductionloop
        readings = []
        for det in detectors:
            c = self._counters.setdefault(det.lane, _LoopCounters())
            stop_total = loops.getIntervalVehicleNumber(det.stopline)
            up_total = loops.getIntervalVehicleNumber(det.upstream)
            stop_count = stop_total - c.stop_seen
            up_count = up_total - c.up_seen
            c.stop_seen, c.up_seen = stop_total, up_total
            c.stop_total += stop_count
            c.up_total += up_count
            bus_count = self._buses_passed(det.upstream, c) if up_count > 0 else 0
            readings.append(LaneReading(
                lane=det.lane,
                stopline_count=stop_count,
                upstream_count=up_count,
                occupancy=loops.getLastStepOccupancy(det.stopline) / 100.0,
                presence=loops.getLastStepVehicleNumber(det.stopline) > 0,
                gap_s=float(loops.getTimeSinceDetection(det.stopline)),
                queue=float(max(0, c.up_total - c.stop_total)),
                bus_count=bus_count,
            ))
        return tuple(readings)

    def halting_vehicles(self, lanes: tuple[str, ...]) -> tuple[int, ...]:
        """Vehicles standing (speed < 0.1 m/s) on each lane in the last step."""
        lane = self._sim.lane
        return tuple(int(lane.getLastStepHaltingNumber(lane_id)) for lane_id in lanes)

    def lane_traffic(self, lanes: tuple[str, ...]) -> tuple[tuple[int, int, float, float], ...]:
        """Ground truth per lane in the last step: (vehicles, halting, waiting s, delay rate).

        ``waiting s`` sums the current waiting times of the lane's vehicles; ``delay rate``
        is ``vehicles * (1 - mean speed / lane speed limit)``, the seconds lost per second.
        For rewards in training only: controllers observe detectors, not this.
        """
        lane = self._sim.lane
        out = []
        for lane_id in lanes:
            n = int(lane.getLastStepVehicleNumber(lane_id))
            if n == 0:
                out.append((0, 0, 0.0, 0.0))
                continue
            vmax = max(float(lane.getMaxSpeed(lane_id)), 0.1)
            speed = min(float(lane.getLastStepMeanSpeed(lane_id)), vmax)
            out.append((n, int(lane.getLastStepHaltingNumber(lane_id)),
                        float(lane.getWaitingTime(lane_id)), n * (1.0 - speed / vmax)))
        return tuple(out)

    def pending_vehicles(self) -> int:
        """Vehicles due to depart that SUMO could not insert yet (waiting to enter the
        network; ground truth for training rewards only)."""
        return len(self._sim.simulation.getPendingVehicles())

    def delay_rate(self, lanes: tuple[str, ...]) -> float:
        """Seconds lost per second on the lanes now: sum of ``vehicles * (1 - v / v_max)``.

        Ground truth for training rewards only (cheap enough to call every step).
        """
        lane = self._sim.lane
        limits = self._speed_limits
        total = 0.0
        for lane_id in lanes:
            n = lane.getLastStepVehicleNumber(lane_id)
            if n:
                vmax = limits.get(lane_id)
                if vmax is None:
                    vmax = limits[lane_id] = max(float(lane.getMaxSpeed(lane_id)), 0.1)
                total += n * (1.0 - min(lane.getLastStepMeanSpeed(lane_id), vmax) / vmax)
        return total

    def _buses_passed(self, loop: str, c: _LoopCounters) -> int:
        """Buses among the vehicles that passed ``loop`` since it was last asked (a bus
        check-in point; only called when the loop counted someone, so it stays cheap)."""
        ids = self._sim.inductionloop.getIntervalVehicleIDs(loop)
        new, c.up_ids_seen = ids[c.up_ids_seen:], len(ids)
        errors = getattr(self._sim, "TraCIException", Exception)
        buses = 0
        for vid in new:
            try:
                buses += self._sim.vehicle.getVehicleClass(vid) == "bus"
            except errors:  # already left the network: it was not on an approach for long
                continue
        return buses

    def close(self) -> None:
        """End the simulation and flush tripinfo/statistics output."""
        if self._sim is None:
            return
        try:
            self._sim.close()
        finally:
            self._sim = None
