"""The analysis worker: the same report as the in-process path, and a fallback when it fails; the summary is
the parent's own (pure Python) and equals the one the records give."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from emoprompt.runner.analysis_worker import AnalysisWorker, write_report
from emoprompt.summary import run_summary
from tests.conftest import REPO


def _api_run(loopback, out, *extra):
    env = os.environ | {"OPENAI_API_KEY": "sk-test", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "emoprompt", "run", "--model", "openai/test-model", "--api-base",
                           loopback.url, "--limit", "3", "--no-progress", "--out", str(out), *extra],
                          env=env, capture_output=True, text=True, timeout=300)


def test_the_worker_writes_the_in_process_report(loopback, tmp_path):
    result = _api_run(loopback, tmp_path / "run", "--no-report")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "run" / "analysis.json").exists()
    worker = AnalysisWorker().start()
    try:
        assert worker.report(tmp_path / "run", cells_ran=True)
    finally:
        worker.close()
    written = (tmp_path / "run" / "analysis.json").read_text()
    write_report(tmp_path / "run", cells_ran=True)
    assert json.loads((tmp_path / "run" / "analysis.json").read_text())["headline"] == json.loads(written)["headline"]
    conditions = ["baseline", "PL01", "EP02", "EP03", "NP01", "NP03"]
    in_process = run_summary(tmp_path / "run", conditions, "baseline", "PL01", 0.05, 1)
    assert in_process["records"] == 162
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["summary"] == in_process["summary"]  # what the CLI's process wrote into the manifest
    pooled = {row["condition"]: row for row in json.loads(written)["models"]["openai/test-model"]["pooled"]}
    for row in in_process["summary"]:  # the terminal's differences are the report's pooled contrasts
        if row["condition"] in pooled and row["vs_control"]:
            for key in ("diff", "ci_low", "ci_high"):
                assert row["vs_control"][key] == pytest.approx(pooled[row["condition"]]["fixed"][key], abs=1e-9)


def test_a_failing_worker_leaves_the_report_to_the_caller(tmp_path):
    (tmp_path / "bad").mkdir()  # no manifest: the worker answers with an error
    worker = AnalysisWorker().start()
    try:
        assert not worker.report(tmp_path / "bad", cells_ran=True)
    finally:
        worker.close()
    assert not AnalysisWorker().report(tmp_path, True)


def test_a_cli_run_reports_through_the_worker(loopback, tmp_path):
    result = _api_run(loopback, tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "Report:" in result.stdout and (tmp_path / "run" / "report.html").is_file()
    assert "Δ vs baseline" in result.stdout
