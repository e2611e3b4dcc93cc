"""The promptfoo importer on the JSON of a real `promptfoo eval -o results.json` run (fixtures/capture.py), against
emoprompt's own run of the same cells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from harness_cells import assert_same_statistics, own_run

from emoprompt.cli import cli
from emoprompt.errors import UsageError
from emoprompt.importers import ImportOptions
from emoprompt.importers.promptfoo import import_promptfoo

RESULTS = Path(__file__).parent / "fixtures" / "promptfoo" / "results.json"


def test_prompts_are_conditions_and_test_cases_are_items():
    records = import_promptfoo([RESULTS], ImportOptions()).records
    assert len(records) == 12
    assert {r.condition for r in records} == {"baseline", "EP02"}
    assert {r.sample_id for r in records} == {str(i) for i in range(6)}
    assert {r.model for r in records} == {"openai:chat:test-model"}
    for record in records:
        assert record.score == (1.0 if record.response == f"w{record.sample_id}" else 0.0)


def test_report_from_promptfoo_equals_emoprompts_own_run(tmp_path, affect_server):
    result = CliRunner().invoke(cli, ["report", "--from", "promptfoo", str(RESULTS), "--out",
                                      str(tmp_path / "imported")])
    assert result.exit_code == 0, result.output
    own = own_run(tmp_path / "own", affect_server.url, ["baseline", "EP02"], 6)
    assert_same_statistics(tmp_path / "imported", own, model="openai:chat:test-model", own_model="openai/test-model")


def test_provider_errors_are_error_rows(tmp_path):
    data = json.loads(RESULTS.read_text())
    first = data["results"]["results"][0]
    first["response"] = {"error": "API error: 429 Too Many Requests"}
    first["failureReason"] = 2
    first["success"], first["score"] = False, 0
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    records = import_promptfoo([path], ImportOptions()).records
    assert records[0].error is not None and records[0].score is None and "429" in records[0].error.message


def test_not_promptfoo_output(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"results": 3}')
    with pytest.raises(UsageError, match="promptfoo"):
        import_promptfoo([path], ImportOptions())
