"""Run metrics from SUMO's tripinfo (unfinished trips included) and statistics output."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenarios.vclass import TypeClasses


@dataclass(frozen=True)
class TripRecord:
    """One finished, unfinished or undeparted trip from tripinfo.

    ``departed`` is False for a vehicle still waiting to be inserted at the end (SUMO's
    ``--tripinfo-output.write-undeparted``); its ``depart_delay_s`` is the time it waited.
    """

    id: str
    vtype: str
    depart_s: float
    arrived: bool
    duration_s: float
    time_loss_s: float
    waiting_s: float
    stops: int
    co2_mg: float
    nox_mg: float
    pmx_mg: float
    depart_lane: str = ""
    depart_delay_s: float = 0.0
    departed: bool = True


def read_tripinfo(path: Path) -> tuple[list[TripRecord], list[TripRecord]]:
    """Vehicle trips and person trips from a tripinfo file."""
    vehicles: list[TripRecord] = []
    persons: list[TripRecord] = []
    if not path.exists():
        return vehicles, persons
    for _event, el in ET.iterparse(path, events=("end",)):
        if el.tag == "tripinfo":
            em = el.find("emissions")
            depart = float(el.get("depart", "0"))
            depart_delay = float(el.get("departDelay", "0"))
            if depart < 0 and depart_delay < 0:  # not yet due to depart: never wanted in
                el.clear()
                continue
            vehicles.append(TripRecord(
                id=el.get("id", ""),
                vtype=el.get("vType", ""),
                depart_s=depart,
                arrived=float(el.get("arrival", "-1")) >= 0,
                duration_s=float(el.get("duration", "0")),
                time_loss_s=float(el.get("timeLoss", "0")),
                waiting_s=float(el.get("waitingTime", "0")),
                stops=int(el.get("waitingCount", "0")),
                co2_mg=float(em.get("CO2_abs", "0")) if em is not None else 0.0,
                nox_mg=float(em.get("NOx_abs", "0")) if em is not None else 0.0,
                pmx_mg=float(em.get("PMx_abs", "0")) if em is not None else 0.0,
                depart_lane=el.get("departLane", ""),
                depart_delay_s=max(depart_delay, 0.0),
                departed=depart >= 0,
            ))
            el.clear()
        elif el.tag == "personinfo":
            walks = el.findall("walk")
            persons.append(TripRecord(
                id=el.get("id", ""), vtype=el.get("type", "pedestrian"),
                depart_s=float(el.get("depart", "0")),
                arrived=all(float(w.get("arrival", "-1")) >= 0 for w in walks) and bool(walks),
                duration_s=sum(float(w.get("duration", "0")) for w in walks),
                time_loss_s=sum(float(w.get("timeLoss", "0")) for w in walks),
                waiting_s=sum(float(w.get("waitingTime", "0")) for w in walks),
                stops=0, co2_mg=0.0, nox_mg=0.0, pmx_mg=0.0,
            ))
            el.clear()
    return vehicles, persons


def read_teleports(path: Path) -> int:
    """Total teleports from SUMO's statistic output."""
    if not path.exists():
        return 0
    root = ET.parse(path).getroot()
    tele = root.find("teleports")
    return int(tele.get("total", "0")) if tele is not None else 0


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0


