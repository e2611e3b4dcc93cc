"""Statistics and report II: one number per contrast everywhere, confounds in the headline, flags that agree with
the tests, honest zero-variance and small-sample answers, units, duplicates, α everywhere, prediction intervals that
cover, and layouts a reader can use. Hand-checked values and seeded simulations."""

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import emoprompt
from emoprompt.backends.scripted import ScriptedBackend
from emoprompt.cli import cli
from emoprompt.errors import UsageError
from emoprompt.report.render import write_report
from emoprompt.report.summary import summary_of_analysis
from emoprompt.schema import AnalysisPlan
from emoprompt.stats.analysis import analyze
from emoprompt.stats.contrast import contrast
from emoprompt.stats.paired import paired_t
from emoprompt.stats.pooled import random_effects

FAMILIES = {"baseline": "baseline", "placebo": "placebo", **{f"S{i}": "emotionprompt" for i in range(4)}}


def frame_from(rows):
    frame = pd.DataFrame(rows)
    for column, default in (("model", "m"), ("repeat", 0), ("parsed", True), ("error", None), ("tokens_out", 3),
                            ("tokens_in", 10), ("n_calls", 1), ("cost_usd", None), ("cached", False)):
        if column not in frame:
            frame[column] = default
    return frame


def synthetic(seed, tasks=3, items=80, effects=None, parse_effect=None, models=("m",), scores=None):
    rng = np.random.default_rng(seed)
    rows = []
    for model in models:
        for task in range(tasks):
            for item in range(items):
                ability = rng.normal(0, 1.2)
                for condition in FAMILIES:
                    logit = ability + (effects or {}).get(condition, 0.0)
                    parsed = not (parse_effect and condition in parse_effect and rng.random() < parse_effect[condition])
                    score = float(parsed and rng.random() < 1 / (1 + math.exp(-logit)))
                    if scores == "points":
                        score = round(1 + 9 / (1 + math.exp(-logit - rng.normal(0, 0.5))), 2)
                    rows.append({"model": model, "task": f"t{task}", "item": str(item), "condition": condition,
                                 "score": score, "parsed": parsed})
    return frame_from(rows)


def spec(**changes):
    return AnalysisPlan(**{"control": "placebo", "families": FAMILIES, "repeats": 1, **changes})


# --- 1. one estimate per contrast ------------------------------------------------------------------------------

def solver(chat, config):
    content = chat[-1].content
    words = next(x for x in content.splitlines() if x.startswith("Input:")).split()[1:]
    right = str(sum(map(int, words)))
    return right if ("career" in content or int(words[0]) % 3) else "0"


def answer(messages):
    """The loopback server's model: right when the career stimulus is there, else right on two items of three."""
    content = messages[-1]["content"]
    words = next(x for x in content.splitlines() if x.startswith("Input:")).split()[1:]
    return str(sum(map(int, words))) if ("career" in content or int(words[0]) % 3) else "0"


def test_terminal_report_and_analysis_give_one_number_per_contrast(tmp_path, monkeypatch):
    from tests.loopback_server import LoopbackServer

    server = LoopbackServer(reply=answer).start()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    try:
        printed = CliRunner().invoke(cli, ["run", "--model", "openai/test-model", "--api-base", server.url, "--task",
                                           "sum", "--limit", "60", "--condition", "baseline", "--condition", "PL01",
                                           "--condition", "EP02", "--condition", "NP01", "--out", str(tmp_path / "r"),
                                           "--no-progress"]).output
    finally:
        server.stop()
    result = emoprompt.load_run(tmp_path / "r")
    analysis = json.loads(result.report["analysis"].read_text())
    pooled = {row["condition"]: row for row in analysis["models"]["openai/test-model"]["pooled"]}
    summary = result.summary.set_index("condition")
    for condition in ("EP02", "NP01"):
        fixed = pooled[condition]["fixed"]
        assert summary.loc[condition, "vs_control_diff"] == pytest.approx(fixed["diff"])
        assert summary.loc[condition, "vs_control_ci_low"] == pytest.approx(fixed["ci_low"])
        assert summary.loc[condition, "vs_control_ci_high"] == pytest.approx(fixed["ci_high"])
        assert summary.loc[condition, "vs_control_p_value"] == pytest.approx(fixed["p_value"])
    ep02 = pooled["EP02"]["fixed"]
    shown = f"{100 * ep02['diff']:+.1f} [{100 * ep02['ci_low']:+.1f}, {100 * ep02['ci_high']:+.1f}]"
    assert shown in (tmp_path / "r" / "report.md").read_text()
    assert shown in printed and analysis["headline"][0] in printed  # the terminal prints the headline too


