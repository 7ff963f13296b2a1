"""95% confidence intervals against closed-form values."""

import math

from scipy import stats

from fewgen.stats import mean_ci


def test_t_interval():
    mean, half = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert mean == 3.0
    assert math.isclose(half, stats.t.ppf(0.975, 4) * math.sqrt(2.5) / math.sqrt(5))  # sd = sqrt(2.5)
    assert math.isclose(half, 1.9632, rel_tol=1e-4)


def test_single_value_and_empty():
    assert mean_ci([0.7]) == (0.7, 0.0)
    assert all(math.isnan(v) for v in mean_ci([]))
