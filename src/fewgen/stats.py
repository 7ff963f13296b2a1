"""Mean and 95% confidence interval over seeds (Student's t)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def mean_ci(values) -> tuple[float, float]:
    """``(mean, half_width)`` of the two-sided 95% t-interval; half-width is 0 for one value."""
    values = np.asarray(list(values), dtype=float)
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = float(values.mean())
    if n == 1:
        return mean, 0.0
    half = float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return mean, half


def ci_excludes_zero(mean: float, half_width: float, n: int) -> bool:
    """Whether the interval ``mean ± half_width`` over ``n`` values lies on one side of 0 (one value has no CI)."""
    return n > 1 and abs(mean) > half_width