def test_an_all_tie_run_reports_the_same_honest_interval_everywhere():
    rows = [{"task": "t", "item": str(i), "condition": c, "score": 1.0}
            for i in range(30) for c in ("baseline", "placebo", "S0")]
    frame = frame_from(rows)
    families = {"baseline": "baseline", "placebo": "placebo", "S0": "emotionprompt"}
    analysis = analyze(frame, spec(families=families)).to_dict()
    fixed = analysis["models"]["m"]["pooled"][0]["fixed"]
    summary = summary_of_analysis(analysis)
    vs_control = next(r for r in summary if r.condition == "S0").vs_control
    assert fixed["ci_low"] < 0 < fixed["ci_high"] and fixed["ci_low"] == pytest.approx(vs_control["ci_low"])
    assert analysis["models"]["m"]["pooled"][0]["mde_80"] > 0.05


# --- 2. the headline names confounds ---------------------------------------------------------------------------

def test_the_headline_names_a_condition_that_changes_parse_failures(tmp_path):
    frame = synthetic(1, parse_effect={"S1": 0.25})
    analysis = analyze(frame, spec()).to_dict()
    confounds = [r for r in analysis["models"]["m"]["confounds"] if r["significant"]]
    assert [(r["measure"], r["condition"]) for r in confounds] == [("parse", "S1")]
    paths = write_report(tmp_path, analysis, {"title": "t"})
    headline = " ".join(json.loads(paths["analysis"].read_text())["headline"])
    assert "parse failures changed against placebo for S1 +" in headline and "S0" not in headline.split("Confound")[1]


# --- 3. D1: ∅ uses the reported test, so never ★ and ∅ together ------------------------------------------------

def test_five_discordant_pairs_one_way_are_significant_by_mid_p_and_not_flagged_unreachable():
    t, c = np.array([1] * 5 + [1] * 20 + [0] * 20), np.array([0] * 5 + [1] * 20 + [0] * 20)
    rows = [{"task": "t", "item": str(i), "condition": name, "score": float(v)}
            for i in range(45) for name, v in (("placebo", c[i]), ("S0", t[i]), ("baseline", c[i]))]
    analysis = analyze(frame_from(rows), spec(families={"baseline": "baseline", "placebo": "placebo",
                                                        "S0": "emotionprompt"})).to_dict()
    row = analysis["models"]["m"]["per_task"][0]
    assert row["p"] == pytest.approx(0.5**5) and row["significant_holm"] and not row["cannot_reach_significance"]


def test_never_significant_and_unreachable_on_one_row_across_seeded_families():
    for seed in range(12):
        analysis = analyze(synthetic(seed, tasks=4, items=25, effects={"S0": 1.2, "S1": 0.6}), spec()).to_dict()
        for model in analysis["models"].values():
            for row in model["per_task"]:
                assert not (row["significant_holm"] and row["cannot_reach_significance"]), row
            for row in model["pooled"]:
                assert not (row["confirmed"] and row["cannot_reach_significance"]), row


# --- 4. D2: zero variance is not certainty ---------------------------------------------------------------------

