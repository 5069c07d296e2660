"""The HTML report of an experiment (self-contained, opens offline) and its Markdown summary.

Every number shown is computed here from the per-run JSON files of a results folder:
means with 95 % t-intervals over seeds, paired-by-seed differences against a baseline with
a paired t-test (and Wilcoxon signed-rank), HBS levels of service per junction and
approach, delay distributions, queue-length series, other modes, failed runs and the exact
configuration and code revision.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from experiments import plots
from experiments.los import LosTable, los_table
from experiments.results import RunRecord
from experiments.stats import Paired, mean_ci, paired
from experiments.store import ResultsDir
from scenarios.files import write_text_atomic
from signals.errors import ConfigError

#: (metric key, label, unit, decimals, higher is better)
COMPARED = (
    ("mean_total_delay_s", "Total delay", "s", 1, False),
    ("mean_delay_s", "Delay", "s", 1, False),
    ("mean_depart_delay_s", "Insertion delay", "s", 1, False),
    ("vehicles_not_departed", "Not departed", "veh", 0, False),
    ("mean_travel_time_s", "Travel time", "s", 1, False),
    ("mean_waiting_s", "Waiting", "s", 1, False),
    ("mean_stops", "Stops", "per veh", 2, False),
    ("vehicles_arrived", "Throughput", "veh", 0, True),
    ("co2_kg", "CO2", "kg", 1, False),
    ("nox_g", "NOx", "g", 1, False),
    ("pmx_g", "PMx", "g", 2, False),
)
SAFETY = (("teleports", "Teleports", "", 1, False),
          ("safety_violations", "Safety violations", "", 1, False))
MODES = (
    ("bus_mean_delay_s", "Bus delay", "s", 1),
    ("bicycle_mean_delay_s", "Bicycle delay", "s", 1),
    ("bicycle_max_waiting_s", "Bicycle max wait", "s", 0),
    ("pedestrian_mean_delay_s", "Pedestrian delay", "s", 1),
    ("pedestrian_max_waiting_s", "Pedestrian max wait", "s", 0),
)
#: the metrics tested pair by seed; the first ranks the controllers
TESTED = tuple(c for c in COMPARED if c[0] in (
    "mean_total_delay_s", "mean_delay_s", "mean_travel_time_s", "mean_waiting_s",
    "mean_stops", "vehicles_arrived"))
RANK_KEY = "mean_total_delay_s"
#: controllers that are SUMO's own (run by SUMO, watched by ampel): shown as references
REFERENCE_PREFIX = "sumo-"


def fmt(value: float, decimals: int) -> str:
    """A number as shown in the report ('–' when undefined)."""
    return "–" if value is None or math.isnan(value) else f"{value:.{decimals}f}"


def fmt_ci(mean: float, half: float, decimals: int) -> str:
    """'mean ± half-width' as shown in the report."""
    if math.isnan(half):
        return fmt(mean, decimals)
    return f"{fmt(mean, decimals)} ± {fmt(half, decimals)}"


def fmt_p(p: float) -> str:
    """A p-value as shown in the report."""
    if math.isnan(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


class LosCell(NamedTuple):
    """The level of service of one approach (or junction) under one controller."""

    mean_delay_s: float
    unfinished_share: float
    level: str


@dataclass(frozen=True)
class JunctionLos:
    """Levels of service of one junction: ``approaches[approach][controller]`` and the
    junction's own level per controller, that of its worst approach (``worst``)."""

    approaches: dict[str, dict[str, LosCell]]
    worst: dict[str, LosCell]


@dataclass
class Group:
    """The runs of one scenario at one demand scale."""

    scenario: str
    demand_scale: float
    labels: list[str]
    ok: dict[str, list[RunRecord]] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """Heading of the group's section."""
        return f"{self.scenario} — demand × {self.demand_scale:g}"

    def values(self, label: str, key: str) -> list[float]:
        """Per-seed values of one metric for one controller."""
        return [r.value(key) for r in self.ok.get(label, [])]

    def is_reference(self, label: str) -> bool:
        """Whether the controller is one of SUMO's own (a reference baseline)."""
        return any(r.controller_name.startswith(REFERENCE_PREFIX)
                   for r in self.ok.get(label, []))

    def shown(self, label: str) -> str:
        """The controller's label as shown, marked when it is a reference."""
        return f"{label} (reference: SUMO's program)" if self.is_reference(label) else label

    def ranked(self) -> list[str]:
        """Controllers with runs, best (lowest mean total delay) first."""
        def key(label: str) -> float:
            v = float(np.mean(self.values(label, RANK_KEY)))
            return math.inf if math.isnan(v) else v
        return sorted((lab for lab in self.labels if self.ok.get(lab)), key=key)

    def by_seed(self, label: str, key: str) -> dict[int, float]:
        """Per-seed values keyed by seed."""
        return {int(r.seed): r.value(key) for r in self.ok.get(label, [])}