def summarise(tripinfo: Path, statistics: Path, types: TypeClasses | None = None
              ) -> dict[str, float | int]:
    """The metric block of ``summary.json``.

    Road users are sorted by vehicle class (``types``, see :mod:`scenarios.vclass`; without
    it only SUMO's default type ids are known). Delay, travel time, waiting and stops are
    means over the motor vehicles that departed, unfinished trips included, as HBS rates
    junctions by motor-vehicle delay (``mean_delay_s`` = mean ``timeLoss``, comparable
    with published benchmarks). The insertion backlog: ``vehicles_not_departed`` are motor
    vehicles still waiting to enter at the end; ``mean_depart_delay_s`` and
    ``mean_total_delay_s`` (``timeLoss + departDelay``) are means over every motor vehicle
    that wanted to travel, departed or not. Bicycles, pedestrians and rail vehicles are
    reported separately; pedestrian delay is over finished walks, because SUMO records no
    time loss for a walk still under way.
    """
    types = types or TypeClasses()
    vehicles, persons = read_tripinfo(tripinfo)
    by_cat: dict[str, list[TripRecord]] = {}
    for v in vehicles:
        by_cat.setdefault(types.category(v.vtype), []).append(v)
    wanted = by_cat.get("motor", [])
    motor = [v for v in wanted if v.departed]
    bikes = [v for v in by_cat.get("bicycle", []) if v.departed]
    rail = [v for v in by_cat.get("rail", []) if v.departed]
    buses = [v for v in motor if types.vclass(v.vtype) in ("bus", "coach")]
    walkers = [v for v in by_cat.get("pedestrian", []) if v.departed]
    return {
        "vehicles_departed": len(motor),
        "vehicles_arrived": sum(v.arrived for v in motor),
        "vehicles_not_departed": len(wanted) - len(motor),
        "mean_delay_s": _mean([v.time_loss_s for v in motor]),
        "mean_depart_delay_s": _mean([v.depart_delay_s for v in wanted]),
        "mean_total_delay_s": _mean([v.time_loss_s + v.depart_delay_s for v in wanted]),
        "mean_travel_time_s": _mean([v.duration_s for v in motor]),
        "mean_waiting_s": _mean([v.waiting_s for v in motor]),
        "max_waiting_s": max((v.waiting_s for v in motor), default=0.0),
        "mean_stops": _mean([float(v.stops) for v in motor]),
        "buses_departed": len(buses),
        "bus_mean_delay_s": _mean([v.time_loss_s for v in buses]),
        "bicycles_departed": len(bikes),
        "bicycle_mean_delay_s": _mean([v.time_loss_s for v in bikes]),
        "bicycle_max_waiting_s": max((v.waiting_s for v in bikes), default=0.0),
        "rail_vehicles_departed": len(rail),
        "rail_mean_delay_s": _mean([v.time_loss_s for v in rail]),
        "pedestrians_departed": len(persons) + len(walkers),
        # SUMO writes no time loss for walks still under way, so only finished walks count
        "pedestrians_arrived": sum(p.arrived for p in persons) + sum(v.arrived for v in walkers),
        "pedestrian_mean_delay_s": _mean([p.time_loss_s for p in [*persons, *walkers]
                                          if p.arrived]),
        "pedestrian_max_waiting_s": max((p.waiting_s for p in [*persons, *walkers]),
                                        default=0.0),
        "co2_kg": sum(v.co2_mg for v in vehicles) / 1e6,
        "nox_g": sum(v.nox_mg for v in vehicles) / 1e3,
        "pmx_g": sum(v.pmx_mg for v in vehicles) / 1e3,
        "teleports": read_teleports(statistics),
    }


def motor_trips(vehicles: list[TripRecord], types: TypeClasses) -> list[TripRecord]:
    """The motor vehicles among the trips that departed (the population of ``mean_delay_s``)."""
    return [v for v in vehicles if v.departed and types.is_motor(v.vtype)]


def approach_delays(vehicles: list[TripRecord], approach_of_edge: dict[str, tuple[str, str]],
                    types: TypeClasses | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """Motor-vehicle delay per junction and approach, keyed by the edge a trip departed on.

    ``approach_of_edge`` maps an incoming edge to ``(junction, approach)``. A trip counts
    for the approach it entered the network on (``departLane``), which is exact for
    single-junction scenarios. Returns ``{junction: {approach: {"vehicles", "delay_sum_s",
    "unfinished"}}}``.
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    for v in motor_trips(vehicles, types or TypeClasses()):
        edge = v.depart_lane.rsplit("_", 1)[0]
        if edge not in approach_of_edge:
            continue
        junction, approach = approach_of_edge[edge]
        cell = out.setdefault(junction, {}).setdefault(
            approach, {"vehicles": 0, "delay_sum_s": 0.0, "unfinished": 0})
        cell["vehicles"] += 1
        cell["delay_sum_s"] += v.time_loss_s
        cell["unfinished"] += 0 if v.arrived else 1
    return out


def trip_totals(tripinfo: Path, statistics: Path) -> dict[str, float | int]:
    """Benchmark-style totals: the mean ``timeLoss`` over every tripinfo entry (all vehicle
    classes, unfinished trips included, as the RESCO table reports it), their count, and
    SUMO's teleports waiting in a jam (``jam`` + ``yield`` + ``wrongLane``)."""
    losses = [float(el.get("timeLoss", "0"))
              for _, el in ET.iterparse(tripinfo) if el.tag == "tripinfo"]
    jam = 0
    if statistics.exists():
        node = ET.parse(statistics).getroot().find("teleports")
        if node is not None:
            jam = sum(int(node.get(k, "0")) for k in ("jam", "yield", "wrongLane"))
    # math.fsum / n is statistics.fmean's own arithmetic (without importing statistics)
    return {"all_trips_mean_time_loss_s": math.fsum(losses) / len(losses) if losses else 0.0,
            "all_trips": len(losses), "jam_teleports": jam}
