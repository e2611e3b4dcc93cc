"""The analysis worker: the same summary and report as the in-process path, and a fallback when it fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from emoprompt.runner.analysis_worker import AnalysisWorker, run_summary, write_report
from tests.conftest import REPO


def _api_run(loopback, out, *extra):
    env = os.environ | {"OPENAI_API_KEY": "sk-test", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "emoprompt", "run", "--model", "openai/test-model", "--api-base",
                           loopback.url, "--limit", "3", "--no-progress", "--out", str(out), *extra],
                          env=env, capture_output=True, text=True, timeout=300)


def test_the_worker_gives_the_in_process_summary_and_report(loopback, tmp_path):
    result = _api_run(loopback, tmp_path / "run", "--no-report")
    assert result.returncode == 0, result.stderr
    request = {"run_dir": str(tmp_path / "run"), "conditions": ["baseline", "PL01", "EP02", "EP03", "NP01", "NP03"],
               "baseline": "baseline", "control": "PL01", "alpha": 0.05, "repeats": 1}
    worker = AnalysisWorker().start()
    try:
        from_worker = worker.summary(request)
        assert worker.report(tmp_path / "run", cells_ran=True)
    finally:
        worker.close()
    in_process = run_summary(tmp_path / "run", request["conditions"], "baseline", "PL01", 0.05, 1)
    assert json.dumps(from_worker, sort_keys=True) == json.dumps(in_process, sort_keys=True)
    assert from_worker["records"] == 162
    written = (tmp_path / "run" / "analysis.json").read_text()
    write_report(tmp_path / "run", cells_ran=True)
    assert json.loads((tmp_path / "run" / "analysis.json").read_text())["headline"] == json.loads(written)["headline"]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["summary"] == in_process["summary"]  # what the CLI's worker wrote into the manifest


def test_a_failing_worker_leaves_the_work_to_the_caller(tmp_path):
    (tmp_path / "bad" / "records.jsonl").mkdir(parents=True)  # unreadable: the worker answers with an error
    worker = AnalysisWorker().start()
    try:
        assert worker.summary({"run_dir": str(tmp_path / "bad"), "conditions": [], "baseline": "baseline",
                               "control": "baseline", "alpha": 0.05, "repeats": 1}) is None
    finally:
        worker.close()
    closed = AnalysisWorker()
    assert closed.summary({}) is None and not closed.report(tmp_path, True)


def test_a_cli_run_reports_through_the_worker(loopback, tmp_path):
    result = _api_run(loopback, tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "Report:" in result.stdout and (tmp_path / "run" / "report.html").is_file()
    assert "Δ vs baseline" in result.stdout
