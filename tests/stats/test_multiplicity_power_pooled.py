import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests

from emoprompt.stats.multiplicity import benjamini_hochberg, holm
from emoprompt.stats.pooled import random_effects, suite_effect
from emoprompt.stats.power import (
    connor_n,
    connor_power,
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
    assert mde_paired(1 / 9 + 2 * (1 / 6), 198) == pytest.approx(0.133, abs=5e-4)
    assert mde_paired(1 / 9 + 2 * (1 / 60), 198) == pytest.approx(0.076, abs=5e-4)


def test_connor_and_exact_mcnemar_power_table():
    # STATS.md §6.1: n = 100, p10 = .12, p01 = .04 → Connor 0.516, exact 0.436, mid-p 0.520
    assert connor_power(100, 0.12, 0.04) == pytest.approx(0.516, abs=2e-3)
    assert power_exact_mcnemar(100, 0.12, 0.04, mid_p=False) == pytest.approx(0.436, abs=2e-3)
    assert power_exact_mcnemar(100, 0.12, 0.04, mid_p=True) == pytest.approx(0.520, abs=2e-3)
    assert connor_power(connor_n(0.12, 0.04), 0.12, 0.04) >= 0.8


def test_min_discordant():
    assert [min_discordant_for_significance(0.05, f) for f in (1, 10, 60)] == [6, 9, 12]


def test_random_effects_matches_statsmodels_and_prediction_interval():
    effects = np.array([0.05, 0.10, 0.02, 0.08, 0.12, 0.01])
    variances = np.array([0.0009, 0.0012, 0.0008, 0.0010, 0.0015, 0.0011])
    result = random_effects(effects, variances)
    reference = combine_effects(effects, variances, method_re="pm", use_t=True)
    assert result.diff == pytest.approx(reference.mean_effect_re)
    assert (result.ci_low, result.ci_high) == pytest.approx(tuple(reference.conf_int(alpha=0.05, use_t=True)[3]))
    se = math.sqrt(reference.var_hksj_re)
    from scipy import stats
    half = stats.t.ppf(0.975, 4) * math.sqrt(reference.tau2 + se**2)
    assert result.pred_high - result.diff == pytest.approx(half)
    assert 0 <= result.i2 <= 1


def test_suite_effect_equals_mean_paired_difference():
    rng = np.random.default_rng(2)
    rows = []
    for task in ("a", "b"):
        for item in range(50):
            base = rng.random()
            rows.append({"task": task, "item_key": f"{task}{item}", "treat": 1, "score": float(base + 0.1 > 0.5)})
            rows.append({"task": task, "item_key": f"{task}{item}", "treat": 0, "score": float(base > 0.5)})
    long = pd.DataFrame(rows)
    effect = suite_effect(long)
    diffs = long[long.treat == 1].score.to_numpy() - long[long.treat == 0].score.to_numpy()
    assert effect.diff == pytest.approx(diffs.mean())
    assert effect.ci_low < effect.diff < effect.ci_high and effect.n_items == 100