@dataclass
class Analysis:
    """Everything the report shows, computed from one results folder."""

    root: Path
    experiment: dict[str, Any]
    baseline: str
    los: LosTable
    groups: list[Group]
    failed: list[RunRecord]
    missing: int
    revisions: list[str]

    def comparisons(self, group: Group) -> list[tuple[str, str, Paired]]:
        """(controller, metric key, paired result) against the baseline."""
        out = []
        for label in group.labels:
            if label == self.baseline or not group.ok.get(label):
                continue
            for key, *_ in TESTED:
                out.append((label, key, paired(group.by_seed(self.baseline, key),
                                               group.by_seed(label, key))))
        return out

    def approach_los(self, group: Group) -> dict[str, JunctionLos]:
        """Level of service per junction: per approach and controller, and the junction's
        worst approach per controller. Pooled over the seeds: total delay / vehicles."""
        acc: dict[str, dict[str, dict[str, list[float]]]] = {}
        for label in group.labels:
            for rec in group.ok.get(label, []):
                for junction, approaches in rec.approaches.items():
                    for approach, cell in approaches.items():
                        a = acc.setdefault(junction, {}).setdefault(approach, {}).setdefault(
                            label, [0.0, 0.0, 0.0])
                        a[0] += cell["vehicles"]
                        a[1] += cell["delay_sum_s"]
                        a[2] += cell["unfinished"]
        out: dict[str, JunctionLos] = {}
        for junction in sorted(acc):
            rows: dict[str, dict[str, LosCell]] = {}
            totals: dict[str, list[float]] = {}
            for approach in sorted(acc[junction]):
                for label, (n, delay, unfinished) in acc[junction][approach].items():
                    if n:
                        mean, share = delay / n, unfinished / n
                        rows.setdefault(approach, {})[label] = LosCell(
                            mean, share, self.los.rate(mean, share))
                    t = totals.setdefault(label, [0.0, 0.0, 0.0])
                    t[0], t[1], t[2] = t[0] + n, t[1] + delay, t[2] + unfinished
            worst: dict[str, LosCell] = {}
            for label, (n, delay, unfinished) in totals.items():
                levels = [rows[a][label].level for a in rows if label in rows[a]]
                if n and levels:
                    worst[label] = LosCell(delay / n, unfinished / n, max(levels))
            out[junction] = JunctionLos(rows, worst)
        return out


def group_records(records: Sequence[RunRecord], scenarios: Sequence[str],
                  demand_scales: Sequence[float], labels: Sequence[str]
                  ) -> tuple[list[Group], list[RunRecord]]:
    """The finished runs per scenario and demand scale (in that order), each controller's
    sorted by seed; and the failed runs."""
    groups = {(s, float(d)): Group(s, float(d), list(labels))
              for s in scenarios for d in demand_scales}
    failed = []
    for rec in records:
        if not rec.ok:
            failed.append(rec)
            continue
        g = groups[(rec.scenario, float(rec.demand_scale))]
        g.ok.setdefault(rec.controller, []).append(rec)
    for g in groups.values():
        for recs in g.ok.values():
            recs.sort(key=lambda r: r.seed)
    return list(groups.values()), failed


