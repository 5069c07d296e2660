"""Cheaper detector reads (issue 15) change no metric: summaries equal a recording made
before the change, and every reading equals one taken with a libsumo call per value."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).parent / "data" / "summaries_before_batched_reads.json"
#: keys of summary.json that vary between identical runs
VOLATILE = ("wall_s", "code_revision")


def _recorded() -> dict[str, dict]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))["runs"]


def make_grid(folder: Path) -> Path:
    """The recorded external grid: 3x3 traffic lights, 600 s of seeded random trips."""
    sys.path.insert(0, str(Path(__file__).parent))
    from external_nets import grid, random_routes, sumocfg

    folder.mkdir(parents=True, exist_ok=True)
    net = grid(folder, "grid")
    routes = random_routes(net, folder / "grid.rou.xml", end_s=600, period_s=1.5, seed=1)
    return sumocfg(folder / "grid.sumocfg", net, routes, 0, 600)


def run_summary(scenario: str, controller: str, duration_s: float, out: Path) -> dict:
    """summary.json of ``ampel run`` (seed 1), without the volatile keys."""
    from experiments.cli import main

    rc = main(["run", "--scenario", scenario, "--controller", controller, "--seed", "1",
               "--duration", f"{duration_s:g}", "--out", str(out), "--quiet"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return {k: v for k, v in summary.items() if k not in VOLATILE}


@pytest.fixture(scope="module")
def grid_cfg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_grid(tmp_path_factory.mktemp("grid"))


@pytest.mark.parametrize("key", sorted(_recorded()))
def test_summary_equals_recording(key: str, grid_cfg: Path, tmp_path: Path) -> None:
    scenario, controller, duration = key.split("/")
    name = str(grid_cfg) if scenario == "grid" else scenario
    summary = run_summary(name, controller, float(duration), tmp_path)
    expected = _recorded()[key]
    got = {k: summary.get(k) for k in expected}
    got["scenario"] = "grid" if scenario == "grid" else got["scenario"]
    assert got == expected


def _reference_loops(detectors: tuple, path: Path) -> Path:
    """A second loop at every detector position, with the pre-batching whole-run period
    (its interval count is the running count since the start)."""
    lines = ["<additional>"]
    for d in detectors:
        for det_id, pos in ((d.stopline, d.stopline_pos_m), (d.upstream, d.upstream_pos_m)):
            lines.append(f'<inductionLoop id="{det_id}_ref" lane="{d.lane}" pos="{pos:.2f}" '
                         'period="864000" file="NUL"/>')
    path.write_text("\n".join([*lines, "</additional>", ""]), encoding="utf-8")
    return path


def _reference_reading(sim, det, seen: dict[str, int]) -> tuple:
    """The pre-batching read: one libsumo call per value (on the reference loops)."""
    loops = sim.inductionloop
    stop_total = loops.getIntervalVehicleNumber(det.stopline + "_ref")
    up_total = loops.getIntervalVehicleNumber(det.upstream + "_ref")
    stop = stop_total - seen.get(det.stopline, 0)
    up = up_total - seen.get(det.upstream, 0)
    seen[det.stopline], seen[det.upstream] = stop_total, up_total
    return (stop, up, loops.getLastStepOccupancy(det.stopline + "_ref") / 100.0,
            loops.getLastStepVehicleNumber(det.stopline + "_ref") > 0,
            float(loops.getTimeSinceDetection(det.stopline + "_ref")),
            loops.getLastStepOccupancy(det.upstream + "_ref") / 100.0)


@pytest.mark.parametrize(("every_s", "first_s", "subscribe"),
                         [(1, 0, False), (3, 30, False), (7, 59, False), (2, 0, True)])
def test_batched_readings_equal_per_value_calls(grid_cfg: Path, tmp_path: Path,
                                                every_s: int, first_s: int,
                                                subscribe: bool) -> None:
    """Readings every ``every_s`` from ``first_s`` on (59: tracking starts in the last
    step of a loop interval) over several 60 s loop intervals."""
    from scenarios.scenario import load_scenario

    scenario = load_scenario(str(grid_cfg))
    detectors = tuple(d for j in scenario.junctions for d in j.detectors)
    session = scenario.session(seed=1, duration_s=400, out_dir=tmp_path)
    session.subscribe_loops = subscribe
    ref = _reference_loops(detectors, tmp_path / "ref.add.xml")
    session.files = replace(session.files, additional=(*session.files.additional, ref))
    seen: dict[str, int] = {}
    compared = counted = 0
    with session:
        while not session.finished():
            session.step()
            t = int(session.time_s)
            if t < first_s or (t - first_s) % every_s:
                continue
            if not seen:  # the first read starts the counts; compare from the next one
                session.read_lanes(detectors)
                for det in detectors:
                    _reference_reading(session._sim, det, seen)
                continue
            # two junction-sized reads in one step, as the runner does
            half = len(detectors) // 2
            readings = (session.read_lanes(detectors[:half])
                        + session.read_lanes(detectors[half:]))
            for det, r in zip(detectors, readings, strict=True):
                ref = _reference_reading(session._sim, det, seen)
                got = (r.stopline_count, r.upstream_count, r.occupancy, r.presence, r.gap_s,
                       r.upstream_occupancy)
                assert got == ref, (session.time_s, det.lane)
                assert r.queue >= 0
                compared += 1
                counted += r.stopline_count
    assert compared > 1000 and counted > 50


if __name__ == "__main__":  # re-record (only when a change is meant to alter the metrics)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cfg = make_grid(Path(tmp) / "grid")
        data = json.loads(FIXTURE.read_text(encoding="utf-8"))
        for key in data["runs"]:
            scenario, controller, duration = key.split("/")
            summary = run_summary(str(cfg) if scenario == "grid" else scenario, controller,
                                  float(duration), Path(tmp) / key.replace("/", "-"))
            if scenario == "grid":
                summary["scenario"] = "grid"
            data["runs"][key] = summary
        FIXTURE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
