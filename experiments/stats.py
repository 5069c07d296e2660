"""Statistics of a sweep: t-intervals over seeds and paired comparisons against a baseline."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

LEVEL = 0.95


def mean_ci(values: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """Mean and half-width of its t confidence interval (NaN half-width below 2 values)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan
    sem = float(x.std(ddof=1)) / math.sqrt(x.size)
    return mean, float(sps.t.ppf(0.5 + level / 2, x.size - 1)) * sem


@dataclass(frozen=True)
class Paired:
    """A controller against the baseline over the seeds both ran (difference = it − baseline)."""

    n: int
    baseline_mean: float
    mean: float
    diff: float
    diff_ci: float  # half-width of the t-interval of the mean paired difference
    p_t: float  # paired two-sided t-test
    p_wilcoxon: float  # Wilcoxon signed-rank (NaN when it cannot be computed)

    @property
    def rel_change(self) -> float:
        """Relative change of the mean against the baseline (NaN for a zero baseline)."""
        return self.diff / self.baseline_mean if self.baseline_mean else math.nan

    def significant(self, alpha: float = 1 - LEVEL) -> bool:
        """True when the paired t-test rejects equal means at ``alpha``."""
        return not math.isnan(self.p_t) and self.p_t < alpha


def paired(baseline: Mapping[int, float], other: Mapping[int, float]) -> Paired:
    """Pair two controllers' per-seed values by seed and test the differences."""
    seeds = sorted(set(baseline) & set(other))
    b = np.array([baseline[s] for s in seeds], dtype=float)
    o = np.array([other[s] for s in seeds], dtype=float)
    d = o - b
    diff, half = mean_ci(d)
    p_t = p_w = math.nan
    if d.size >= 2:
        if np.allclose(d, d[0]) and math.isclose(float(d[0]), 0.0, abs_tol=1e-12):
            p_t = p_w = 1.0
        elif np.allclose(d, d[0]):
            p_t = 0.0  # identical non-zero differences: no variance, the shift is certain
        else:
            p_t = float(sps.ttest_rel(o, b).pvalue)
        if math.isnan(p_w) and np.any(d != 0):
            try:
                p_w = float(sps.wilcoxon(o, b).pvalue)
            except ValueError:
                p_w = math.nan
    return Paired(n=int(d.size), baseline_mean=float(b.mean()) if b.size else math.nan,
                  mean=float(o.mean()) if o.size else math.nan, diff=diff, diff_ci=half,
                  p_t=p_t, p_wilcoxon=p_w)
