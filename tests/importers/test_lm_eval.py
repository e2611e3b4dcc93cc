"""The lm-eval importer on files captured from real lm-eval runs (fixtures/capture.py), against emoprompt's own run
of the same cells."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from harness_cells import assert_same_statistics, own_run

from emoprompt.cli import cli
from emoprompt.errors import UsageError
from emoprompt.importers import ImportOptions
from emoprompt.importers.checks import settle
from emoprompt.importers.lm_eval import import_lm_eval

FIXTURES = Path(__file__).parent / "fixtures" / "lm-eval"


def test_pairs_by_task_and_doc_id_with_the_tasks_own_metric():
    imported = import_lm_eval([FIXTURES / "baseline", FIXTURES / "EP02"], ImportOptions())
    cells = {(r.condition, r.task, r.sample_id): r for r in imported.records}
    assert len(cells) == len(imported.records) == 12
    assert {c for c, _, _ in cells} == {"baseline", "EP02"}  # from the model's `condition` argument
    assert {r.metadata["metric"] for r in imported.records} == {"exact_match"}
    assert all(r.model == "openai/test-model" and r.task == "echo" for r in imported.records)
    for (condition, _, item), record in cells.items():
        assert record.score == (1.0 if record.response == f"w{item}" else 0.0), (condition, item)


def test_report_from_lm_eval_equals_emoprompts_own_run(tmp_path, affect_server):
    result = CliRunner().invoke(cli, ["report", "--from", "lm-eval", str(FIXTURES / "baseline"), str(FIXTURES / "EP02"),
                                      "--out", str(tmp_path / "imported")])
    assert result.exit_code == 0, result.output
    assert "12 records imported" in result.output
    manifest = json.loads((tmp_path / "imported" / "manifest.json").read_text())
    assert manifest["kind"] == "import" and manifest["analysis"]["baseline"] == "baseline"
    own = own_run(tmp_path / "own", affect_server.url, ["baseline", "EP02"], 6)
    assert_same_statistics(tmp_path / "imported", own)


def test_rename_and_metric_choice(tmp_path):
    options = ImportOptions(rename={"EP02": "career"}, settings={"metric": "exact_match"})
    imported = settle(import_lm_eval([FIXTURES / "baseline", FIXTURES / "EP02"], options), options)
    assert {r.condition for r in imported.records} == {"baseline", "career"}
    with pytest.raises(UsageError, match="no condition 'EP2'"):
        settle(import_lm_eval([FIXTURES / "EP02"], options), ImportOptions(rename={"EP2": "career"}))
    with pytest.raises(UsageError, match="no numeric 'bleu'"):
        import_lm_eval([FIXTURES / "baseline"], ImportOptions(settings={"metric": "bleu"}))


def test_condition_falls_back_to_the_folder_name(tmp_path):
    folder = tmp_path / "my-variant"
    shutil.copytree(FIXTURES / "EP02", folder)
    for results in folder.rglob("results_*.json"):
        data = json.loads(results.read_text())
        data["config"]["model_args"] = "pretrained=some/model"  # an ordinary lm-eval run: no condition argument
        results.write_text(json.dumps(data))
    assert {r.condition for r in import_lm_eval([folder], ImportOptions()).records} == {"my-variant"}


def test_bad_inputs_name_the_fix(tmp_path):
    with pytest.raises(UsageError, match="no lm-eval results_"):
        import_lm_eval([tmp_path], ImportOptions())
    folder = tmp_path / "run"
    shutil.copytree(FIXTURES / "baseline", folder)
    [samples] = folder.rglob("samples_*.jsonl")
    samples.write_text(samples.read_text() + "{not json\n")
    with pytest.raises(UsageError, match=r"samples_echo_.*\.jsonl:7: not a JSON sample"):
        import_lm_eval([folder], ImportOptions())
    result = CliRunner().invoke(cli, ["report", "--from", "lm-eval", str(folder)])
    assert result.exit_code == 2 and "Traceback" not in result.output

