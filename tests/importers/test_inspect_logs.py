"""The inspect importer on logs captured from real inspect_ai runs (an `.eval` and a `.json` log, see
fixtures/capture.py), through inspect_ai and through the documented format, against emoprompt's own run."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from harness_cells import assert_same_statistics, own_run

from emoprompt.cli import cli
from emoprompt.errors import UsageError
from emoprompt.importers import ImportOptions
from emoprompt.importers.checks import settle
from emoprompt.importers.inspect_logs import import_inspect, value_to_float

FIXTURES = Path(__file__).parent / "fixtures" / "inspect"
LOGS = [FIXTURES / "baseline.eval", FIXTURES / "EP02.json"]


def _cells(records):
    return {(r.condition, r.sample_id, r.repeat): (r.score, r.response) for r in records}


def test_pairs_by_sample_id_and_epoch_with_the_condition_from_the_plan():
    imported = import_inspect(LOGS, ImportOptions())
    cells = _cells(imported.records)
    assert len(cells) == 12 and {c for c, _, _ in cells} == {"baseline", "EP02"}
    assert {r.repeat for r in imported.records} == {0}
    for (_, item, _), (score, response) in cells.items():
        assert score == (1.0 if response == f"w{item}" else 0.0)
    assert all(r.tokens_out for r in imported.records)


def test_documented_format_reads_the_same_without_inspect_ai(monkeypatch):
    with_inspect = _cells(import_inspect(LOGS, ImportOptions()).records)
    monkeypatch.setitem(sys.modules, "inspect_ai.log", None)  # as if inspect_ai were not installed
    assert _cells(import_inspect(LOGS, ImportOptions()).records) == with_inspect


def test_a_folder_of_logs_reports_like_emoprompts_own_run(tmp_path, affect_server):
    logs = tmp_path / "logs"
    logs.mkdir()
    for log in LOGS:
        (logs / log.name).write_bytes(log.read_bytes())
    result = CliRunner().invoke(cli, ["report", "--from", "inspect", str(logs), "--out", str(tmp_path / "imported")])
    assert result.exit_code == 0, result.output
    own = own_run(tmp_path / "own", affect_server.url, ["baseline", "EP02"], 6)
    assert_same_statistics(tmp_path / "imported", own)


def test_errors_are_error_rows_and_epochs_are_repeats(tmp_path):
    data = json.loads((FIXTURES / "EP02.json").read_text())
    data["samples"][0]["error"] = {"message": "RateLimitError: too many requests", "traceback": "",
                                   "traceback_ansi": ""}
    data["samples"][0].pop("scores", None)
    data["samples"][1]["epoch"] = 2
    path = tmp_path / "EP02.json"
    path.write_text(json.dumps(data))
    records = import_inspect([path], ImportOptions()).records
    assert records[0].error is not None and records[0].score is None
    assert "RateLimitError" in records[0].error.message
    assert records[1].repeat == 1


def test_condition_rename_and_fallback_to_the_file_name(tmp_path):
    data = json.loads((FIXTURES / "EP02.json").read_text())
    data["plan"]["steps"] = [{"solver": "generate", "params": {}}]
    data["eval"].pop("metadata", None)
    path = tmp_path / "terse.json"
    path.write_text(json.dumps(data))
    assert {r.condition for r in import_inspect([path], ImportOptions()).records} == {"terse"}
    renamed = settle(import_inspect([path], ImportOptions()), ImportOptions(rename={"terse": "EP02"}))
    assert {r.condition for r in renamed.records} == {"EP02"}


@pytest.mark.parametrize(("value", "number"), [("C", 1.0), ("I", 0.0), ("P", 0.5), ("N", 0.0), (True, 1.0),
                                               ("yes", 1.0), ("0.25", 0.25), (3, 3.0), ({"a": 1}, None),
                                               ("nan", None), ("maybe", None)])
def test_score_values_read_as_inspect_reads_them(value, number):
    assert value_to_float(value) == number


def test_bad_logs_name_the_fix(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(UsageError, match="not an inspect log"):
        import_inspect([bad], ImportOptions())
    broken = tmp_path / "broken.eval"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("nothing.txt", "x")
    result = CliRunner().invoke(cli, ["report", "--from", "inspect", str(broken)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    with pytest.raises(UsageError, match="no scorer 'model_graded'"):
        import_inspect([FIXTURES / "EP02.json"], ImportOptions(settings={"metric": "model_graded"}))
