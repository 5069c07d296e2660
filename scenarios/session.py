"""The SUMO session: the only place that talks to libsumo / TraCI.

libsumo (in-process, fast) by default; TraCI with ``sumo-gui`` when a GUI is wanted. One
libsumo simulation per process: parallel runs need processes, not threads.
"""

from __future__ import annotations

import logging
import operator
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scenarios.batchread import LaneArrays, LaneBatch, LaneCounts, read_arrays, read_batch
from scenarios.build import sumo_binary
from scenarios.detectors import LOOP_PERIOD_S, LaneDetectors
from scenarios.loopcount import LoopBank, LoopState, direct_call
from scenarios.observation import LaneReading
from scenarios.sensing import CameraModel, CameraReading, SensingProfile
from signals.errors import ConfigError

log = logging.getLogger(__name__)

# lane-area (camera) variables (``traci.constants``)
_AREA_VEHICLES = 0x10  # LAST_STEP_VEHICLE_NUMBER
_AREA_SPEED = 0x11  # LAST_STEP_MEAN_SPEED (m/s, -1 if empty)
_AREA_HALTING = 0x14  # LAST_STEP_VEHICLE_HALTING_NUMBER
_AREA_VARS = (_AREA_VEHICLES, _AREA_SPEED, _AREA_HALTING)


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
    buses_seen: int = 0
    adv_seen: int = 0

    def advance(self, stop_total: int, up_total: int, buses: int) -> tuple[int, int, int]:
        """Vehicles counted at the stop line, upstream and buses since the last read."""
        stop_count = stop_total - self.stop_seen
        up_count = up_total - self.up_seen
        bus_count = buses - self.buses_seen
        self.stop_seen, self.up_seen, self.buses_seen = stop_total, up_total, buses
        self.stop_total += stop_count
        self.up_total += up_count
        return stop_count, up_count, bus_count


@dataclass(frozen=True)
class _DetectorIds:
    """The detector ids of one tuple of lanes, by kind (kept with the tuple itself), and
    for the plain loops profile the handles of the fused read (:meth:`LoopBank.lane_values`)."""

    detectors: tuple[LaneDetectors, ...]
    lanes: tuple[str, ...]
    stoplines: tuple[str, ...]
    upstreams: tuple[str, ...]
    advances: tuple[str, ...]
    cameras: tuple[str, ...]
    bank: LoopBank | None = None
    stop_loops: tuple[LoopState, ...] = ()
    up_loops: tuple[LoopState, ...] = ()
    counters: tuple[_LoopCounters, ...] = ()

    @classmethod
    def of(cls, detectors: tuple[LaneDetectors, ...]) -> _DetectorIds:
        """Collect the ids."""
        return cls(detectors, tuple(d.lane for d in detectors),
                   tuple(d.stopline for d in detectors),
                   tuple(d.upstream for d in detectors),
                   tuple(d.advance for d in detectors if d.advance),
                   tuple(d.camera for d in detectors if d.camera))


_new_object = object.__new__
_set_attribute = object.__setattr__


def _libsumo_step(libsumo: Any) -> tuple[Callable[[float], Any], Callable[[], Any], dict
                                         ] | None:
    """libsumo's C functions behind ``simulationStep`` and ``simulation.getTime``, and its
    step listeners (a dict, empty unless someone registered one), when libsumo's Python
    layer is the one known here (``simulationStep`` = the C step, then the listeners;
    ``getTime`` only passes on): the same calls without three Python frames a step.
    None otherwise (the Python methods are used)."""
    c = sys.modules.get("libsumo._libsumo")
    manager = getattr(libsumo, "_stepManager", None)
    listeners = getattr(manager, "_stepListeners", None)
    step = getattr(c, "simulation_step", None)
    get_time = getattr(c, "simulation_getTime", None)
    wrapper = getattr(libsumo, "simulationStep", None)
    if (not callable(step) or not callable(get_time) or not isinstance(listeners, dict)
            or getattr(wrapper, "__module__", None) != "libsumo"
            or getattr(libsumo.simulation.getTime, "__qualname__", "") != "simulation.getTime"):
        return None
    return step, get_time, listeners


