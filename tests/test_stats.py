"""95% confidence intervals against closed-form values."""

import math

from scipy import stats

from fewgen.stats import ci_excludes_zero, mean_ci


def test_t_interval():
    mean, half = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert mean == 3.0
    assert math.isclose(half, stats.t.ppf(0.975, 4) * math.sqrt(2.5) / math.sqrt(5))  # sd = sqrt(2.5)
    assert math.isclose(half, 1.9632, rel_tol=1e-4)


def test_single_value_and_empty():
    assert mean_ci([0.7]) == (0.7, 0.0)
    assert all(math.isnan(v) for v in mean_ci([]))


def test_a_ci_excludes_zero_only_on_one_side_of_it_and_with_more_than_one_value():
    assert ci_excludes_zero(0.03, 0.02, 5) and ci_excludes_zero(-0.03, 0.02, 5)
    assert not ci_excludes_zero(0.01, 0.02, 5) and not ci_excludes_zero(-0.02, 0.02, 5)
    assert not ci_excludes_zero(0.5, 0.0, 1)  # one draw has no interval