def test_two_items_that_moved_alike_are_not_evidence():
    result = paired_t(np.array([0.8, 0.8]), np.array([0.2, 0.2]))
    assert result.p_value == 0.5 and "moved alike" in result.method
    assert result.ci_low < 0 < result.ci_high  # the interval of the least variation two items could show
    assert paired_t(np.array([0.5, 0.5]), np.array([0.5, 0.5])).p_value == 1.0
    ten = paired_t(np.full(10, 0.6), np.full(10, 0.4))
    assert ten.p_value == pytest.approx(2 * 0.5**10)
    rows = [{"task": "t", "item": str(i), "condition": c, "score": s, "repeat": r}
            for i in range(2) for r in range(2) for c, s in (("baseline", 0.0), ("placebo", float(r == 0)),
                                                             ("S0", 1.0))]
    analysis = analyze(frame_from(rows), spec(repeats=2, families={"baseline": "baseline", "placebo": "placebo",
                                                                   "S0": "emotionprompt"})).to_dict()
    headline = " ".join(write_report_text(analysis))
    assert "evidence of an effect" not in headline.replace("no evidence of an effect", "")
    assert "p < 0.001" not in headline and "p = < 0.001" not in headline


def write_report_text(analysis):
    from emoprompt.report.text import headline

    return headline(analysis, {})


# --- 5. D3/D4: finite scores, and scores on their own scale ----------------------------------------------------

def test_scores_outside_zero_one_are_analysed_in_points(tmp_path):
    analysis = analyze(synthetic(3, scores="points", effects={"S0": 1.0}), spec(sesoi=0.5)).to_dict()
    assert analysis["data"]["scale"]["unit"] == "points"
    paths = write_report(tmp_path, analysis, {"title": "points"})
    markdown = paths["markdown"].read_text()
    assert "Δ points these tasks" in markdown and " pp" not in markdown.split("## Methods")[0]
    assert not re.search(r"\d{3,}\.\d%", markdown)  # never "574.5%"
    assert "%" not in (tmp_path / "heatmap-m.svg").read_text().split("</text>", 1)[1]
    assert "difference in points" in (tmp_path / "forest-m.svg").read_text()


def test_records_with_points_need_a_sesoi_in_points(tmp_path):
    path = tmp_path / "judge.csv"
    synthetic(3, scores="points").rename(columns={"item": "item"}).to_csv(path, index=False)
    refused = CliRunner().invoke(cli, ["report", "--records", str(path), "--control", "placebo"])
    assert refused.exit_code == 2 and "give the smallest effect of interest in those points with --sesoi" in \
        refused.output
    accepted = CliRunner().invoke(cli, ["report", "--records", str(path), "--control", "placebo", "--sesoi", "0.5"])
    assert accepted.exit_code == 0, accepted.output
    assert "points" in (tmp_path / "report.md").read_text()


# --- 6. D5: duplicates and K -----------------------------------------------------------------------------------

def test_a_duplicated_cell_is_an_error_naming_it_or_deduped_on_request(tmp_path):
    frame = synthetic(4, tasks=1, items=40)
    doubled = pd.concat([frame, frame.iloc[[7]]], ignore_index=True)
    with pytest.raises(UsageError, match=r"item '1', condition 'placebo', repeat 0;"):
        analyze(doubled, spec()).to_dict()
    path = tmp_path / "dup.csv"
    doubled.to_csv(path, index=False)
    result = CliRunner().invoke(cli, ["report", "--records", str(path), "--control", "placebo"])
    assert result.exit_code == 2 and "--dedupe" in result.output
    deduped = CliRunner().invoke(cli, ["report", "--records", str(path), "--control", "placebo", "--dedupe", "first"])
    assert deduped.exit_code == 0, deduped.output
    analysis = json.loads((tmp_path / "analysis.json").read_text())
    assert analysis["data"]["K"] == 1
    assert analysis["models"]["m"]["per_task"][0]["method"] == "mcnemar-midp/dirichlet"


def test_one_stray_repeat_does_not_change_the_design(tmp_path):
    frame = synthetic(6, tasks=1, items=60)
    stray = frame.iloc[[5]].assign(repeat=1, score=1 - frame.iloc[5]["score"])
    path = tmp_path / "stray.csv"
    pd.concat([frame, stray], ignore_index=True).to_csv(path, index=False)
    result = CliRunner().invoke(cli, ["report", "--records", str(path), "--control", "placebo"])
    assert result.exit_code == 0, result.output
    analysis = json.loads((tmp_path / "analysis.json").read_text())
    assert analysis["data"]["K"] == 1
    assert analysis["models"]["m"]["per_task"][0]["method"] == "mcnemar-midp/dirichlet"
    assert any("unbalanced repeats: 1 of" in w and "only the first of each is analysed" in w
               for w in analysis["warnings"])
    assert "K = 2" not in (tmp_path / "report.md").read_text()
    balanced = pd.concat([frame, frame.assign(repeat=1)], ignore_index=True)
    doubled = pd.concat([balanced, balanced.iloc[[0]].assign(repeat=2)], ignore_index=True)
    k2 = analyze(doubled, spec(repeats=None)).to_dict()
    assert k2["data"]["K"] == 2 and any("each item's mean uses the repeats it has" in w for w in k2["warnings"])


