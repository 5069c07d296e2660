"""OSM import and count calibration on inputs the tests write themselves."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from experiments.cli import main
from scenarios.calibrate import geh, read_counts
from scenarios.registry import registered
from scenarios.scenario import load_scenario

LAT0, LON0 = 51.6802, 7.8137  # Westentor, Hamm


def write_osm(path: Path, signals: tuple[int, ...] = (1, 6)) -> Path:
    """Three roads crossing at two nodes (200 m apart); ``signals`` carry traffic_signals."""
    dlat = 1 / 111320
    dlon = 1 / (111320 * math.cos(math.radians(LAT0)))
    nodes = {1: (0, 0), 2: (0, 200), 3: (200, 0), 4: (0, -200), 5: (-200, 0), 6: (400, 0),
             7: (400, 200), 8: (400, -200), 9: (600, 0)}
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for i, (x, y) in nodes.items():
        tag = '<tag k="highway" v="traffic_signals"/>' if i in signals else ""
        lines.append(f'<node id="{i}" lat="{LAT0 + y * dlat:.7f}" lon="{LON0 + x * dlon:.7f}" '
                     f'version="1">{tag}</node>')
    ways = {10: ([2, 1, 4], "Wilhelmstraße", 50), 11: ([5, 1, 3, 6, 9], "Westring", 50),
            12: ([7, 6, 8], "Südring", 30)}
    for wid, (refs, name, speed) in ways.items():
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        lines.append(f'<way id="{wid}" version="1">{nds}<tag k="highway" v="primary"/>'
                     f'<tag k="name" v="{name}"/><tag k="maxspeed" v="{speed}"/>'
                     '<tag k="lanes" v="2"/></way>')
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "user-scenarios"
    monkeypatch.setenv("AMPEL_SCENARIOS", str(folder))
    return folder


def test_geh_statistic() -> None:
    assert geh(100, 100) == 0.0
    assert geh(0, 0) == 0.0
    assert geh(150, 100) == pytest.approx(math.sqrt(20.0))
    assert geh(100, 150) == geh(150, 100)
    assert geh(1000, 1160) > 4.8  # a 16 % miss on 1000 veh/h is about the GEH 5 limit


@pytest.mark.parametrize(("text", "message"), [
    ("edge,count\nnorth_in,abc\n", "line 2: count 'abc' is not a number"),
    ("edge,count\nnorth_in,10\nnowhere,5\n", "line 3: edge 'nowhere' is not in the network"),
    ("edge,flow\nnorth_in,10\n", "line 1: header needs the columns edge,count"),
    ("edge,count\nnorth_in,-4\n", "line 2: count '-4' must be a non-negative number"),
    ("point,edge,count\nA,north_in,1\nA,south_in,2\n", "line 3: counting point 'A' appears"),
    ("edge,count\nnorth_in\n", "line 2: expected 2 fields"),
    ("edge,count\n", "no counting points"),
    ("edge,count\n:westentor_0,10\n", "line 2: edge ':westentor_0' is an internal"),
    ("edge,count\nnorth_in,nan\n", "line 2: count 'nan' must be a non-negative number"),
])
def test_malformed_counts_name_the_line(tmp_path: Path, westentor, text: str,
                                        message: str) -> None:
    path = tmp_path / "counts.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_counts(path, westentor.net)


@pytest.mark.slow
def test_import_osm_builds_a_listed_scenario_that_runs(tmp_path: Path, user_dir: Path,
                                                       capsys) -> None:
    osm = write_osm(tmp_path / "hamm.osm")
    assert main(["scenarios", "import-osm", str(osm), "--name", "hamm-west"]) == 0
    assert "2 traffic light(s)" in capsys.readouterr().out
    folder = user_dir / "hamm-west"
    card = (folder / "CARD.md").read_text(encoding="utf-8")
    for section in ("## Known", "## Derived", "## Assumed", "## How to replace"):
        assert section in card
    assert "Wilhelmstraße" in (folder / "hamm-west.net.xml").read_text(encoding="utf-8")
    assert "hamm-west" in [e.name for e in registered()]
    assert main(["scenarios"]) == 0
    assert "hamm-west" in capsys.readouterr().out
    scenario = load_scenario("hamm-west")
    assert len(scenario.junctions) == 2
    for j in scenario.junctions:
        assert len(j.layout.model.stages) >= 2
    out = tmp_path / "run"
    assert main(["run", "--scenario", "hamm-west", "--duration", "900", "--out", str(out),
                 "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["safety_violations"] == 0 and summary["vehicles_departed"] > 50
    # the name is taken now, and bad inputs are one-line errors with exit code 2
    assert main(["scenarios", "import-osm", str(osm), "--name", "hamm-west"]) == 2
    assert "exists already" in capsys.readouterr().err


@pytest.mark.slow
def test_import_osm_bad_inputs(tmp_path: Path, user_dir: Path, capsys) -> None:
    plain = write_osm(tmp_path / "plain.osm", signals=())
    assert main(["scenarios", "import-osm", str(plain), "--name", "plain"]) == 2
    err = capsys.readouterr().err.strip()
    assert "has no traffic lights" in err and len(err.splitlines()) == 1
    assert not (user_dir / "plain").exists()
    assert [p for p in user_dir.iterdir()] == []  # the half-built folder is removed
    assert main(["scenarios", "import-osm", str(tmp_path / "none.osm"), "--name", "x"]) == 2
    assert "OSM file not found" in capsys.readouterr().err
    assert main(["scenarios", "import-osm", str(plain), "--name", "Bad Name"]) == 2
    assert main(["scenarios", "import-osm", str(plain), "--name", "westentor"]) == 2


@pytest.mark.slow
def test_calibrate_westentor_to_counts(tmp_path: Path, user_dir: Path, westentor,
                                       capsys) -> None:
    # counts consistent with the Westentor morning peak (in = out), 8 counting points
    counts = tmp_path / "counts.csv"
    counts.write_text("point,edge,count\n"
                      "Westring N in,north_in,570\nSüdring S in,south_in,510\n"
                      "Wilhelmstr W in,west_in,360\nInnenstadt E in,east_in,260\n"
                      "Westring N out,north_out,460\nSüdring S out,south_out,480\n"
                      "Wilhelmstr W out,west_out,350\nInnenstadt E out,east_out,410\n",
                      encoding="utf-8")
    assert main(["calibrate", "--scenario", "westentor", "--counts", str(counts)]) == 0
    out = capsys.readouterr().out
    assert "GEH" in out and "Westring N in" in out
    folder = user_dir / "westentor-calibrated"
    report = json.loads((folder / "calibration.json").read_text())
    gehs = [p["geh"] for p in report["points"]]
    assert len(gehs) == 8
    assert sum(g < 5 for g in gehs) / len(gehs) >= 0.85
    # the calibrated routes reproduce the counted flows
    for p in report["points"]:
        assert abs(p["modelled_per_h"] - p["counted_per_h"]) <= 0.15 * p["counted_per_h"]
    assert "westentor-calibrated" in [e.name for e in registered()]
    # and the calibrated scenario runs (derived signal layout, calibrated routes)
    run = tmp_path / "run"
    assert main(["run", "--scenario", "westentor-calibrated", "--duration", "600",
                 "--out", str(run), "--quiet"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["safety_violations"] == 0
    assert summary["vehicles_departed"] > 0.8 * (570 + 510 + 360 + 260) / 6
    # malformed counts: one line naming the line, exit 2
    bad = tmp_path / "bad.csv"
    bad.write_text("edge,count\nnorth_in,12\nsouth_in,x\n", encoding="utf-8")
    assert main(["calibrate", "--scenario", "westentor", "--counts", str(bad)]) == 2
    assert "line 3" in capsys.readouterr().err