def _loop_reading(lane: str, stop_count: int, up_count: int, occupancy: float,
                  presence: bool, gap_s: float, queue: float, bus_count: int,
                  upstream_occupancy: float) -> LaneReading:
    """``LaneReading(...)`` of the plain loops profile, built without the frozen
    dataclass's ``__init__`` (an equal object, a third of the cost; the per-tick path
    builds one per lane and second). ``tests/scenarios/test_fast_readings.py`` checks it against
    the constructor, field by field."""
    reading = _new_object(LaneReading)
    _set_attribute(reading, "__dict__", {
        "lane": lane, "stopline_count": stop_count, "upstream_count": up_count,
        "occupancy": occupancy, "presence": presence, "gap_s": gap_s, "queue": queue,
        "bus_count": bus_count, "upstream_occupancy": upstream_occupancy,
        "advance_count": None, "advance_occupancy": None, "camera_queue": None,
        "camera_approaching": None, "camera_speed_mps": None})
    return reading


@dataclass
class SumoSession:
    """A running SUMO simulation. Use as a context manager; ``close()`` flushes outputs."""

    files: SessionFiles
    seed: int
    begin_s: float = 0.0
    end_s: float = 3600.0
    gui: bool = False
    step_length_s: float = 1.0
    sensing: SensingProfile = field(default_factory=SensingProfile)
    #: read loops through libsumo subscriptions instead of one call per value (slower)
    subscribe_loops: bool = False
    #: equip every vehicle with SUMO's emissions device (the summary's CO2, NOx, PMx);
    #: False for a run nobody summarises (an environment without episode metrics): SUMO
    #: then computes no emissions, about a fifth of its steps, with the same traffic
    #: (tripinfo stays: without its device SUMO's traffic differs on cologne1)
    emissions: bool = True
    _sim: Any = field(default=None, init=False, repr=False)
    #: the simulation time after the last step (None: not asked yet since the start)
    _time: float | None = field(default=None, init=False, repr=False)
    _counters: dict[str, _LoopCounters] = field(default_factory=dict, init=False, repr=False)
    _last_state: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _speed_limits: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    #: libsumo's lane count and mean speed functions for :meth:`delay_rate` (once started)
    _lane_direct: tuple[Callable[[str], Any], Callable[[str], Any]] | None = field(
        default=None, init=False, repr=False)
    _loops: LoopBank | None = field(default=None, init=False, repr=False)
    #: the traffic lights' state query (libsumo's C function, once started)
    _tls_state: Callable[[str], Any] | None = field(default=None, init=False, repr=False)
    _tls_set: Callable[..., Any] | None = field(default=None, init=False, repr=False)
    #: libsumo's step and time C functions and its step listeners (see :meth:`step`)
    _direct_step: tuple[Callable[[float], Any], Callable[[], Any], dict] | None = field(
        default=None, init=False, repr=False)
    _detector_ids: dict[int, _DetectorIds] = field(default_factory=dict, init=False,
                                                   repr=False)
    _areas: set[str] = field(default_factory=set, init=False, repr=False)
    _area_results: dict[str, dict[int, Any]] = field(default_factory=dict, init=False,
                                                     repr=False)
    _area_time: float | None = field(default=None, init=False, repr=False)
    _camera: CameraModel | None = field(default=None, init=False, repr=False)
    _lane_counts: LaneCounts = field(default_factory=LaneCounts, init=False, repr=False)
    _batches: dict[tuple[int, ...], tuple[tuple[tuple[LaneDetectors, ...], ...],
                                          LaneBatch | None]] = field(
        default_factory=dict, init=False, repr=False)

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
            "--tripinfo-output.write-undeparted", "true",
            "--statistic-output", str(self.files.statistics),
        ]
        if self.emissions:
            cmd += ["--device.emissions.probability", "1"]
        cmd += ["--time-to-teleport", "300",
                "--no-step-log", "true", "--no-warnings", "true",
                "--duration-log.disable", "true"]
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
            import uuid

            import traci

            if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
                raise ConfigError("--gui needs a graphical display (DISPLAY is not set); "
                                  "run without --gui")
            label = f"ampel-{uuid.uuid4().hex[:8]}"
            try:
                traci.start(self.command(), label=label, numRetries=20)
            except (traci.exceptions.FatalTraCIError, traci.exceptions.TraCIException,
                    OSError) as exc:
                raise ConfigError(f"sumo-gui did not start: {exc}") from None
            self._sim = traci.getConnection(label)
        else:
            import libsumo

            try:
                libsumo.start(self.command())
            except libsumo.TraCIException as exc:  # SUMO refused its inputs: a user error
                lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
                raise ConfigError(f"SUMO refused to start: {' '.join(lines[:2]) or exc}"
                                  ) from None
            self._sim = libsumo
            self._direct_step = _libsumo_step(libsumo)
        self._time = None
        return self

    def __enter__(self) -> SumoSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def time_s(self) -> float:
        """Current simulation time (asked from SUMO once per step: only :meth:`step`
        advances it)."""
        now = self._time
        if now is None:
            now = self._time = float(self._sim.simulation.getTime())
        return now

    def step(self) -> None:
        """Advance the simulation by one step.

        With libsumo, its C step and time functions are called directly (its Python
        ``simulationStep`` calls the same step, then its step listeners, which run here
        too when any is registered: :func:`_libsumo_step`)."""
        direct = self._direct_step
        if direct is not None:
            direct[0](0.0)
            if direct[2]:
                self._sim._stepManager.manageStepListeners(0.0)
            now = self._time = float(direct[1]())
        else:
            self._sim.simulationStep()
            now = self._time = float(self._sim.simulation.getTime())
        if self._loops is not None:
            self._loops.after_step(now)

    def finished(self) -> bool:
        """True once the end time is reached."""
        return self.time_s >= self.end_s - 1e-9

    def set_signal_state(self, tls: str, state: str) -> None:
        """Apply a link state string to a traffic light (only when it changed; libsumo's C
        function directly, :func:`~scenarios.loopcount.direct_call`)."""
        if self._last_state.get(tls) != state:
            set_state = self._tls_set
            if set_state is None:
                set_state = self._tls_set = direct_call(
                    self._sim.trafficlight, "setRedYellowGreenState", "trafficlight")
            set_state(tls, state)
            self._last_state[tls] = state

    def signal_state(self, tls: str) -> str:
        """The link state string SUMO shows for a traffic light it runs itself (libsumo's
        C function directly, :func:`~scenarios.loopcount.direct_call`)."""
        get = self._tls_state
        if get is None:
            get = self._tls_state = direct_call(self._sim.trafficlight,
                                                "getRedYellowGreenState", "trafficlight")
        return str(get(tls))

    def read_lanes(self, detectors: tuple[LaneDetectors, ...]) -> tuple[LaneReading, ...]:
        """Detector readings per lane since the previous call (counts are differences).

        Loop values are read only here, when a controller decides
        (:mod:`scenarios.loopcount`); a loop is tracked from the first read that names it,
        its counts from the start of its current 60 s interval.
        """
        bank, now = self._loop_bank(), self.time_s
        ids = self._detector_ids.get(id(detectors))
        if ids is None or ids.detectors is not detectors or ids.bank is not bank:
            ids = self._detector_ids[id(detectors)] = self._track(detectors, bank, now)
        if ids.counters:
            return self._plain_readings(ids, bank)
        stops = bank.values(ids.stoplines, now)
        ups = bank.values(ids.upstreams, now)
        advances = iter(bank.values(ids.advances, now)) if ids.advances else iter(())
        areas = self._area_values(ids.cameras) if ids.cameras else {}
        readings: list[LaneReading] = []
        for det, stop, up in zip(detectors, stops, ups, strict=True):
            c = self._counters.get(det.lane)
            if c is None:
                c = self._counters[det.lane] = _LoopCounters()
            stop_count, up_count, bus_count = c.advance(stop[0], up[0], up[1])
            if det.advance is None and det.camera is None:
                readings.append(LaneReading(
                    lane=det.lane, stopline_count=stop_count, upstream_count=up_count,
                    occupancy=stop[2], presence=stop[3], gap_s=stop[4],
                    queue=float(max(0, c.up_total - c.stop_total)), bus_count=bus_count,
                    upstream_occupancy=up[2]))
                continue
            extra: dict[str, Any] = {}
            if det.advance is not None:
                adv = next(advances)
                extra.update(advance_count=adv[0] - c.adv_seen, advance_occupancy=adv[2])
                c.adv_seen = adv[0]
            if det.camera is not None:
                extra.update(self._camera_fields(areas[det.camera]))
            readings.append(LaneReading(
                lane=det.lane,
                stopline_count=stop_count,
                upstream_count=up_count,
                occupancy=stop[2],
                presence=stop[3],
                gap_s=stop[4],
                queue=float(max(0, c.up_total - c.stop_total)),
                bus_count=bus_count,
                upstream_occupancy=up[2],
                **extra,
            ))
        return tuple(readings)

    def read_lanes_many(self, groups: Sequence[tuple[LaneDetectors, ...]]
                        ) -> list[tuple[LaneReading, ...]]:
        """:meth:`read_lanes` of each group (e.g. every junction deciding in this step).

        With the plain loops profile all groups are read in one pass over numpy arrays
        (:mod:`scenarios.batchread`; equal readings); other profiles group by group. A
        lane is read this way or by :meth:`read_lanes`, not both, within one session.
        """
        key = tuple(map(id, groups))
        batch = self._batches.get(key)
        if batch is None or not all(map(operator.is_, batch[0], groups)):
            batch = self._batches[key] = (tuple(groups), self._batch(groups))
        if batch[1] is None:
            return [self.read_lanes(g) for g in groups]
        return read_batch(batch[1], self._loop_bank(), self._lane_counts, self.time_s)

    def can_read_arrays(self, groups: Sequence[tuple[LaneDetectors, ...]]) -> bool:
        """Whether :meth:`read_lane_arrays` can read these groups (plain loops only)."""
        return not self.subscribe_loops and all(d.advance is None and d.camera is None
                                                for g in groups for d in g)

    def read_lane_arrays(self, groups: Sequence[tuple[LaneDetectors, ...]],
                         occupancy: bool = True, buses: bool = True,
                         upstream_occupancy: bool = False) -> LaneArrays:
        """:meth:`read_lanes_many` of these groups as arrays over their lanes, group after
        group (the same values; plain loops only, see :meth:`can_read_arrays`).

        Only what a caller uses is asked of SUMO: without ``occupancy`` the occupancies
        (but the upstream loops' with ``upstream_occupancy``), without ``buses`` the bus
        counts are zeros (``buses`` must be the same in every
        read of these groups: it decides how their loops are tracked).
        """
        key = tuple(map(id, groups))
        batch = self._batches.get(key)
        if batch is None or not all(map(operator.is_, batch[0], groups)):
            batch = self._batches[key] = (tuple(groups), self._batch(groups, buses))
        if batch[1] is None:
            raise ValueError("these lanes have detectors beyond the two loops: read them "
                             "with read_lanes_many")
        return read_arrays(batch[1], self._loop_bank(), self._lane_counts, self.time_s,
                           occupancy, upstream_occupancy)

    def _batch(self, groups: Sequence[tuple[LaneDetectors, ...]], buses: bool = True
               ) -> LaneBatch | None:
        """The batch of these groups, or None when a lane has more than the two loops."""
        if self.subscribe_loops or any(d.advance is not None or d.camera is not None
                                       for g in groups for d in g):
            return None
        lanes = [d.lane for g in groups for d in g]
        if any(lane in self._counters for lane in lanes):
            raise RuntimeError("lanes read one tuple at a time cannot be read in batches "
                               "in the same session")
        return LaneBatch.build(groups, self._loop_bank(), self._lane_counts, self.time_s,
                               buses)

    def _track(self, detectors: tuple[LaneDetectors, ...], bank: LoopBank, now: float
               ) -> _DetectorIds:
        """Start tracking a tuple of lanes' loops; the handles of the fused read when the
        lanes have only the two loops (and loops are read directly)."""
        ids = _DetectorIds.of(detectors)
        if any(lane in self._lane_counts.index for lane in ids.lanes):
            raise RuntimeError("lanes read in batches cannot be read one tuple at a time "
                               "in the same session")
        bank.track(ids.stoplines, now)
        bank.track(ids.upstreams, now, buses=True, full=False)
        bank.track(ids.advances, now, full=False)
        if ids.advances or ids.cameras or self.subscribe_loops:
            return replace(ids, bank=bank)
        counters = tuple(self._counters.setdefault(d.lane, _LoopCounters()) for d in detectors)
        return replace(ids, bank=bank, stop_loops=bank.loops(ids.stoplines),
                       up_loops=bank.loops(ids.upstreams), counters=counters)

    def _plain_readings(self, ids: _DetectorIds, bank: LoopBank) -> tuple[LaneReading, ...]:
        """:meth:`read_lanes` for lanes with only the two loops (the default profile).

        :meth:`_LoopCounters.advance` and :func:`_loop_reading` inlined (one call each per
        lane and second otherwise); ``tests/scenarios/test_fast_readings.py`` checks it
        against the general path."""
        values = bank.lane_values(ids.stoplines, ids.stop_loops, ids.upstreams, ids.up_loops,
                                  self.time_s)
        readings: list[LaneReading] = []
        append = readings.append
        new, set_attribute, reading_type = _new_object, _set_attribute, LaneReading
        for lane, c, (stop_total, occupancy, presence, gap_s, up_total, buses, up_occupancy) \
                in zip(ids.lanes, ids.counters, values, strict=True):
            stop_count = stop_total - c.stop_seen
            up_count = up_total - c.up_seen
            bus_count = buses - c.buses_seen
            c.stop_seen, c.up_seen, c.buses_seen = stop_total, up_total, buses
            c.stop_total += stop_count
            c.up_total += up_count
            queue = c.up_total - c.stop_total
            reading = new(reading_type)
            set_attribute(reading, "__dict__", {
                "lane": lane, "stopline_count": stop_count, "upstream_count": up_count,
                "occupancy": occupancy, "presence": presence, "gap_s": gap_s,
                "queue": float(queue if queue > 0 else 0), "bus_count": bus_count,
                "upstream_occupancy": up_occupancy, "advance_count": None,
                "advance_occupancy": None, "camera_queue": None, "camera_approaching": None,
                "camera_speed_mps": None})
            append(reading)
        return tuple(readings)

    def loop_values(self, loop_ids: tuple[str, ...]) -> list[tuple[bool, int, float]]:
        """Per induction loop: (occupied in the last step, running vehicle count since it
        was first asked for, last-step occupancy in %)."""
        bank, now = self._loop_bank(), self.time_s
        bank.track(loop_ids, now)
        return [(v[3], v[0], v[2] * 100.0) for v in bank.values(loop_ids, now)]

    def _loop_bank(self) -> LoopBank:
        if self._loops is None:
            if self._sim is None:
                raise RuntimeError("session not started")
            self._loops = LoopBank(self._sim, self.begin_s, LOOP_PERIOD_S, self.step_length_s,
                                   subscribe=self.subscribe_loops)
        return self._loops

    def _area_values(self, area_ids: tuple[str, ...]) -> dict[str, dict[int, Any]]:
        """Last-step values of lane-area detectors (one libsumo call per step at most)."""
        if not area_ids:
            return {}
        domain = self._sim.lanearea
        new = [x for x in area_ids if x not in self._areas]
        for area in new:
            domain.subscribe(area, _AREA_VARS)
            self._areas.add(area)
        now = self.time_s
        if new or self._area_time != now:
            self._area_results = domain.getAllSubscriptionResults()
            self._area_time = now
        return self._area_results

    def _camera_fields(self, values: dict[int, Any]) -> dict[str, float | None]:
        view = self._camera_view(values)
        return {"camera_queue": view.queue, "camera_approaching": view.approaching,
                "camera_speed_mps": view.speed_mps}

    def _camera_view(self, values: dict[int, Any]) -> CameraReading:
        if self._camera is None:
            self._camera = CameraModel(self.sensing, self.seed)
        return self._camera.reading(int(values[_AREA_HALTING]), int(values[_AREA_VEHICLES]),
                                    float(values[_AREA_SPEED]))

    def camera_readings(self, detectors: tuple[LaneDetectors, ...]
                        ) -> tuple[CameraReading | None, ...]:
        """Per lane the camera's reading of the last step, with the profile's noise and
        dropout (None for a lane without a camera): what :meth:`read_lanes` puts into the
        ``camera_*`` fields, for a caller that does not read the loops here (the HIL bridge)."""
        ids = tuple(d.camera for d in detectors if d.camera)
        areas = self._area_values(ids) if ids else {}
        return tuple(self._camera_view(areas[d.camera]) if d.camera is not None else None
                     for d in detectors)

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

        Ground truth for training rewards only (cheap enough to call every step: libsumo's
        C functions directly, :func:`~scenarios.loopcount.direct_call`).
        """
        if self._lane_direct is None:
            lane = self._sim.lane
            self._lane_direct = (direct_call(lane, "getLastStepVehicleNumber", "lane"),
                                 direct_call(lane, "getLastStepMeanSpeed", "lane"))
        count, mean_speed = self._lane_direct
        limits = self._speed_limits
        total = 0.0
        for lane_id, n in zip(lanes, list(map(count, lanes)), strict=True):
            if n:
                vmax = limits.get(lane_id)
                if vmax is None:
                    vmax = limits[lane_id] = max(float(self._sim.lane.getMaxSpeed(lane_id)),
                                                 0.1)
                v = mean_speed(lane_id)
                total += n * (1.0 - (vmax if vmax < v else v) / vmax)  # min(v, vmax)
        return total

    def close(self) -> None:
        """End the simulation and flush tripinfo/statistics output."""
        if self._sim is None:
            return
        try:
            self._sim.close()
        finally:
            self._sim = None
            self._time = None
            self._tls_state = self._tls_set = None
            self._direct_step = None
            self._loops = None
            self._lane_direct = None
            self._batches.clear()
            self._lane_counts = LaneCounts()