# --- 7. D6: α reaches everything -------------------------------------------------------------------------------

def test_alpha_reaches_every_interval_header_and_the_methods(tmp_path):
    frame = synthetic(5)
    analysis = analyze(frame, spec(alpha=0.01)).to_dict()
    row = analysis["models"]["m"]["pooled"][0]
    pairs = frame.pivot_table(index=["task", "item"], columns="condition", values="score")
    expected = contrast(pairs["S0"].to_numpy(), pairs["placebo"].to_numpy(), 1, 0.01, 0.03)
    assert (row["fixed"]["ci_low"], row["fixed"]["ci_high"]) == pytest.approx((expected.ci_low, expected.ci_high))
    paths = write_report(tmp_path, analysis, {"title": "a"})
    markdown = paths["markdown"].read_text()
    assert "99% CI" in markdown and "95%" not in markdown and "every interval is 99%" in markdown.lower()
    assert "99% CI" in (tmp_path / "forest-m.svg").read_text()


def test_report_alpha_and_control_apply_to_a_run_folder_or_are_refused(tmp_path):
    experiment = emoprompt.Experiment(models=["scripted/s"], tasks=["sum"], limit=20,
                                      conditions=["baseline", "PL01", "EP02"])
    emoprompt.run(experiment, out=tmp_path / "r", backends={"scripted/s": ScriptedBackend(reply=solver)},
                  report=False)
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "r"), "--alpha", "0.01", "--control", "baseline"])
    assert result.exit_code == 0, result.output
    analysis = json.loads((tmp_path / "r" / "analysis.json").read_text())
    assert analysis["spec"]["alpha"] == 0.01 and analysis["spec"]["control"] == "baseline"
    refused = CliRunner().invoke(cli, ["report", str(tmp_path / "r"), "--control", "PL09"])
    assert refused.exit_code == 2 and "--control 'PL09' is not a condition of this run" in refused.output


# --- 8. D7: a prediction interval that covers ------------------------------------------------------------------

def test_prediction_interval_covers_a_new_task_with_few_tasks():
    rng = np.random.default_rng(2026)
    for tau in (0.0, 0.03, 0.06):
        covered = old = 0
        simulations = 400
        for _ in range(simulations):
            variances = 0.0036 * rng.uniform(0.5, 1.5, 6)
            effects = rng.normal(0, tau, 6) + rng.normal(0, np.sqrt(variances))
            new_task = rng.normal(0, tau)
            result = random_effects(effects, variances)
            covered += result.pred_low <= new_task <= result.pred_high
            from scipy import stats
            se = (result.ci_high - result.diff) / stats.t.ppf(0.975, 5)
            half = stats.t.ppf(0.975, 4) * math.sqrt(result.tau2 + se**2)
            old += abs(new_task - result.diff) <= half
        assert covered / simulations >= 0.93, (tau, covered / simulations)
        if tau == 0.03:
            assert old / simulations < 0.93  # the point-estimate interval under-covers here


# --- 9. D8 and 11. D10: the paper-style table, the MDE's family, the words ----------------------------------------

def test_relative_changes_stand_beside_their_own_absolute_difference(tmp_path):
    analysis = analyze(synthetic(6, effects={"S0": 0.8, "placebo": 0.3}), spec()).to_dict()
    row = next(r for r in analysis["models"]["m"]["aggregate"] if r["condition"] == "S0")
    assert {"diff", "ci_low", "ci_high", "relative"} <= set(row["vs_baseline"]) <= {"diff", "ci_low", "ci_high",
                                                                                     "relative", "tasks"}
    assert set(row["vs_control"]) >= {"diff", "ci_low", "ci_high", "relative"}
    table = write_report(tmp_path, analysis, {"title": "x"})["markdown"].read_text()
    header = next(line for line in table.splitlines() if line.startswith("| condition | tasks | average"))
    cells = [cell.strip() for cell in header.strip("|").split("|")]
    for reference in ("placebo", "baseline"):
        assert cells[cells.index(f"Δ pp vs {reference} [95% CI]") + 1] == f"relative vs {reference}"


