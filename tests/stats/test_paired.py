"""Hand-checked values (STATS.md §2, §5, §6) and seeded simulations for the paired tests."""

import math

import numpy as np
import pytest
from scipy import stats

from emoprompt.stats.effects import conditional_odds_ratio, relative_change_paired
from emoprompt.stats.paired import (
    agresti_min_ci,
    floor_variance,
    mcnemar_exact,
    mcnemar_midp,
    paired_binary,
    paired_t,
    sign_flip_p,
    tost_paired,
)


def pairs(n11, n10, n01, n00):
    treatment = np.array([1] * n11 + [1] * n10 + [0] * n01 + [0] * n00)
    control = np.array([1] * n11 + [0] * n10 + [1] * n01 + [0] * n00)
    return treatment, control


def test_stats_md_worked_example():
    # STATS.md §2: table [[54,19],[23,24]] → exact p 0.644, mid-p 0.542, Agresti–Min (−13.8, +7.2) pp
    assert mcnemar_exact(19, 23) == pytest.approx(0.644, abs=5e-4)
    assert mcnemar_midp(19, 23) == pytest.approx(0.542, abs=5e-4)
    low, high = agresti_min_ci(19, 23, 120)
    assert (round(100 * low, 1), round(100 * high, 1)) == (-13.8, 7.2)
    result = paired_binary(*pairs(54, 19, 23, 24))
    assert result.n10 == 19 and result.n01 == 23 and result.diff == pytest.approx(-4 / 120)


def test_midp_by_hand():
    assert mcnemar_midp(5, 0) == pytest.approx(2 * 0.5**5 - 0.5**5)
    assert mcnemar_exact(5, 0) == pytest.approx(2 * 0.5**5)
    # m = 4, k = 1: 2·P(X ≤ 1) − P(X = 1) = 2·5/16 − 4/16 = 6/16
    assert mcnemar_midp(3, 1) == pytest.approx(6 / 16)
    assert mcnemar_midp(0, 0) == 1.0


def test_agresti_min_by_hand():
    n10, n01, n = 10, 4, 50
    d = 6 / 52
    se = math.sqrt(15 - 36 / 52) / 52
    low, high = agresti_min_ci(n10, n01, n)
    assert low == pytest.approx(d - 1.959964 * se, abs=1e-6) and high == pytest.approx(d + 1.959964 * se, abs=1e-6)


def test_paired_t_matches_scipy():
    rng = np.random.default_rng(1)
    t, c = rng.random(40), rng.random(40)
    result = paired_t(t, c)
    assert result.p_value == pytest.approx(stats.ttest_rel(t, c).pvalue)
    se = np.std(t - c, ddof=1) / np.sqrt(40)
    assert result.ci_high - result.diff == pytest.approx(stats.t.ppf(0.975, 39) * se)


def test_degenerate_paired_t_has_an_interval_of_the_least_variation_never_zero_width():
    # K = 2 per-item means on a grid of 0.5: every item moved by +0.5 → sign-flip p, interval of one item moved a step
    t, c = np.full(10, 1.0), np.full(10, 0.5)
    assert floor_variance(t, c) == pytest.approx(0.25 / 10)
    moved = paired_t(t, c)
    half = stats.t.ppf(0.975, 9) * math.sqrt(0.25 / 10 / 10)
    assert moved.p_value == pytest.approx(2 * 0.5**10)
    assert (moved.ci_low, moved.ci_high) == pytest.approx((0.5 - half, 0.5 + half))
    still = paired_t(c, c)
    assert still.p_value == 1.0 and still.ci_low < 0 < still.ci_high
    assert floor_variance(np.ones(4), np.ones(4)) == pytest.approx(1 / 4)  # one value only: a step of 1


def test_an_interval_of_proportions_stops_at_the_widest_possible_difference():
    # two items, nothing moved: the floor's t interval (12.7 × 0.5 = ±6.35) reaches past ±1, which no difference of
    # 0–1 scores can; on points scores it is left alone
    still = paired_t(np.array([1.0, 0.5]), np.array([1.0, 0.5]))
    assert (still.ci_low, still.ci_high) == (-1.0, 1.0) and still.p_value == 1.0
    moved = paired_t(np.array([1.0, 0.0]), np.array([0.0, 0.5]))
    assert -1.0 <= moved.ci_low < moved.diff < moved.ci_high <= 1.0
    points = paired_t(np.array([7.0, 3.0]), np.array([7.0, 3.0]))
    assert points.ci_high > 1.0


