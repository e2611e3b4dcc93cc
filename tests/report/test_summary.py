"""The end-of-run summary: the numbers of the run's one analysis, on the scale of the scores themselves."""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

from emoprompt.cli import cli
from emoprompt.report.summary import format_summary, summary_of_analysis, summary_of_records
from emoprompt.schema import AnalysisPlan, ErrorInfo, Record
from emoprompt.stats.analysis import analyze
from emoprompt.stats.frame import records_frame
from emoprompt.stats.scale import Scale

CONDITIONS = ["baseline", "PL01", "EP02"]
FAMILIES = {"baseline": "baseline", "PL01": "placebo", "EP02": "emotionprompt"}


def record(item, condition, score, repeat=0, error=None, parsed=True, task="t", model="m"):
    return Record(key=f"{model}{task}{item}{condition}{repeat}", model=model, task=task, sample_id=str(item),
                  condition=condition, repeat=repeat, score=None if error else score,
                  parsed=None if error else parsed, error=ErrorInfo(error, "boom") if error else None)


def made_records(seed=11):
    rng = np.random.default_rng(seed)
    records = []
    for model in ("m1", "m2"):
        for task in ("a", "b"):
            for item in range(30):
                for repeat in range(2):
                    for condition in CONDITIONS:
                        error = "timeout" if rng.random() < 0.05 else None
                        records.append(record(item, condition, float(rng.random() < 0.6), repeat, error,
                                              parsed=bool(rng.random() < 0.9), task=task, model=model))
    return records


def test_the_summary_is_the_analysis_pooled_contrasts_and_condition_table():
    records = made_records()
    analysis = analyze(records_frame(records), AnalysisPlan(control="PL01", families=FAMILIES,
                                                            conditions=tuple(CONDITIONS), repeats=2)).to_dict()
    rows = summary_of_analysis(analysis)
    assert [(r.model, r.condition) for r in rows] == [(m, c) for m in ("m1", "m2") for c in CONDITIONS]
    ep02 = next(r for r in rows if r.model == "m2" and r.condition == "EP02")
    pooled = next(p for p in analysis["models"]["m2"]["pooled"] if p["condition"] == "EP02")
    for key in ("diff", "ci_low", "ci_high", "method", "n_items"):
        assert ep02.vs_control[key] == pooled["fixed"][key], key
    assert ep02.vs_control["p"] == pooled["fixed"]["p_value"]
    cells = [r for r in records if r.model == "m2" and r.condition == "EP02"]
    valid = [r for r in cells if r.error is None]
    assert (ep02.cells, ep02.errors) == (len(cells), len(cells) - len(valid))
    assert ep02.accuracy == pytest.approx(sum(r.score for r in valid) / len(valid))
    assert ep02.parse_failure_rate == pytest.approx(sum(r.parsed is False for r in valid) / len(valid))
    assert ep02.vs_baseline["method"] == "paired-t" and 50 < ep02.vs_baseline["n_items"] <= 60
    generic = analysis["models"]["m2"]["generic"]["fixed"]
    pl01 = next(r for r in rows if r.model == "m2" and r.condition == "PL01")
    assert pl01.vs_baseline["diff"] == generic["diff"] and pl01.vs_control is None


def test_a_run_without_a_report_summarizes_counts_only_and_the_same_counts():
    records = made_records(3)
    described = summary_of_records(records, CONDITIONS)
    analysis = analyze(records_frame(records), AnalysisPlan(control="PL01", families=FAMILIES,
                                                            conditions=tuple(CONDITIONS), repeats=2)).to_dict()
    for light, full in zip(described, summary_of_analysis(analysis), strict=True):
        assert (light.model, light.condition, light.cells, light.errors) == \
            (full.model, full.condition, full.cells, full.errors)
        assert light.accuracy == pytest.approx(full.accuracy) and light.vs_baseline is None
    table = format_summary(described, "baseline", "PL01")
    assert "Δ vs" not in table


def test_a_condition_without_items_or_with_one_item_has_no_contrast():
    records = [record(0, "baseline", 1.0), record(0, "EP02", 0.0), record(1, "baseline", 1.0),
               record(1, "EP02", 1.0, error="timeout")]
    analysis = analyze(records_frame(records), AnalysisPlan(conditions=("baseline", "EP02", "NP01"),
                                                            families={"EP02": "emotionprompt"})).to_dict()
    by_name = {r.condition: r for r in summary_of_analysis(analysis)}
    assert by_name["EP02"].vs_baseline is None and by_name["EP02"].errors == 1
    assert by_name["NP01"].cells == 0 and math.isnan(by_name["NP01"].accuracy)
    assert by_name["baseline"].vs_control is None


def test_the_terminal_table_has_one_difference_column_when_the_control_is_the_baseline():
    made = [Record(key=f"{c}{i}", model="m", task="t", sample_id=str(i), condition=c, score=float(i % 2), parsed=True)
            for c in CONDITIONS for i in range(6)]
    frame = records_frame(made)
    one = format_summary(summary_of_analysis(analyze(frame, AnalysisPlan(conditions=tuple(CONDITIONS))).to_dict()),
                         "baseline", "baseline")
    two = format_summary(summary_of_analysis(analyze(frame, AnalysisPlan(control="PL01",
                                                                         conditions=tuple(CONDITIONS))).to_dict()),
                         "baseline", "PL01")
    assert one.splitlines()[0].count("Δ vs") == 1 and "Δ vs baseline" in one
    assert two.splitlines()[0].count("Δ vs") == 2 and "Δ vs PL01" in two
    assert len(one.splitlines()[3].split()) < len(two.splitlines()[3].split())  # EP02's row: one contrast fewer


def test_the_terminal_scale_comes_from_the_scores_not_from_their_means(tmp_path):
    """Scores of 0 or 2 averaging 0.6 are points, not 60%: as the report says."""
    assert Scale.of_values([0.0, 2.0, 0.0, 2.0, 0.0]) == Scale("points", 1.0, " points", 0.0, 2.0)
    (tmp_path / "items.jsonl").write_text("".join(f'{{"q": "q{i}", "a": "{2 if i % 3 == 0 else 0}"}}\n'
                                                   for i in range(10)))
    (tmp_path / "suite.toml").write_text('name = "points"\n[[task]]\nname = "pts"\ninstruction = "Say a number."\n'
                                         'scorer = "double"\nsource = { file = "items.jsonl", fields = '
                                         '{ input = "q", target = "a" } }\n')
    from emoprompt.registry import register_scorer, scorers
    from emoprompt.suites.scorers import Score

    register_scorer("double", lambda text, sample: Score(2.0 if sample.targets[0] == "2" else 0.0, True, True, text))
    try:
        result = CliRunner().invoke(cli, ["run", "--model", "scripted/echo", "--suite", str(tmp_path / "suite.toml"),
                                          "--limit", "all", "--condition", "baseline", "--condition", "PL01",
                                          "--out", str(tmp_path / "run"), "--no-progress"])
    finally:
        scorers.unregister("double")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "mean score" in lines[0] and "Δ vs baseline points" in lines[0]
    assert lines[2].split()[4] == "0.80" and "%" not in lines[2].split()[4]  # 0.8 points, not 80.0%
