"""Figures of the report, rendered with matplotlib (Agg) into embeddable PNG data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import numpy as np


def _figure(width: float = 8.0, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def delay_distribution(delays: Mapping[str, Sequence[float]]) -> str:
    """Empirical CDF and box plot of per-vehicle delay, one per controller."""
    fig = _figure()
    ax_cdf, ax_box = fig.subplots(1, 2, width_ratios=(3, 2))
    labels = [k for k, v in delays.items() if len(v)]
    for label in labels:
        x = np.sort(np.asarray(delays[label], dtype=float))
        ax_cdf.step(x, np.arange(1, x.size + 1) / x.size, where="post", label=label)
    ax_cdf.set_xlabel("delay per motor vehicle [s]")
    ax_cdf.set_ylabel("share of vehicles")
    ax_cdf.grid(alpha=0.3)
    if labels:
        ax_cdf.legend(fontsize=8)
        ax_box.boxplot([delays[k] for k in labels], whis=(5, 95), showfliers=False)
        ax_box.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right",
                          fontsize=8)
    ax_box.set_ylabel("delay [s] (box: quartiles, whiskers: 5–95 %)")
    ax_box.grid(alpha=0.3, axis="y")
    return _data_uri(fig)


def queue_series(series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                 title: str) -> str:
    """Halting vehicles over time, one line per controller (mean over seeds)."""
    fig = _figure(8.0, 3.0)
    ax = fig.subplots()
    for label, (t, q) in series.items():
        ax.plot(np.asarray(t) / 60.0, q, label=label, linewidth=1.2)
    ax.set_xlabel("simulated time [min]")
    ax.set_ylabel("halting vehicles on approaches")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=8)
    return _data_uri(fig)