def test_sign_flip_exact_enumeration():
    assert sign_flip_p(np.array([1.0, 1.0, 1.0])) == pytest.approx(2 / 8)
    assert sign_flip_p(np.array([0.0, 0.0])) == 1.0


def test_relative_change_delta_method_by_hand():
    change = relative_change_paired(n11=50, n10=10, n01=5, n=100)
    se = math.sqrt(15 / (60 * 55))
    assert change.value == pytest.approx(60 / 55 - 1)
    assert change.ci_low == pytest.approx(60 / 55 * math.exp(-1.959964 * se) - 1, abs=1e-6)
    assert change.flag is None
    assert "discordant" in relative_change_paired(50, 3, 2, 100).flag
    assert "control rate" in relative_change_paired(2, 10, 5, 100).flag


def test_conditional_odds_ratio_exact_ci():
    ratio, low, high = conditional_odds_ratio(24, 14)
    interval = stats.binomtest(24, 38).proportion_ci(0.95, method="exact")
    assert ratio == pytest.approx(24 / 14)
    assert low == pytest.approx(interval.low / (1 - interval.low))
    assert high == pytest.approx(interval.high / (1 - interval.high))


def test_tost():
    rng = np.random.default_rng(0)
    base = rng.random(400)
    assert tost_paired(base + rng.normal(0, 0.01, 400), base, 0.03) < 0.05
    assert tost_paired(base + 0.1, base + rng.normal(0, 0.01, 400), 0.03) > 0.5


def test_null_type_one_error_k1_binary():
    rng = np.random.default_rng(7)
    rejections = 0
    for _ in range(400):
        cells = rng.choice(4, size=100, p=[0.45, 0.1, 0.1, 0.35])
        t = np.isin(cells, [0, 1]).astype(int)
        c = np.isin(cells, [0, 2]).astype(int)
        rejections += paired_binary(t, c).p_value < 0.05
    assert rejections / 400 <= 0.06


@pytest.mark.parametrize("n", [15, 30, 60])
def test_the_binary_interval_covers_at_small_samples_by_exact_enumeration(n):
    from emoprompt.stats.paired import dirichlet_difference_ci

    designs = [(0.10, 0.0), (0.2, 0.0), (0.3, 0.1), (0.5, 0.0), (0.3, 0.3), (0.1, 0.05)]
    for p10, p01 in designs:
        coverage = 0.0
        for n10 in range(n + 1):
            for n01 in range(n - n10 + 1):
                probability = stats.multinomial.pmf([n10, n01, n - n10 - n01], n, [p10, p01, 1 - p10 - p01])
                if probability > 1e-9:
                    low, high = dirichlet_difference_ci(n10, n01, n)
                    coverage += probability * (low <= p10 - p01 <= high)
        assert coverage >= 0.94, (n, p10, p01, coverage)


@pytest.mark.parametrize("n", [15, 30, 60])
def test_the_printed_interval_covers_extreme_one_directional_effects(n):
    """Where the Dirichlet interval alone falls short (every discordant pair one way, 70 or 90 pp), the printed
    interval — joined with Tango's score interval — covers."""
    from emoprompt.stats.paired import dirichlet_difference_ci

    for effect in (0.7, 0.9):
        printed = dirichlet_only = 0.0
        for n10 in range(n + 1):
            probability = stats.binom.pmf(n10, n, effect)
            treated = np.r_[np.ones(n10), np.zeros(n - n10)]
            result = paired_binary(treated, np.zeros(n))
            printed += probability * (result.ci_low <= effect <= result.ci_high)
            low, high = dirichlet_difference_ci(n10, 0, n)
            dirichlet_only += probability * (low <= effect <= high)
        assert printed >= 0.94, (n, effect, printed)
        if n == 15:
            assert dirichlet_only < 0.9  # why the union exists


