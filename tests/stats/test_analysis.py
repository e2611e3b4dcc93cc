"""The whole engine on seeded synthetic experiments."""

import numpy as np
import pandas as pd

from emoprompt.schema import AnalysisPlan
from emoprompt.stats.analysis import analyze
from emoprompt.stats.contrast import contrast
from emoprompt.stats.frame import item_means
from emoprompt.stats.paired import paired_binary

FAMILIES = {"baseline": "baseline", "placebo": "placebo", **{f"S{i}": "emotionprompt" for i in range(6)}}


def synthetic(rng, tasks=4, items=120, repeats=1, appended=0.15, effects=None):
    effects = effects or {}
    rows = []
    for task in range(tasks):
        for item in range(items):
            ability = rng.normal(0, 1.5)
            for condition in FAMILIES:
                logit = ability + (0 if condition == "baseline" else appended) + effects.get(condition, 0)
                for repeat in range(repeats):
                    score = float(rng.random() < 1 / (1 + np.exp(-logit)))
                    rows.append({"model": "m", "task": f"t{task}", "item": str(item), "condition": condition,
                                 "repeat": repeat, "score": score, "parsed": True, "error": None, "tokens_out": 3})
    return pd.DataFrame(rows)


def test_placebo_control_removes_the_appended_text_effect():
    # Every appended text has a +0.3 logit effect; only S0 has a real one on top. Over several seeded studies,
    # (K = 3) contrasts against the baseline call the appended-text effect "significant"; against the placebo they
    # rarely do, while S0 is still found. (One study alone can mislead: all contrasts share the control.)
    false_vs_placebo = false_vs_baseline = found = 0
    for seed in range(3):
        frame = synthetic(np.random.default_rng(seed), tasks=4, items=120, repeats=3, appended=0.3,
                          effects={"S0": 0.5})
        against_placebo = analyze(frame, AnalysisPlan(control="placebo", families=FAMILIES)).to_dict()["models"]["m"]
        against_baseline = analyze(frame, AnalysisPlan(control="baseline", families=FAMILIES)).to_dict()["models"]["m"]
        confirmed = {r["condition"] for r in against_placebo["pooled"] if r["p_holm_fixed"] < 0.05}
        significant = {r["condition"] for r in against_baseline["pooled"] if r["p_holm_fixed"] < 0.05}
        found += "S0" in confirmed
        false_vs_placebo += len(confirmed - {"S0"})
        false_vs_baseline += len(significant - {"S0", "placebo"})
        generic = against_placebo["generic"]["fixed"]
        assert generic["diff"] > 0
    assert found == 3
    assert false_vs_baseline >= 8 and false_vs_placebo <= 1


def test_hierarchy_fields_and_families():
    analysis = analyze(synthetic(np.random.default_rng(1), tasks=3, items=60), AnalysisPlan(control="placebo",
                                                                                           families=FAMILIES)).to_dict()
    model = analysis["models"]["m"]
    assert model["primary"]["stimuli"] == [f"S{i}" for i in range(6)]
    assert len(model["per_task"]) == 6 * 3 and len(model["pooled"]) == 6
    row = model["per_task"][0]
    for field in ("p_holm", "p_bh", "mde_80", "underpowered", "cannot_reach_significance", "n10", "n01",
                  "relative", "odds_ratio", "cohens_h", "acc_ctrl_ci"):
        assert field in row
    pooled = model["pooled"][0]
    for field in ("fixed", "random", "gee", "p_holm_fixed", "p_holm_random", "relative", "confirmed"):
        assert field in pooled
    assert analysis.get("methods", True)


def test_repeats_are_averaged_within_items_not_counted_as_items():
    frame = synthetic(np.random.default_rng(2), tasks=1, items=50, repeats=5)
    means = item_means(frame)
    assert len(means) == 50
    analysis = analyze(frame, AnalysisPlan(control="placebo", families=FAMILIES)).to_dict()
    row = analysis["models"]["m"]["per_task"][0]
    assert row["n_items"] == 50 and row["K"] == 5 and row["method"] == "paired-t"
    assert "p_sign_flip" in row and "bca_ci" in row


def test_weak_null_with_repeats_holds_type_one_error_where_pseudo_pairs_do_not():
    rng = np.random.default_rng(9)
    ours = naive = 0
    simulations = 300
    for _ in range(simulations):
        base = rng.normal(0, 1, 100)
        shift = rng.uniform(-0.8, 0.8, 100)  # item-specific effects with mean ~0: the weak null
        shift -= shift.mean()
        t = (rng.random((100, 5)) < 1 / (1 + np.exp(-(base + shift)[:, None]))).astype(float)
        c = (rng.random((100, 5)) < 1 / (1 + np.exp(-base[:, None]))).astype(float)
        ours += contrast(t.mean(axis=1), c.mean(axis=1), 5, 0.05, 0.03, robust=False).p < 0.05
        naive += paired_binary(t.ravel(), c.ravel()).p_value < 0.05
    assert ours / simulations <= 0.07
    assert naive > ours
