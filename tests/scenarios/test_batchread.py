"""Reading many junctions' lanes in one pass (issue 15, ``SumoSession.read_lanes_many``)
gives the readings of one ``read_lanes`` per junction, lane by lane and type by type."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_batched_reads import make_grid  # noqa: E402

pytestmark = pytest.mark.slow


def _fields(reading) -> tuple:
    return tuple((f.name, type(getattr(reading, f.name)), getattr(reading, f.name))
                 for f in dataclasses.fields(reading))


def _scenario_and_groups(tmp_path: Path, net: str) -> tuple[Any, list[Any]]:
    """The scenario and its detector groups read together: every junction of the 3x3 grid,
    or a single junction's lanes split in two."""
    from scenarios.scenario import load_scenario

    if net == "grid":
        scenario = load_scenario(str(make_grid(tmp_path / "grid")))
        return scenario, [j.detectors for j in scenario.junctions]
    scenario = load_scenario(net)
    lanes = scenario.junctions[0].detectors
    return scenario, [lanes[:len(lanes) // 2], lanes[len(lanes) // 2:]]


@pytest.mark.parametrize(("net", "every_s", "first_s"),
                         [("grid", 1, 0), ("grid", 2, 59), ("grid", 7, 3),
                          ("hauptbahnhof", 1, 0)])
def test_batched_readings_equal_one_read_per_junction(tmp_path: Path, net: str, every_s: int,
                                                      first_s: int) -> None:
    """The 3x3 grid, and Hauptbahnhof for the buses (one junction: lanes split in two)."""
    scenario, groups = _scenario_and_groups(tmp_path, net)
    runs = []
    for batched in (False, True):
        session = scenario.session(seed=1, duration_s=300 if net == "grid" else 900,
                                   out_dir=tmp_path / f"run{batched}")
        readings = []
        with session:
            while not session.finished():
                session.step()
                t = int(session.time_s)
                if t < first_s or (t - first_s) % every_s:
                    continue
                # the junctions deciding in this step: all, or every other one
                due = groups if t % 3 else groups[t % 2::2]
                got = (session.read_lanes_many(due) if batched
                       else [session.read_lanes(g) for g in due])
                readings.extend(_fields(r) for rs in got for r in rs)
        runs.append(readings)
    single, batch = runs
    assert len(single) == len(batch) > 1_000
    assert single == batch
    totals = {name: 0 for name in ("stopline_count", "bus_count")}
    for r in batch:
        for name, _type, value in r:
            if name in totals:
                totals[name] += value
    assert totals["stopline_count"] > 50
    if net != "grid":
        assert totals["bus_count"] > 0


def test_one_reader_per_lane(tmp_path: Path) -> None:
    from scenarios.scenario import load_scenario

    scenario = load_scenario(str(make_grid(tmp_path / "grid")))
    groups = [j.detectors for j in scenario.junctions]
    with scenario.session(seed=1, duration_s=10, out_dir=tmp_path / "run") as session:
        session.step()
        session.read_lanes_many(groups[:2])
        with pytest.raises(RuntimeError, match="batches"):
            session.read_lanes(groups[0])
        session.read_lanes(groups[2])
        with pytest.raises(RuntimeError, match="one tuple at a time"):
            session.read_lanes_many(groups[2:4])


_ARRAY_FIELDS = ("stopline_count", "upstream_count", "occupancy", "presence", "gap_s", "queue",
                 "bus_count", "upstream_occupancy")


@pytest.mark.parametrize("net", ["grid", "hauptbahnhof"])
def test_lane_arrays_equal_the_readings(tmp_path: Path, net: str) -> None:
    """``read_lane_arrays`` holds the readings' values lane by lane; what it is told not to
    read (occupancies, buses) is zero and leaves the rest unchanged."""
    scenario, groups = _scenario_and_groups(tmp_path, net)
    runs: dict[str, list[list]] = {}
    for how in ("readings", "arrays", "lean"):
        rows: list[list] = []
        with scenario.session(seed=1, duration_s=300 if net == "grid" else 900,
                              out_dir=tmp_path / how) as session:
            while not session.finished():
                session.step()
                if how == "readings":
                    got = [r for rs in session.read_lanes_many(groups) for r in rs]
                    rows.append([[getattr(r, f) for r in got] for f in _ARRAY_FIELDS])
                else:
                    a = session.read_lane_arrays(groups, occupancy=how == "arrays",
                                                 buses=how == "arrays")
                    rows.append([getattr(a, f).tolist() for f in _ARRAY_FIELDS])
        runs[how] = rows
    assert runs["arrays"] == runs["readings"]
    lean_zero = {"occupancy", "upstream_occupancy", "bus_count"}
    for full, lean in zip(runs["readings"], runs["lean"], strict=True):
        for name, values, lean_values in zip(_ARRAY_FIELDS, full, lean, strict=True):
            assert lean_values == ([0] * len(values) if name in lean_zero else values), name
    flat = [sum(row[_ARRAY_FIELDS.index(name)]) for row in runs["readings"]
            for name in ("occupancy", "stopline_count")]
    assert sum(flat) > 50
    if net != "grid":
        assert sum(sum(row[_ARRAY_FIELDS.index("bus_count")]) for row in runs["readings"]) > 0
