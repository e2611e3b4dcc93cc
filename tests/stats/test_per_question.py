"""The per-question view: counts of questions moved past 10/20/30 pp against a permutation null of repeat noise,
calibrated under no effect and sensitive to real swings that cancel on average; strict correctness with tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emoprompt.stats.per_question import question_view, score_tables, strict_correctness, swings


def frame(rng: np.random.Generator, n: int, repeats: int, swinging: int = 0, shift: float = 0.0) -> pd.DataFrame:
    """n questions of varied difficulty, `repeats` right/wrong answers per condition; the stimulus S moves the
    first `swinging` questions by ±shift (alternately), so its average effect is about zero."""
    difficulty = rng.beta(0.7, 0.7, n)
    rows = []
    for i in range(n):
        for condition in ("baseline", "S"):
            p = difficulty[i]
            if condition == "S" and i < swinging:
                p = float(np.clip(p + (shift if i % 2 else -shift), 0, 1))
            rows += [("t", str(i), condition, r, float(rng.random() < p)) for r in range(repeats)]
    return pd.DataFrame(rows, columns=["task", "item", "condition", "repeat", "score"])


def test_counts_are_the_questions_past_each_threshold_both_ways():
    rows = []
    for item, (base, stim) in enumerate([(0, 4), (4, 0), (2, 3), (1, 1)]):  # of 4 repeats right
        rows += [("t", str(item), "baseline", r, float(r < base)) for r in range(4)]
        rows += [("t", str(item), "S", r, float(r < stim)) for r in range(4)]
    frame_ = pd.DataFrame(rows, columns=["task", "item", "condition", "repeat", "score"])
    result = swings(score_tables(frame_, 4), "S", "baseline")
    assert result is not None
    by = {row["threshold"]: row for row in result["thresholds"]}
    assert (by[0.2]["up"], by[0.2]["down"]) == (2, 1)  # +100, −100 and +25 pp; 0 pp stays
    assert (by[0.3]["up"], by[0.3]["down"]) == (1, 1)
    assert result["effects"] == [1.0, -1.0, 0.25, 0.0]


def test_the_null_band_and_the_spread_test_are_calibrated_when_the_stimulus_does_nothing():
    rng = np.random.default_rng(0)
    results = [swings(score_tables(frame(rng, 50, 10), 10), "S", "baseline", seed=s, resamples=300) for s in range(150)]
    noise = 2 * np.sqrt(0.05 * 0.95 / 150)
    assert np.mean([r["thresholds"][1]["p"] < 0.05 for r in results]) <= 0.05 + noise
    assert np.mean([r["spread"]["p"] < 0.05 for r in results]) <= 0.05 + noise


def test_swings_that_cancel_on_average_are_found():
    rng = np.random.default_rng(1)
    hits, spread_hits = 0, 0
    for s in range(40):
        result = swings(score_tables(frame(rng, 60, 10, swinging=24, shift=0.45), 10), "S", "baseline", seed=s,
                        resamples=300)
        assert abs(result["mean_effect"]) < 0.1
        hits += result["thresholds"][2]["p"] < 0.05
        spread_hits += result["spread"]["p"] < 0.05
    assert hits / 40 >= 0.8 and spread_hits / 40 >= 0.95


def test_one_repeat_gives_no_view():
    rng = np.random.default_rng(2)
    assert swings(score_tables(frame(rng, 20, 1), 1), "S", "baseline") is None
    assert question_view(frame(rng, 20, 1), ["S"], "baseline", 1, 0.05) is None


def test_strict_correctness_shares_and_paired_tests():
    rows = []
    for item in range(10):
        base_right = 10 if item < 6 else 8  # 6 questions right in every run, 4 in 80%
        stim_right = 10 if item < 3 else 9
        rows += [("t", str(item), "baseline", r, float(r < base_right)) for r in range(10)]
        rows += [("t", str(item), "S", r, float(r < stim_right)) for r in range(10)]
    strict = strict_correctness(score_tables(pd.DataFrame(rows, columns=["task", "item", "condition", "repeat",
                                                                          "score"]), 10),
                                ["baseline", "S"], "baseline", 0.05)
    assert strict is not None
    share = {(row["threshold"], row["condition"]): row["share"] for row in strict}
    assert share[("100%", "baseline")] == 0.6 and share[("100%", "S")] == 0.3
    assert share[("90%", "baseline")] == 0.6 and share[("90%", "S")] == 1.0
    assert share[("51%", "S")] == 1.0
    test = next(row for row in strict if row["threshold"] == "100%" and row["condition"] == "S")
    assert test["diff"] == pytest.approx(-0.3) and test["method"] == "mcnemar-midp/dirichlet"
