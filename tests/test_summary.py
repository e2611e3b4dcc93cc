"""The end-of-run summary: its pure-Python contrast equals `stats.contrast` (the report's estimator) to 1e-9."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emoprompt.schema import ErrorInfo, Record
from emoprompt.stats.contrast import contrast
from emoprompt.stats.frame import records_frame
from emoprompt.summary import SUMMARY_FIELDS, summarize, summary_contrast


def assert_same(light, full):
    for key in SUMMARY_FIELDS:
        a, b = light[key], full[key]
        if isinstance(b, str):
            assert a == b, key
        elif b != b:
            assert a != a, key
        else:
            assert a == pytest.approx(b, rel=1e-9, abs=1e-9), (key, a, b)


@pytest.mark.parametrize("seed", range(40))
def test_the_summary_contrast_equals_stats_contrast_on_seeded_data(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    kind = seed % 4
    if kind == 0:  # K = 1 binary: McNemar mid-p, Agresti–Min
        t, c, repeats = rng.integers(0, 2, n).astype(float), rng.integers(0, 2, n).astype(float), 1
    elif kind == 1:  # K = 3 item means of binary scores: paired t
        t, c, repeats = rng.integers(0, 4, n) / 3, rng.integers(0, 4, n) / 3, 3
    elif kind == 2:  # continuous scores
        t, c, repeats = rng.normal(0.5, 0.2, n), rng.normal(0.45, 0.2, n), 1
    else:  # a real effect on binary items
        c = (rng.random(n) < 0.5).astype(float)
        t, repeats = np.where(rng.random(n) < 0.2, 1.0, c), 1
    alpha = (0.05, 0.01, 0.1, 0.2)[seed % 4]
    full = contrast(t, c, repeats, alpha, 0.0, robust=False)
    assert_same(summary_contrast(list(t), list(c), repeats, alpha), full)


@pytest.mark.parametrize("t, c, method", [
    ([1.0, 1.0, 0.0], [1.0, 1.0, 0.0], "mcnemar-midp/agresti-min"),   # no discordant pair: p = 1
    ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], "no difference"),
    ([0.6, 0.7, 0.9], [0.1, 0.2, 0.4], "sign-flip (every item moved alike)"),
    ([1.0, 0.0], [0.0, 1.0], "mcnemar-midp/agresti-min"),
])
def test_edge_cases_take_the_same_branch_as_stats_contrast(t, c, method):
    full = contrast(np.array(t), np.array(c), 1, 0.05, 0.0, robust=False)
    light = summary_contrast(t, c, 1, 0.05)
    assert light["method"] == full["method"] == method
    assert_same(light, full)


def record(item, condition, score, repeat=0, error=None, parsed=True, task="t", model="m"):
    return Record(key=f"{model}{task}{item}{condition}{repeat}", model=model, task=task, sample_id=str(item),
                  condition=condition, repeat=repeat, score=None if error else score,
                  parsed=None if error else parsed, error=ErrorInfo(error, "boom") if error else None)


def test_records_and_their_frame_give_one_summary_with_errors_repeats_and_two_models():
    rng = np.random.default_rng(11)
    records = []
    for model in ("m1", "m2"):
        for task in ("a", "b"):
            for item in range(30):
                for repeat in range(2):
                    for condition in ("baseline", "PL01", "EP02"):
                        error = "timeout" if rng.random() < 0.05 else None
                        records.append(record(item, condition, float(rng.random() < 0.6), repeat, error,
                                              parsed=bool(rng.random() < 0.9), task=task, model=model))
    conditions = ["baseline", "PL01", "EP02"]
    from_records = summarize(records, conditions, "baseline", "PL01", 0.05, 2)
    from_frame = summarize(records_frame(records), conditions, "baseline", "PL01", 0.05, 2)
    assert from_records == from_frame
    ep02 = next(r for r in from_records if r.model == "m2" and r.condition == "EP02")
    cells = [r for r in records if r.model == "m2" and r.condition == "EP02"]
    valid = [r for r in cells if r.error is None]
    assert (ep02.cells, ep02.errors) == (len(cells), len(cells) - len(valid))
    assert ep02.accuracy == pytest.approx(sum(r.score for r in valid) / len(valid))
    assert ep02.parse_failure_rate == pytest.approx(sum(r.parsed is False for r in valid) / len(valid))
    assert ep02.vs_baseline["method"] == "paired-t" and 50 < ep02.vs_baseline["n_items"] <= 60
    frame = records_frame(records)
    means = frame[frame["error"].isna() & (frame["model"] == "m2")].groupby(
        ["task", "item", "condition"])["score"].mean().unstack("condition")[["EP02", "PL01"]].dropna()
    assert_same(ep02.vs_control, contrast(means["EP02"].to_numpy(), means["PL01"].to_numpy(), 2, 0.05, 0.0,
                                          robust=False))


def test_a_condition_without_items_or_with_one_item_has_no_contrast():
    records = [record(0, "baseline", 1.0), record(0, "EP02", 0.0), record(1, "baseline", 1.0),
               record(1, "EP02", 1.0, error="timeout")]
    rows = summarize(records, ["baseline", "EP02", "NP01"], "baseline", "baseline")
    by_name = {r.condition: r for r in rows}
    assert by_name["EP02"].vs_baseline is None and by_name["EP02"].errors == 1
    assert by_name["NP01"].cells == 0 and math.isnan(by_name["NP01"].accuracy)
    assert by_name["baseline"].vs_control is None


def test_the_terminal_table_has_one_difference_column_when_the_control_is_the_baseline():
    from emoprompt.summary import format_summary

    made = [Record(key=f"{c}{i}", model="m", task="t", sample_id=str(i), condition=c, score=float(i % 2), parsed=True)
            for c in ("baseline", "PL01", "EP02") for i in range(6)]
    one = format_summary(summarize(made, ["baseline", "PL01", "EP02"], "baseline", "baseline"), "baseline", "baseline")
    two = format_summary(summarize(made, ["baseline", "PL01", "EP02"], "baseline", "PL01"), "baseline", "PL01")
    assert one.splitlines()[0].count("Δ vs") == 1 and "Δ vs baseline" in one
    assert two.splitlines()[0].count("Δ vs") == 2 and "Δ vs PL01" in two
    assert len(one.splitlines()[3].split()) < len(two.splitlines()[3].split())  # EP02's row: one contrast fewer