def test_agresti_min_under_covers_where_the_printed_interval_does_not():
    n, covered = 20, {"agresti-min": 0.0, "printed": 0.0}
    from emoprompt.stats.paired import dirichlet_difference_ci

    for n10 in range(n + 1):  # +10 pp, one-directional: n01 is always 0
        probability = stats.binom.pmf(n10, n, 0.1)
        for name, interval in (("agresti-min", agresti_min_ci(n10, 0, n)), ("printed", dirichlet_difference_ci(
                n10, 0, n))):
            covered[name] += probability * (interval[0] <= 0.1 <= interval[1])
    assert covered["agresti-min"] == pytest.approx(0.876, abs=5e-4) and covered["printed"] > 0.99


def test_coverage_of_the_binary_interval_and_paired_t():
    rng = np.random.default_rng(11)
    covered_am = covered_t = 0
    for _ in range(400):
        cells = rng.choice(4, size=60, p=[0.5, 0.12, 0.04, 0.34])
        t = np.isin(cells, [0, 1]).astype(float)
        c = np.isin(cells, [0, 2]).astype(float)
        truth = 0.12 - 0.04
        am = paired_binary(t, c)
        covered_am += am.ci_low <= truth <= am.ci_high
        pt = paired_t(t, c)
        covered_t += pt.ci_low <= truth <= pt.ci_high
    assert covered_am / 400 >= 0.93 and covered_t / 400 >= 0.93


def test_accuracy_intervals_are_exact_and_cover_at_every_rate():
    from statsmodels.stats.proportion import proportion_confint

    from emoprompt.stats.effects import exact_binomial_ci

    assert exact_binomial_ci(7, 20) == pytest.approx(proportion_confint(7, 20, method="beta"))
    assert exact_binomial_ci(0, 15)[0] == 0.0 and exact_binomial_ci(15, 15)[1] == 1.0
    for n in (15, 30, 60):
        intervals = [exact_binomial_ci(k, n) for k in range(n + 1)]
        for rate in np.linspace(0.01, 0.99, 50):
            coverage = sum(stats.binom.pmf(k, n, rate) for k, (low, high) in enumerate(intervals)
                           if low <= rate <= high)
            assert coverage >= 0.95 - 1e-9, (n, rate, coverage)


@pytest.mark.parametrize(("moved_down", "n"), [(5, 5), (3, 3), (20, 20)])
def test_the_binary_interval_holds_its_own_estimate_when_every_item_moved_one_way(moved_down, n):
    from emoprompt.stats.paired import paired_binary

    result = paired_binary(np.zeros(n), np.ones(n))
    assert result.diff == -1.0
    assert result.ci_low <= result.diff <= result.ci_high
    assert (result.ci_high < 0) == (result.p_value < 0.05)
    assert paired_binary(np.ones(n), np.zeros(n)).ci_high >= 1.0


@pytest.mark.parametrize("n", [15, 30, 60])
def test_relative_change_intervals_cover_at_small_samples(n):
    """Per-task (delta method, t quantile) and pooled relative-change intervals with K = 3 repeats: seeded
    simulation of items of logit ability N(0.5, 1), a +0.5 logit shift, against the population ratio."""
    import pandas as pd

    from emoprompt.stats.analysis import _pooled_relative
    from emoprompt.stats.effects import relative_change_means

    rng = np.random.default_rng(n)

    def rate(x):
        return 1 / (1 + np.exp(-x))

    population = rng.normal(0.5, 1.0, 1_000_000)
    truth = rate(population + 0.5).mean() / rate(population).mean() - 1
    per_task = pooled = 0
    sims = 1000
    for _ in range(sims):
        ability = rng.normal(0.5, 1.0, n)
        t, c = rng.binomial(3, rate(ability + 0.5)) / 3, rng.binomial(3, rate(ability)) / 3
        one = relative_change_means(t, c)
        per_task += one.ci_low <= truth <= one.ci_high
        index = pd.MultiIndex.from_arrays([["task"] * n, range(n)], names=["task", "item"])
        both = _pooled_relative(pd.DataFrame({"T": t, "C": c}, index=index), "T", "C", 0.05)
        pooled += both["ci_low"] <= truth <= both["ci_high"]
    assert per_task / sims >= 0.935 and pooled / sims >= 0.935  # nominal 0.95; SE of the estimate ≈ 0.007
