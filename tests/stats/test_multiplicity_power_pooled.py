import math

import numpy as np
import pytest
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests

from emoprompt.stats.multiplicity import benjamini_hochberg, holm
from emoprompt.stats.pooled import q_profile_upper, random_effects
from emoprompt.stats.power import (
    connor_n,
    connor_power,
    mde_normal,
    mde_paired,
    min_discordant_for_significance,
    n_for_effect,
    power_exact_mcnemar,
)


def test_holm_and_bh_by_hand_and_against_statsmodels():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert benjamini_hochberg([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.04, 0.04])
    p = np.random.default_rng(3).random(50) ** 3
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist())
    assert benjamini_hochberg(p) == pytest.approx(multipletests(p, method="fdr_bh")[1].tolist())
    with_nan = holm([0.01, float("nan"), 0.02])
    assert math.isnan(with_nan[1]) and with_nan[0] == pytest.approx(0.02)


def test_miller_power_numbers():
    # STATS.md §1 R5: ω² = 1/9, δ = 0.03 → n = 969; n = 198, σ² = 1/6 in each arm: MDE 13.3% (K = 1),
    # 7.6% (K = 10), with Var(d) = ω² + σ²_A/K + σ²_B/K
    assert n_for_effect(1 / 9, 0.03) == 969
    assert mde_normal(1 / 9 + 2 * (1 / 6), 198) == pytest.approx(0.133, abs=5e-4)
    assert mde_normal(1 / 9 + 2 * (1 / 60), 198) == pytest.approx(0.076, abs=5e-4)
    assert mde_paired(0.2, 5000) == pytest.approx(mde_normal(0.2, 5000))


def test_small_samples_use_the_t_power_calculation():
    from statsmodels.stats.power import TTestPower

    # n = 10, sd(d) = 1, α = 0.05: the paired t detects d ≈ 0.996 with 80% power; the normal formula says 0.886
    assert mde_paired(1.0, 10) == pytest.approx(TTestPower().solve_power(nobs=10, alpha=0.05, power=0.8), rel=1e-6)
    assert mde_paired(1.0, 10) == pytest.approx(0.996, abs=2e-3)
    assert mde_normal(1.0, 10) == pytest.approx(0.886, abs=2e-3)
    assert mde_paired(1.0, 10, family=8) > mde_paired(1.0, 10, family=4) > mde_paired(1.0, 10)


def test_connor_and_exact_mcnemar_power_table():
    # STATS.md §6.1: n = 100, p10 = .12, p01 = .04 → Connor 0.516, exact 0.436, mid-p 0.520
    assert connor_power(100, 0.12, 0.04) == pytest.approx(0.516, abs=2e-3)
    assert power_exact_mcnemar(100, 0.12, 0.04, mid_p=False) == pytest.approx(0.436, abs=2e-3)
    assert power_exact_mcnemar(100, 0.12, 0.04, mid_p=True) == pytest.approx(0.520, abs=2e-3)
    assert connor_power(connor_n(0.12, 0.04), 0.12, 0.04) >= 0.8


def test_min_discordant():
    # STATS.md §6.2 for the exact test; the mid-p test (the one emoprompt reports) needs one pair fewer
    assert [min_discordant_for_significance(0.05, f, mid_p=False) for f in (1, 10, 60)] == [6, 9, 12]
    assert [min_discordant_for_significance(0.05, f) for f in (1, 10, 60)] == [5, 8, 11]


def test_random_effects_matches_statsmodels_and_prediction_interval():
    effects = np.array([0.05, 0.10, 0.02, 0.08, 0.12, 0.01])
    variances = np.array([0.0009, 0.0012, 0.0008, 0.0010, 0.0015, 0.0011])
    result = random_effects(effects, variances)
    reference = combine_effects(effects, variances, method_re="pm", use_t=True)
    assert result.diff == pytest.approx(reference.mean_effect_re)
    assert (result.ci_low, result.ci_high) == pytest.approx(tuple(reference.conf_int(alpha=0.05, use_t=True)[3]))
    se = math.sqrt(reference.var_hksj_re)
    from scipy import stats
    tau2_upper = q_profile_upper(effects, variances, 0.9)
    half = stats.t.ppf(0.975, 4) * math.sqrt(tau2_upper + se**2)
    assert result.pred_high - result.diff == pytest.approx(half) and result.tau2_upper == tau2_upper
    assert tau2_upper > reference.tau2 and 0 <= result.i2 <= 1


def test_q_profile_upper_bound_by_hand():
    from scipy import stats

    effects = np.array([0.05, 0.10, 0.02, 0.08, 0.12, 0.01])
    variances = np.array([0.0009, 0.0012, 0.0008, 0.0010, 0.0015, 0.0011])
    bound = q_profile_upper(effects, variances, 0.9)
    weights = 1 / (variances + bound)
    mean = np.sum(weights * effects) / np.sum(weights)
    assert np.sum(weights * (effects - mean) ** 2) == pytest.approx(stats.chi2.ppf(0.1, 5), rel=1e-6)
    assert q_profile_upper(np.array([0.0, 0.0, 0.0]), np.array([0.01, 0.01, 0.01]), 0.9) == 0.0


def test_gee_is_left_out_when_no_item_changed():
    import pandas as pd

    from emoprompt.stats.pooled import gee_log_odds

    rng = np.random.default_rng(7)
    scores = rng.integers(0, 2, 40).astype(float)
    same = pd.DataFrame({"item_key": np.repeat(np.arange(40), 2), "treat": np.tile([0, 1], 40),
                         "score": np.repeat(scores, 2), "task": "t"})
    assert gee_log_odds(same) is None  # before: a p-value (0.61 here, 5e-13 elsewhere) from an SE of 1e-16
    changed = same.copy()
    changed.loc[changed.index[1:20:2], "score"] = 1 - changed.loc[changed.index[1:20:2], "score"]
    fit = gee_log_odds(changed)
    assert fit is not None and fit["se"] > 0.1 and 0 < fit["p_value"] <= 1


def test_the_gee_cross_check_of_many_items_runs_on_a_sample_and_says_so(monkeypatch):
    import pandas as pd

    from emoprompt.stats import pooled

    rng = np.random.default_rng(8)
    ability = rng.normal(0, 1.5, 3000)
    rows = pd.concat([pd.DataFrame({"item_key": np.arange(3000).astype(str), "treat": treat, "task": "t",
                                    "score": (rng.random(3000) < 1 / (1 + np.exp(-(ability + 0.4 * treat))))
                                    .astype(float)}) for treat in (0, 1)], ignore_index=True)
    whole = pooled.gee_log_odds(rows)
    monkeypatch.setattr(pooled, "CROSS_CHECK_ITEMS", 2500)
    sampled = pooled.gee_log_odds(rows)
    assert whole["method"] == "logit-item-clustered"
    assert sampled["method"] == "logit-item-clustered on a random 2,500 of 3,000 items"
    assert sampled["log_or"] == pytest.approx(whole["log_or"], abs=2 * whole["se"])