def test_the_mde_uses_the_holm_family_across_models():
    analysis = analyze(synthetic(7, models=("a", "b")), spec()).to_dict()
    pooled = [row for model in analysis["models"].values() for row in model["pooled"]]
    assert len(pooled) == 8 and {row["family_size"] for row in pooled} == {8}
    from emoprompt.stats.power import mde_paired

    row = pooled[0]
    var_d = (row["fixed"]["se"] ** 2) * row["n_items"]
    assert row["mde_80"] == pytest.approx(mde_paired(var_d, row["n_items"], 0.05, 0.8, 8), rel=1e-6)


def test_the_holm_sentence_names_the_whole_family_and_numbers_round_alike(tmp_path):
    analysis = analyze(synthetic(7, models=("a", "b")), spec()).to_dict()
    text = write_report(tmp_path, analysis, {"title": "x"})["markdown"].read_text()
    assert "over 8 pooled contrasts (4 of this model's, the family spanning every model)" in text
    from emoprompt.stats.scale import Scale

    assert Scale().diff(0.1125) == Scale().diff(0.11249999999999999) == "+11.3"
    assert Scale().diff(-0.1125) == "-11.3" and Scale().diff(-0.0001) == "+0.0" and Scale().score(0.00125) == "0.1%"


def test_words_read_right(tmp_path):
    analysis = analyze(synthetic(8, effects={"S0": 2.5}), spec(families={"baseline": "baseline", "placebo": "placebo",
                                                                         "S0": "emotionprompt", "S1": "control",
                                                                         "S2": "control", "S3": "control"})).to_dict()
    text = " ".join(write_report_text(analysis))
    assert "the 1 stimulus changed" in text and "1 stimuli" not in text and "= <" not in text


# --- 10. D9: a control missing in a task -----------------------------------------------------------------------

def test_a_task_without_the_control_is_named_and_not_counted():
    frame = synthetic(9, tasks=3)
    frame = frame[~((frame["task"] == "t2") & (frame["condition"] == "placebo"))]
    analysis = analyze(frame, spec()).to_dict()
    assert any("has no scores in task t2" in w for w in analysis["warnings"])
    primary = analysis["models"]["m"]["primary"]
    assert primary["n_tasks"] == 2 and "across 2 tasks" in write_report_text(analysis)[0]


# --- 12. layout ------------------------------------------------------------------------------------------------

def test_the_pooled_table_keeps_secondary_columns_folded_and_the_forest_shows_the_primary(tmp_path):
    analysis = analyze(synthetic(10), spec()).to_dict()
    paths = write_report(tmp_path, analysis, {"title": "layout"})
    html = paths["html"].read_text()
    main = html.split("Pooled over tasks: each condition", 1)[1].split("</table>", 1)[0]
    assert main.count("<th>") <= 10
    assert "<details><summary>Pooled over tasks: more columns" in html
    forest = (tmp_path / "forest-m.svg").read_text()
    assert "all stimuli (primary test)" in forest and 'width="100%"' in forest and "viewBox" in forest


def test_compare_says_what_differs(tmp_path):
    for name, temperature in (("a", 0.0), ("b", 0.7)):
        experiment = emoprompt.Experiment(models=["scripted/s"], tasks=["sum"], limit=10,
                                          conditions=["baseline", "EP02"],
                                          generation=emoprompt.GenerateConfig(temperature=temperature, max_tokens=24))
        emoprompt.run(experiment, out=tmp_path / name, backends={"scripted/s": ScriptedBackend(reply=solver)},
                      report=False)
    result = CliRunner().invoke(cli, ["compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "What differs:" in result.output and '"temperature": 0.7' in result.output.split("generation:")[1]
