"""Importers on the harness layouts that are easy to misread, captured from real lm-eval, inspect_ai and promptfoo
runs (fixtures/capture_layouts.py): each per-condition number must equal the harness's own, and what was read must
be said."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from emoprompt.cli import cli
from emoprompt.errors import UsageError
from emoprompt.importers import ImportOptions
from emoprompt.importers.checks import aggregate_comparisons, settle
from emoprompt.importers.inspect_logs import import_inspect
from emoprompt.importers.lm_eval import import_lm_eval
from emoprompt.importers.promptfoo import import_promptfoo

LAYOUTS = Path(__file__).parent / "fixtures" / "layouts"


def imported(reader, paths, **settings):
    options = ImportOptions(settings=settings)
    return settle(reader(paths, options), options)


def means(records, *by):
    groups = defaultdict(list)
    for record in records:
        if record.score is not None:
            groups[tuple(getattr(record, field) for field in by)].append(record.score)
    return {key: sum(values) / len(values) for key, values in groups.items()}


def lm_eval_results(folder: Path) -> dict:
    return json.loads(next(folder.rglob("results_*.json")).read_text())["results"]


def both(layout: str) -> list[Path]:
    return [LAYOUTS / layout / "baseline", LAYOUTS / layout / "EP02"]


@pytest.mark.parametrize(("reader", "paths", "settings"), [
    (import_lm_eval, both("lm-eval-prefix"), {}),
    (import_lm_eval, both("lm-eval-group"), {}),
    (import_lm_eval, both("lm-eval-filters"), {}),
    (import_lm_eval, both("lm-eval-filters"), {"metric": "exact_match,flexible-extract"}),
    (import_inspect, [LAYOUTS / "inspect-epochs"], {}),
    (import_inspect, [LAYOUTS / "inspect-epochs"], {"metric": "exact"}),
    (import_inspect, [LAYOUTS / "inspect-shuffled"], {}),
    (import_promptfoo, [LAYOUTS / "promptfoo-repeat" / "results.json"], {}),
    (import_promptfoo, [LAYOUTS / "promptfoo-repeat" / "results.json"], {"metric": "score"}),
])
def test_every_imported_aggregate_equals_the_harness_own(reader, paths, settings):
    result = imported(reader, paths, **settings)
    rows = aggregate_comparisons(result)
    assert rows and all(row["equal"] for row in rows), rows
    assert not any("do not describe" in w for w in result.warnings)
    assert any("equal" in note for note in result.notes)


def test_lm_eval_tasks_sharing_a_prefix_each_read_their_own_samples():
    result = imported(import_lm_eval, both("lm-eval-prefix"))
    got = means(result.records, "condition", "task")
    for condition in ("baseline", "EP02"):
        for task, row in lm_eval_results(LAYOUTS / "lm-eval-prefix" / condition).items():
            assert got[(condition, task)] == pytest.approx(row["exact_match,none"])
    assert got[("baseline", "arith")] == 0.875  # the old prefix glob read arith_polite's samples: 0.625


def test_an_lm_eval_group_is_read_as_its_subtasks_never_as_a_task():
    result = imported(import_lm_eval, both("lm-eval-group"))
    assert {r.task for r in result.records} == {"arith_terse", "arith_polite"}
    assert len([r for r in result.records if r.condition == "baseline"]) == 16
    assert any("group arithgroup is read as its subtasks (arith_terse, arith_polite)" in n for n in result.notes)


def test_lm_eval_filters_default_to_the_first_named_and_can_be_chosen():
    default = imported(import_lm_eval, both("lm-eval-filters"))
    assert {r.metadata["filter"] for r in default.records} == {"strict-match"}
    assert any("filter strict-match" in n and "--metric exact_match,flexible-extract" in n for n in default.notes)
    flexible = imported(import_lm_eval, both("lm-eval-filters"), metric="exact_match,flexible-extract")
    harness = lm_eval_results(LAYOUTS / "lm-eval-filters" / "baseline")["gsm_like"]["exact_match,flexible-extract"]
    assert means(flexible.records, "condition")[("baseline",)] == pytest.approx(harness) == 0.875
    with pytest.raises(UsageError, match=r"no filter 'loose'.*strict-match, flexible-extract"):
        imported(import_lm_eval, both("lm-eval-filters"), metric="exact_match,loose")


@pytest.mark.parametrize(("pair", "conditions"), [("arith_terse=arith_polite", {"arith_terse", "arith_polite"}),
                                                  ("arith_*", {"terse", "polite"})])
def test_lm_eval_variants_written_as_tasks_pair_as_conditions(tmp_path, pair, conditions):
    result = CliRunner().invoke(cli, ["report", "--from", "lm-eval", str(LAYOUTS / "lm-eval-variants" / "plain"),
                                      "--conditions-from", "task", "--pair", pair, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    analysis = json.loads((tmp_path / "out" / "analysis.json").read_text())
    model = analysis["models"]["test-model"]
    assert {c["condition"] for c in model["conditions"]} == conditions
    assert analysis["data"]["tasks"] == ["arith"] and model["conditions"][0]["cells"] == 8
    assert "Conditions are the tasks" in (tmp_path / "out" / "report.md").read_text()


def test_nothing_pairing_names_the_keys_of_each_side(tmp_path):
    result = CliRunner().invoke(cli, ["report", "--from", "lm-eval", str(LAYOUTS / "lm-eval-variants" / "plain"),
                                      str(LAYOUTS / "lm-eval-filters" / "EP02"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "nothing pairs" in result.output and "plain: openai/test-model/arith_polite/0" in result.output
    assert "EP02: openai/test-model/gsm_like/0, openai/test-model/gsm_like/1" in result.output
    assert not (tmp_path / "out").exists()  # nothing half-written blocks a retry


def test_answers_reused_across_conditions_are_named_in_the_headline(tmp_path):
    cached = tmp_path / "EP02"
    shutil.copytree(LAYOUTS / "lm-eval-prefix" / "baseline", cached)  # what a shared --use_cache hands the 2nd run
    for results in cached.rglob("results_*.json"):
        data = json.loads(results.read_text())
        data["config"]["model_args"] = data["config"]["model_args"] | {"condition": "EP02"}
        results.write_text(json.dumps(data))
    result = CliRunner().invoke(cli, ["report", "--from", "lm-eval", str(LAYOUTS / "lm-eval-prefix" / "baseline"),
                                      str(cached), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    headline = json.loads((tmp_path / "out" / "analysis.json").read_text())["headline"]
    assert headline[0].startswith("Import warnings:") and "identical responses on all 16 shared items" in headline[0]


def test_lm_eval_use_cache_is_kept_per_model_arguments():
    from emoprompt.integrations.lm_eval import cache_per_model_arguments

    base = ["--model", "emoprompt", "--tasks", "gsm8k", "--use_cache", "cache/lm"]
    first = cache_per_model_arguments([*base, "--model_args", "model=m,condition=baseline"])
    second = cache_per_model_arguments([*base, "--model_args=model=m,condition=EP02"])
    assert first[5].startswith("cache/lm_") and second[5].startswith("cache/lm_") and first[5] != second[5]
    assert cache_per_model_arguments(base[:4]) == base[:4]


def test_inspect_ids_assigned_after_shuffling_are_repaired_by_content():
    result = imported(import_inspect, [LAYOUTS / "inspect-shuffled"])
    targets = defaultdict(set)
    for record in result.records:
        targets[record.sample_id].add(tuple(record.target or ()))
    assert len(targets) == 8 and all(len(t) == 1 for t in targets.values())
    assert any("paired by their input and target" in n for n in result.notes)


def test_inspect_epochs_follow_the_logs_reducer_and_the_scorer_is_named():
    result = imported(import_inspect, [LAYOUTS / "inspect-epochs"], metric="exact")
    assert {r.repeat for r in result.records} == {0} and len(result.records) == 16  # max of 3 epochs per sample
    assert any("scorer exact (the log also has includes" in n and "reduced by max" in n for n in result.notes)
    kept = imported(import_inspect, [LAYOUTS / "inspect-epochs"], metric="exact", reducer="mean")
    assert {r.repeat for r in kept.records} == {0, 1, 2}
    with pytest.raises(UsageError, match="--reducer mean, median"):
        imported(import_inspect, [LAYOUTS / "inspect-epochs"], reducer="pass_at_2")


def test_logs_of_failed_evals_are_left_out_with_a_warning():
    result = imported(import_inspect, [LAYOUTS / "inspect-epochs"])
    assert {r.condition for r in result.records} == {"baseline", "EP02"}
    assert any("PL01-failed.eval" in w and "did not finish" in w for w in result.warnings)
    with pytest.raises(UsageError, match="logs of evals that did not finish"):
        import_inspect([LAYOUTS / "inspect-epochs" / "PL01-failed.eval"], ImportOptions())


def test_promptfoo_repeats_are_repeats_and_pass_rate_is_the_default():
    path = LAYOUTS / "promptfoo-repeat" / "results.json"
    result = imported(import_promptfoo, [path])
    repeats = defaultdict(list)
    for record in result.records:
        repeats[(record.model, record.condition, record.sample_id)].append(record.repeat)
    assert len({r.sample_id for r in result.records}) == 8  # 16 testIdx values: each test case twice
    assert all(sorted(r) == [0, 1] for r in repeats.values())
    assert {r.model for r in result.records} == {"cold", "warm"}  # one provider id, two labels
    prompts = json.loads(path.read_text())["results"]["prompts"]
    cold = next(p for p in prompts if p["label"] == "baseline" and p["provider"] == "cold")["metrics"]
    ran = cold["testPassCount"] + cold["testFailCount"]
    assert means(result.records, "model", "condition")[("cold", "baseline")] == cold["testPassCount"] / ran
    scored = imported(import_promptfoo, [path], metric="score")
    assert means(scored.records, "model", "condition")[("cold", "baseline")] == pytest.approx(cold["score"] / ran)
    with pytest.raises(UsageError, match="not pass, score or a named score"):
        imported(import_promptfoo, [path], metric="passed")


def test_a_misspelt_rename_is_refused_and_a_prompt_with_equals_can_be_renamed(tmp_path):
    path = LAYOUTS / "promptfoo-repeat" / "results.json"
    bad = CliRunner().invoke(cli, ["report", "--from", "promptfoo", str(path), "--rename", "EP2=career",
                                   "--out", str(tmp_path / "a")])
    assert bad.exit_code == 2 and "no condition 'EP2'" in bad.output
    data = json.loads(path.read_text())
    for result in data["results"]["results"]:
        result["prompt"].pop("label")
    for prompt in data["results"]["prompts"]:
        prompt.pop("label")
    unlabelled = tmp_path / "raw.json"
    unlabelled.write_text(json.dumps(data))
    template = "Input: ans={{answer}} This is very important to my career."
    renamed = CliRunner().invoke(cli, ["report", "--from", "promptfoo", str(unlabelled), "--rename",
                                       f"{template}=career", "--rename", "Input: ans={{answer}}=baseline",
                                       "--out", str(tmp_path / "b")])
    assert renamed.exit_code == 0, renamed.output
    analysis = json.loads((tmp_path / "b" / "analysis.json").read_text())
    assert {c["condition"] for c in analysis["models"]["cold"]["conditions"]} == {"baseline", "career"}


def test_models_that_differ_only_by_a_provider_prefix_are_one_model(tmp_path):
    rows = [{"item": i, "condition": c, "score": (i + n) % 2, "model": m}
            for n, (c, m) in enumerate((("baseline", "fake"), ("EP02", "openai/fake"))) for i in range(10)]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = CliRunner().invoke(cli, ["report", "--from", "table", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    analysis = json.loads((tmp_path / "out" / "analysis.json").read_text())
    assert list(analysis["models"]) == ["openai/fake"]
    assert "differ only by a provider prefix" in result.output
