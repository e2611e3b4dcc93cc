"""Wording as a random factor: hand-checked two-way ANOVA values and seeded coverage simulations (issue: effects
that survive rewording)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from emoprompt.stats.wording import (
    CrossedTask,
    crossed_contrast,
    items_only_contrast,
    score_components,
    single_wording_contrast,
    wording_analysis,
)


def test_two_way_anova_by_hand():
    table = np.array([[1.0, 2.0], [3.0, 5.0], [2.0, 2.0]])
    task = CrossedTask.of(table)
    assert (task.mean, task.ms_item, task.ms_wording, task.ms_resid) == pytest.approx((2.5, 3.5, 1.5, 0.5))
    result = crossed_contrast({"t": table}, 0.05)
    assert result["se"] ** 2 == pytest.approx((3.5 + 1.5 - 0.5) / 6)
    df = 0.75**2 / ((3.5 / 6) ** 2 / 2 + (1.5 / 6) ** 2 / 1 + (0.5 / 6) ** 2 / 2)
    assert result["df"] == pytest.approx(df)
    assert result["ci_high"] - result["diff"] == pytest.approx(stats.t.ppf(0.975, df) * math.sqrt(0.75))
    assert result["interaction_f"] == pytest.approx(3.0) and result["interaction_p"] == pytest.approx(
        stats.f.sf(3.0, 1, 2))
    assert result["components"] == pytest.approx({"item": 1.5, "wording": 1 / 3, "resid": 0.5})


def _study(rng, n, k, tasks, s_item, s_wording, s_resid, mu):
    return {str(t): mu + rng.normal(0, s_item, (n, 1)) + rng.normal(0, s_wording, (1, k))
            + rng.normal(0, s_resid, (n, k)) for t in range(tasks)}


def _coverage(rng, simulations, mu, **design):
    covered = {"crossed": 0, "items_only": 0, "original": 0}
    for _ in range(simulations):
        tables = _study(rng, mu=mu, **design)
        intervals = {"crossed": crossed_contrast(tables, 0.05), "items_only": items_only_contrast(tables, 0.05),
                     "original": single_wording_contrast(np.concatenate([t[:, 0] for t in tables.values()]), 0.05)}
        for name, interval in intervals.items():
            covered[name] += interval["ci_low"] <= mu <= interval["ci_high"]
    return {name: count / simulations for name, count in covered.items()}


def test_with_true_wording_variance_only_the_crossed_interval_covers():
    rng = np.random.default_rng(15)
    coverage = _coverage(rng, 400, 0.02, n=40, k=5, tasks=1, s_item=0.10, s_wording=0.06, s_resid=0.10)
    assert coverage["crossed"] >= 0.93, coverage
    assert coverage["items_only"] < 0.85 and coverage["original"] < 0.7, coverage
    several = _coverage(rng, 300, 0.02, n=25, k=5, tasks=3, s_item=0.10, s_wording=0.06, s_resid=0.10)
    assert several["crossed"] >= 0.93 and several["items_only"] < 0.9, several


def test_without_wording_variance_every_interval_is_nominal():
    coverage = _coverage(np.random.default_rng(16), 400, 0.0, n=40, k=5, tasks=1, s_item=0.10, s_wording=0.0,
                         s_resid=0.10)
    assert all(0.92 <= value <= 0.99 for value in coverage.values()), coverage


def test_binary_scores_with_a_stimulus_by_wording_interaction():
    rng = np.random.default_rng(17)
    population = rng.normal(0, 1.2, 200_000), rng.normal(0, 0.5, 200_000), rng.normal(0, 0.5, 200_000)
    logistic = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    mu = float(np.mean(logistic(population[0] + population[1] + 0.1 + population[2])
                       - logistic(population[0] + population[1])))
    covered = items = 0
    for _ in range(300):
        tables = {}
        for task in range(2):
            item, wording, interaction = rng.normal(0, 1.2, (40, 1)), rng.normal(0, 0.5, (1, 5)), rng.normal(
                0, 0.5, (1, 5))
            treated = rng.random((40, 5)) < logistic(item + wording + 0.1 + interaction)
            control = rng.random((40, 5)) < logistic(item + wording)
            tables[str(task)] = treated.astype(float) - control.astype(float)
        crossed, only = crossed_contrast(tables, 0.05), items_only_contrast(tables, 0.05)
        covered += crossed["ci_low"] <= mu <= crossed["ci_high"]
        items += only["ci_low"] <= mu <= only["ci_high"]
    assert covered / 300 >= 0.93 and items / 300 < covered / 300 - 0.05, (covered, items)


def test_score_components_recover_a_known_design():
    rng = np.random.default_rng(18)
    rows = []
    for task in ("a", "b"):
        item = rng.normal(0, 1.0, 60)
        wording = rng.normal(0, 0.5, 6)
        for i in range(60):
            for w in range(6):
                for r in range(3):
                    rows.append({"task": task, "item": f"{task}{i}", "paraphrase": f"p{w}", "repeat": r,
                                 "condition": "baseline", "score": item[i] + wording[w] + rng.normal(0, 0.3)})
    components = score_components(pd.DataFrame(rows))
    assert components["item"] == pytest.approx(1.0, rel=0.35)
    assert components["repeat"] == pytest.approx(0.09, rel=0.15)
    assert components["item_x_wording"] < 0.02
    assert sum(components["shares"].values()) == pytest.approx(1.0)


def test_wording_analysis_reports_spread_and_mizrahi_summaries():
    rows = []
    for task, base in (("a", 0.5), ("b", 0.2)):
        for i in range(4):
            for w, shift in enumerate((0.0, 0.25, -0.25)):
                for condition, bump in (("baseline", 0.0), ("PL01", 0.0), ("EP02", 0.25)):
                    score = float(base + shift + bump + (0.25 if i % 2 else -0.25) >= 0.5)
                    rows.append({"model": "m", "task": task, "item": f"{task}{i}", "paraphrase": f"p{w}",
                                 "repeat": 0, "condition": condition, "score": score})
    result = wording_analysis(pd.DataFrame(rows), ["baseline", "PL01", "EP02"], ["EP02"], "PL01", "baseline", 0.05)
    assert result["wordings"] == ["p0", "p1", "p2"]
    baseline = next(s for s in result["spread"] if s["condition"] == "baseline")
    # task a: wordings score 0.5, 1, 0.5; task b: 0, 0.5, 0 (4 items each)
    assert baseline["by_wording"] == {"p0": 0.25, "p1": 0.75, "p2": 0.25}
    assert baseline["range"] == pytest.approx(0.5) and baseline["task_range"] == pytest.approx(0.5)
    assert baseline["max_p"] == pytest.approx((1 + 0.5) / 2) and baseline["avg_p"] == pytest.approx((2 / 3 + 1 / 6) / 2)
    assert baseline["cps"] == pytest.approx(((1 - (1 - 2 / 3)) * 1 + (1 - (0.5 - 1 / 6)) * 0.5) / 2)
    [ep02, generic] = result["contrasts"]
    assert (ep02["condition"], generic["condition"]) == ("EP02", "PL01")
    assert ep02["crossed"]["diff"] == pytest.approx(ep02["items_only"]["diff"])
    assert [w["paraphrase"] for w in ep02["per_wording"]] == ["p0", "p1", "p2"]


def _null_with_wording_variance(seed, items=40, wordings=5, tau=1.5):
    """Two stimuli whose effect moves with the wording (logit shift ~ N(0, tau) per stimulus × wording) and is
    zero on average: a true null for a claim about the stimuli in general."""
    rng = np.random.default_rng(seed)
    rows = []
    for task in range(2):  # wordings are nested in tasks: wording p of one task is not wording p of another
        shift = {(c, w): rng.normal(0, tau) for c in ("S0", "S1") for w in range(wordings)}
        for i in range(items // 2):
            ability = rng.normal(0, 1.5)
            for w in range(wordings):
                for condition in FAMILIES:
                    logit = ability + shift.get((condition, w), 0.0)
                    rows.append({"model": "m", "task": f"t{task}", "item": str(i), "condition": condition,
                                 "repeat": 0, "paraphrase": f"p{w}", "score": float(rng.random() < 1 / (1 + math.exp(
                                     -logit))), "parsed": True, "error": None, "tokens_out": 3, "tokens_in": 10,
                                 "n_calls": 1, "cost_usd": None, "cached": False})
    return pd.DataFrame(rows)


FAMILIES = {"baseline": "baseline", "placebo": "placebo", "S0": "emotionprompt", "S1": "emotionprompt"}


def test_with_wordings_the_confirmatory_rows_are_the_crossed_analysis():
    from emoprompt.schema import AnalysisPlan
    from emoprompt.stats.analysis import CROSSED, analyze

    frame = _null_with_wording_variance(3)
    result = analyze(frame, AnalysisPlan(control="placebo", families=FAMILIES, repeats=1)).to_dict()["models"]["m"]
    primary, pooled = result["primary"], {row["condition"]: row for row in result["pooled"]}
    contrasts = {c["condition"]: c for c in result["wording"]["contrasts"]}
    for name in ("S0", "S1"):
        row, crossed = pooled[name], contrasts[name]["crossed"]
        assert row["fixed"]["method"] == CROSSED and row["p"] == pytest.approx(crossed["p"])
        assert (row["fixed"]["ci_low"], row["fixed"]["ci_high"]) == pytest.approx((crossed["ci_low"],
                                                                                   crossed["ci_high"]))
        assert row["items_only"]["diff"] == pytest.approx(crossed["diff"])  # same estimate, other uncertainty
        assert row["var_d"] == pytest.approx(crossed["se"] ** 2 * crossed["n_items"])
    assert primary["method"] == CROSSED and primary["items_only"]["method"] != CROSSED


def test_under_a_null_with_wording_variance_the_primary_test_holds_alpha():
    from emoprompt.schema import AnalysisPlan
    from emoprompt.stats.analysis import analyze

    crossed = items_only = 0
    runs = 60
    for seed in range(runs):
        result = analyze(_null_with_wording_variance(100 + seed), AnalysisPlan(
            control="placebo", families=FAMILIES, repeats=1)).to_dict()["models"]["m"]
        crossed += result["primary"]["rejects"]
        items_only += result["primary"]["items_only"]["p_value"] < 0.05
    assert crossed / runs <= 0.1 and items_only > crossed + 3, (crossed, items_only)