def analyse(root: Path, baseline: str | None = None) -> Analysis:
    """Read a results folder and organise its runs for the report."""
    results = ResultsDir(root)
    experiment = results.read_experiment()
    config = experiment["config"]
    labels = [c["label"] for c in config["controllers"]]
    baseline = baseline or config.get("baseline") or labels[0]
    if baseline not in labels:
        raise ConfigError(f"baseline {baseline!r} is not a controller of this experiment "
                          f"(labels: {', '.join(labels)})")
    records = results.planned_records()
    if not records:
        raise ConfigError(f"{root} holds no finished runs yet")
    groups, failed = group_records(records, config["scenarios"], config["demand_scales"],
                                   labels)
    revisions = sorted({r.code_revision for r in records if r.ok})
    return Analysis(root=root, experiment=experiment, baseline=baseline,
                    los=los_table({k: v for k, v in config.get("los", {}).items()}),
                    groups=[g for g in groups if g.ok], failed=failed,
                    missing=len(experiment["runs"]) - len(records), revisions=revisions)


# --------------------------------------------------------------------------- HTML

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1200px;
color:#1d1d1f;padding:0 16px}
h1{font-size:1.6em}h2{border-bottom:2px solid #c00;padding-bottom:4px;margin-top:2em}
h3{margin-top:1.5em}
table{border-collapse:collapse;margin:8px 0 16px;font-size:0.9em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
td.txt{text-align:left}
tr.baseline td{background:#fafae6}
.better{color:#060;font-weight:600}.worse{color:#a00;font-weight:600}
.los{display:inline-block;min-width:1.4em;text-align:center;border-radius:3px;
font-weight:700;color:#fff}
.los-A{background:#1a9850}.los-B{background:#66bd63}.los-C{background:#a6a600}
.los-D{background:#f46d43}.los-E{background:#d73027}.los-F{background:#67001f}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:0.85em}
.note{color:#555;font-size:0.9em}img{max-width:100%}
"""


def _e(text: Any) -> str:
    return html.escape(str(text))


def _table(table_id: str, header: Sequence[str], rows: Sequence[Sequence[str]],
           row_classes: Sequence[str] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    return (f'<table id="{_e(table_id)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def _slug(group: Group) -> str:
    keep = "".join(ch if ch.isalnum() else "-" for ch in Path(group.scenario).stem)
    return f"{keep}-x{group.demand_scale:g}".replace(".", "_")


def _comparison_html(a: Analysis, g: Group) -> str:
    header = ["Controller", "Seeds"] + [f"{lab} [{unit}]" if unit else lab
                                        for _, lab, unit, _, _ in COMPARED + SAFETY]
    rows, classes = [], []
    for label in g.ranked():
        row = [_e(g.shown(label)), str(len(g.ok[label]))]
        for key, _, _, dec, _ in COMPARED:
            row.append(fmt_ci(*mean_ci(g.values(label, key)), dec))
        for key, *_ in SAFETY:
            row.append(str(int(sum(g.values(label, key)))))
        rows.append(row)
        classes.append("baseline" if label == a.baseline else "")
    return _table(f"compare-{_slug(g)}", header, rows, classes)


def _paired_html(a: Analysis, g: Group) -> str:
    units = {k: (lab, unit, dec, hib) for k, lab, unit, dec, hib in COMPARED}
    rows = []
    for label, key, p in a.comparisons(g):
        lab, unit, dec, higher_better = units[key]
        good = (p.diff > 0) == higher_better and p.diff != 0
        cls = ("better" if good else "worse") if p.significant() else ""
        delta = fmt_ci(p.diff, p.diff_ci, dec + 1)
        rel = "–" if math.isnan(p.rel_change) else f"{p.rel_change:+.1%}"
        verdict = ("better" if good else "worse") if p.significant() else "no significant change"
        rows.append([_e(g.shown(label)), _e(f"{lab} [{unit}]"), str(p.n), fmt(p.baseline_mean, dec),
                     fmt(p.mean, dec), f'<span class="{cls}">{delta}</span>', rel,
                     fmt_p(p.p_t), fmt_p(p.p_wilcoxon), f'<span class="{cls}">{verdict}</span>'])
    if not rows:
        return '<p class="note">No other controller to compare against the baseline.</p>'
    return _table(f"paired-{_slug(g)}", ["Controller", "Metric", "Paired seeds",
                                         f"{a.baseline} (baseline)", "Controller",
                                         "Difference ± 95 % CI", "Change", "p (paired t)",
                                         "p (Wilcoxon)", "Verdict (α = 0.05, t-test)"], rows)


def _los_html(a: Analysis, g: Group) -> str:
    parts = []
    labels = [lab for lab in g.labels if g.ok.get(lab)]
    for junction, los in a.approach_los(g).items():
        table_rows = []
        rows = {**los.approaches, "(junction: worst approach)": los.worst}
        for approach, cells in rows.items():
            row = [_e(approach)]
            for label in labels:
                if label in cells:
                    mean, share, level = cells[label]
                    row.append(f"{fmt(mean, 1)} s · {share:.0%} unfinished · "
                               f'<span class="los los-{level}">{level}</span>')
                else:
                    row.append("–")
            table_rows.append(row)
        parts.append(f"<h4>Junction {_e(junction)}</h4>" + _table(
            f"los-{_slug(g)}-{junction}", ["Approach"] + labels, table_rows))
    if not parts:
        return '<p class="note">No per-approach data in these runs.</p>'
    return "".join(parts)


def _modes_html(g: Group) -> str:
    header = ["Controller", "Buses"] + [f"{lab} [{unit}]" for _, lab, unit, _ in MODES]
    rows = []
    for label in g.labels:
        if not g.ok.get(label):
            continue
        buses = sum(g.values(label, "buses_departed")) if all(
            not math.isnan(v) for v in g.values(label, "buses_departed")) else math.nan
        row = [_e(label), fmt(buses, 0)]
        for key, _, _, dec in MODES:
            if key.startswith("bus_") and buses == 0:
                row.append("no buses")
            else:
                row.append(fmt_ci(*mean_ci(g.values(label, key)), dec))
        rows.append(row)
    return _table(f"modes-{_slug(g)}", header, rows)


def _figures_html(g: Group) -> str:
    delays = {lab: [d for r in g.ok.get(lab, []) for d in r.delays_s]
              for lab in g.labels if g.ok.get(lab)}
    out = [f'<img alt="delay distribution {_e(g.title)}" '
           f'src="{plots.delay_distribution(delays)}">']
    junctions = sorted({j for recs in g.ok.values() for r in recs
                        for j in (r.queues["counts"] if r.queues else {})})
    for junction in junctions:
        series = {}
        for label in g.labels:
            runs = [r.queues for r in g.ok.get(label, []) if r.queues]
            totals = [np.sum([c for c in q["counts"].get(junction, {}).values()], axis=0)
                      for q in runs if q["counts"].get(junction)]
            if not totals:
                continue
            n = min(len(t) for t in totals)
            series[label] = (runs[0]["times_s"][:n],
                             np.mean([t[:n] for t in totals], axis=0))
        if series:
            out.append(f'<img alt="queue lengths {_e(junction)}" src="'
                       f'{plots.queue_series(series, f"Junction {junction}")}">')
    return "".join(out)


def render_html(a: Analysis) -> str:
    """The whole report page."""
    exp = a.experiment
    cfg = exp["config"]
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    body = [f"<h1>ampel experiment report: {_e(exp['name'])}</h1>",
            f'<p class="note">Generated {now} from {_e(a.root)}. '
            f"Code revision(s) of the runs: {_e(', '.join(a.revisions) or 'unknown')}; "
            f"sweep started at revision {_e(exp.get('code_revision', 'unknown'))} on the "
            f"{_e(exp.get('backend', '?'))} backend. Baseline: <b>{_e(a.baseline)}</b>. "
            f"{len(exp['runs'])} runs planned, {len(exp['runs']) - a.missing} stored, "
            f"{len(a.failed)} failed.</p>",
            "<p class=\"note\">Means over seeds with 95 % t-intervals (± half-width). "
            "Controllers are ranked by total delay: time lost in the network (timeLoss) plus "
            "time spent waiting to enter it (departDelay), over every motor vehicle that "
            "wanted to travel, including those still outside at the end (not departed). "
            "Delay (timeLoss, comparable with published benchmarks), travel time, waiting "
            "and stops are means over the motor vehicles that departed, unfinished trips "
            "included; throughput counts arrived motor vehicles; emissions are totals per "
            "run. Controllers marked reference are SUMO's own, run by SUMO and only watched "
            "by ampel's safety guard: their safety violations are SUMO's program, not "
            "ampel. Improvements are paired by seed (same demand) and tested with a "
            "two-sided paired t-test; Wilcoxon signed-rank p-values are shown for reference "
            "(it cannot reach p &lt; 0.05 with fewer than 6 seeds).</p>"]
    for g in a.groups:
        body += [f"<h2>{_e(g.title)}</h2>",
                 "<h3>Comparison (mean ± 95 % CI over seeds)</h3>", _comparison_html(a, g),
                 f"<h3>Paired by seed against {_e(a.baseline)}</h3>", _paired_html(a, g),
                 "<h3>Level of service (HBS) per junction and approach</h3>",
                 '<p class="note">Mean motor-vehicle delay per approach pooled over seeds '
                 "(trips counted on the approach they entered by), share of trips unfinished "
                 "at the end, and the level from the thresholds below. A junction takes the "
                 "level of its worst approach.</p>", _los_html(a, g),
                 "<h3>Buses, cyclists and pedestrians</h3>", _modes_html(g),
                 "<h3>Delay distribution and queue lengths</h3>",
                 f'<p class="note">Per-vehicle delays pooled over seeds; queues sampled every '
                 f"{cfg.get('queue_sample_s', '?')} s of simulated time, summed over the "
                 "approaches, mean over seeds.</p>", _figures_html(g)]
    if a.failed:
        body += ["<h2>Failed runs</h2>", _table("failed", ["Run", "Scenario", "Controller",
                                                           "Seed", "Error"],
                 [[_e(r.run_id), _e(r.scenario), _e(r.controller), _e(r.seed),
                   f'<span class="txt">{_e(r.error)}</span>'] for r in a.failed])]
    body += ["<h2>Level-of-service thresholds</h2>",
             _table("los-thresholds", ["Level", "Rule"],
                    [[f'<span class="los los-{lv}">{lv}</span>', _e(rule)]
                     for lv, rule in a.los.rows()]),
             "<h2>Configuration</h2>",
             f"<pre>{_e(exp.get('config_text') or '')}</pre>",
             "<h3>Resolved</h3>",
             f"<pre>{_e(_yaml(cfg))}</pre>"]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>ampel report: {_e(exp['name'])}</title><style>{CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# ----------------------------------------------------------------------- Markdown

def markdown_summary(a: Analysis) -> str:
    """A short Markdown summary for the terminal."""
    lines = [f"# {a.experiment['name']}: baseline {a.baseline}"]
    for g in a.groups:
        los = a.approach_los(g)
        lines += ["", f"## {g.title}", "",
                  "| controller | seeds | total delay [s] | delay [s] | not departed | "
                  "vs baseline | p | LOS | throughput |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for label in g.ranked():
            mean, half = mean_ci(g.values(label, RANK_KEY))
            delay, delay_half = mean_ci(g.values(label, "mean_delay_s"))
            backlog = mean_ci(g.values(label, "vehicles_not_departed"))[0]
            if label == a.baseline:
                change, p_text = "baseline", ""
            else:
                p = paired(g.by_seed(a.baseline, RANK_KEY), g.by_seed(label, RANK_KEY))
                change = ("–" if math.isnan(p.rel_change) else f"{p.rel_change:+.1%}")
                p_text = fmt_p(p.p_t)
            levels = ", ".join(f"{j} {jl.worst[label].level}"
                               for j, jl in los.items() if label in jl.worst)
            tput = mean_ci(g.values(label, "vehicles_arrived"))[0]
            lines.append(f"| {g.shown(label)} | {len(g.ok[label])} | {fmt_ci(mean, half, 1)} | "
                         f"{fmt_ci(delay, delay_half, 1)} | {fmt(backlog, 0)} | "
                         f"{change} | {p_text} | {levels or '–'} | {fmt(tput, 0)} |")
    if a.failed:
        lines += ["", f"{len(a.failed)} run(s) failed; see the report."]
    return "\n".join(lines)


@dataclass(frozen=True)
class Report:
    """A written report."""

    path: Path
    markdown: str


def write_report(root: Path, out: Path, baseline: str | None = None) -> Report:
    """Analyse ``root`` and write the HTML report to ``out`` (atomically)."""
    a = analyse(root, baseline)
    page = render_html(a)
    write_text_atomic(out, page)
    return Report(path=out, markdown=markdown_summary(a))
