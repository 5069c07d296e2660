"""The HTML report from a real sweep: rendered in headless Chromium, numbers traced back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from experiments.report import fmt, fmt_ci, fmt_p
from experiments.stats import mean_ci

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


class Tables(HTMLParser):
    """Text of every cell of every table with an id, and the <img> sources."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self._id: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._id = a.get("id")
            self.tables[self._id] = []
        elif tag == "tr" and self._id:
            self.tables[self._id].append([])
        elif tag in ("td", "th") and self._id:
            self._cell = []
        elif tag == "img":
            self.images.append(a.get("src", ""))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._id][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._id = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    (tmp / "c.yaml").write_text(
        "name: report-test\nscenarios: [westentor]\nseeds: [1, 2, 3]\nduration_s: 300\n"
        "queue_sample_s: 30\nbaseline: fixed-time\ncontrollers:\n  - fixed-time\n"
        "  - {name: fixed-time, label: alt, params: {greens: {S1_north_south: 30, "
        "S2_north_south_left: 10, S3_west_east: 20, S4_west_east_left: 8}}}\n")
    out = subprocess.run([sys.executable, "-m", "experiments.cli", "experiment", "c.yaml",
                          "--workers", "2", "--out", "res", "--quiet"], cwd=tmp,
                         capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    return tmp / "res"


@pytest.fixture(scope="module")
def report(results: Path) -> tuple[Path, str]:
    html_path = results.parent / "out" / "report.html"
    out = subprocess.run([sys.executable, "-m", "experiments.cli", "report", str(results),
                          "-o", str(html_path)], capture_output=True, text=True, timeout=300,
                         env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    return html_path, out.stdout


def runs(results: Path) -> dict[str, list[dict]]:
    by: dict[str, list[dict]] = {}
    for p in sorted((results / "runs").glob("*.json")):
        rec = json.loads(p.read_text())
        by.setdefault(rec["controller"], []).append(rec)
    for recs in by.values():
        recs.sort(key=lambda r: r["seed"])
    return by


def test_markdown_summary_printed(report, results) -> None:
    _, stdout = report
    assert "| controller | seeds | total delay [s] | delay [s] | not departed" in stdout
    alt = runs(results)["alt"]
    total = fmt_ci(*mean_ci([r["metrics"]["mean_total_delay_s"] for r in alt]), 1)
    delay = fmt_ci(*mean_ci([r["metrics"]["mean_delay_s"] for r in alt]), 1)
    assert f"| alt | 3 | {total} | {delay} |" in stdout
    # ranked by total delay: the lower total comes first
    totals = {label: np.mean([r["metrics"]["mean_total_delay_s"] for r in recs])
              for label, recs in runs(results).items()}
    rows = [line.split(" | ")[0].lstrip("| ") for line in stdout.splitlines()
            if line.startswith("| ") and " | 3 | " in line]
    assert rows == sorted(totals, key=totals.get)


def test_report_is_self_contained_and_numbers_come_from_results(report, results) -> None:
    path, _ = report
    page = path.read_text()
    parsed = Tables()
    parsed.feed(page)
    assert "http://" not in page and "https://" not in page  # nothing fetched from outside
    assert len(parsed.images) >= 2 and all(s.startswith("data:image/png;base64,")
                                           for s in parsed.images)
    by = runs(results)
    compare = parsed.tables["compare-westentor-x1"]
    header, rows = compare[0], {r[0]: r for r in compare[1:]}
    assert set(rows) == {"fixed-time", "alt"}
    for label, recs in by.items():
        row = dict(zip(header, rows[label], strict=True))
        for key, column, dec in [("mean_delay_s", "Delay [s]", 1),
                                 ("vehicles_arrived", "Throughput [veh]", 0),
                                 ("co2_kg", "CO2 [kg]", 1), ("mean_stops", "Stops [per veh]", 2)]:
            values = [r["metrics"][key] for r in recs]
            assert row[column] == fmt_ci(*mean_ci(values), dec), (label, key)
            lo, hi = sps.t.interval(0.95, len(values) - 1, loc=np.mean(values),
                                    scale=sps.sem(values))
            assert row[column].endswith(fmt((hi - lo) / 2, dec))
    paired = parsed.tables["paired-westentor-x1"]
    delay_row = next(r for r in paired[1:] if r[0] == "alt" and r[1] == "Delay [s]")
    base = [r["metrics"]["mean_delay_s"] for r in by["fixed-time"]]
    alt = [r["metrics"]["mean_delay_s"] for r in by["alt"]]
    assert delay_row[2] == "3"
    assert delay_row[7] == fmt_p(sps.ttest_rel(alt, base).pvalue)
    assert delay_row[6] == f"{(np.mean(alt) - np.mean(base)) / np.mean(base):+.1%}"
    los = parsed.tables["los-westentor-x1-westentor"]
    approaches = {r[0]: r for r in los[1:]}
    assert {"north_in", "south_in", "east_in", "west_in"} <= set(approaches)
    # approach delay pooled over seeds, recomputed from the run files
    n = sum(r["approaches"]["westentor"]["north_in"]["vehicles"] for r in by["alt"])
    d = sum(r["approaches"]["westentor"]["north_in"]["delay_sum_s"] for r in by["alt"])
    cell = approaches["north_in"][los[0].index("alt")]
    assert cell.startswith(f"{fmt(d / n, 1)} s") and cell[-1] in "ABCDEF"
    modes = parsed.tables["modes-westentor-x1"]
    mrow = dict(zip(modes[0], next(r for r in modes[1:] if r[0] == "fixed-time"), strict=True))
    peds = [r["metrics"]["pedestrian_max_waiting_s"] for r in by["fixed-time"]]
    assert mrow["Pedestrian max wait [s]"] == fmt_ci(*mean_ci(peds), 0)
    assert mrow["Bus delay [s]"] == "no buses"
    assert "los-thresholds" in parsed.tables
    revision = json.loads((results / "experiment.json").read_text())["code_revision"]
    assert revision in page and "name: report-test" in page


def test_report_opens_in_headless_chromium(report, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium not installed (Debian: apt-get install chromium; .ci/run does)")
    path, _ = report
    flags = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "report.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1280,2000",
                    path.resolve().as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    dom = subprocess.run([*flags, "--dump-dom", path.resolve().as_uri()], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    parsed = Tables()
    parsed.feed(dom)
    for table in ("compare-westentor-x1", "paired-westentor-x1", "los-westentor-x1-westentor",
                  "modes-westentor-x1", "los-thresholds"):
        assert table in parsed.tables, table
    assert len(parsed.tables["compare-westentor-x1"]) == 3  # header + 2 controllers


def test_report_errors_are_one_line(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "experiments.cli", "report", str(tmp_path)],
                         capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert out.returncode == 2
    assert "is not a results folder" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_demo_runs_the_available_controllers_and_writes_the_report(tmp_path: Path) -> None:
    import yaml

    from controllers.registry import controller_names
    from experiments.demo import DEMO_CONFIG

    out = subprocess.run([sys.executable, "-m", "experiments.cli", "demo", "--seeds", "2",
                          "--duration", "120", "--workers", "2", "--out", "demo", "--quiet"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    assert "report: demo/report.html" in out.stdout and (tmp_path / "demo/report.html").exists()
    listed = [c if isinstance(c, str) else c["name"]
              for c in yaml.safe_load(DEMO_CONFIG.read_text())["controllers"]]
    config = json.loads((tmp_path / "demo/experiment.json").read_text())["config"]
    ran = {c["name"] for c in config["controllers"]}
    assert "fixed-time" in ran and ran <= set(listed) & set(controller_names())
    assert len(config["seeds"]) == 2 and config["duration_s"] == 120


def test_references_are_marked_and_controllers_ranked_by_total_delay() -> None:
    from experiments.report import Group
    from experiments.results import RunRecord

    def rec(name: str, seed: int, total: float, delay: float) -> RunRecord:
        return RunRecord(run_id=f"{name}-{seed}", scenario="x", controller=name,
                         controller_name=name, params={}, seed=seed, demand_scale=1.0,
                         duration_s=60.0, queue_sample_s=30.0,
                         metrics={"mean_total_delay_s": total, "mean_delay_s": delay})

    g = Group("x", 1.0, ["fixed-time", "blocker", "sumo"], ok={
        "fixed-time": [rec("fixed-time", 1, 50.0, 45.0), rec("fixed-time", 2, 52.0, 46.0)],
        # lowest timeLoss, but vehicles kept outside: the highest total delay
        "blocker": [rec("actuated", 1, 90.0, 30.0), rec("actuated", 2, 95.0, 31.0)],
        "sumo": [rec("sumo-actuated", 1, 40.0, 38.0), rec("sumo-actuated", 2, 41.0, 39.0)],
    })
    assert g.ranked() == ["sumo", "fixed-time", "blocker"]
    assert g.is_reference("sumo") and not g.is_reference("blocker")
    assert g.shown("sumo") == "sumo (reference: SUMO's program)"
