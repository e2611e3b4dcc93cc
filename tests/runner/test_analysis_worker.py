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


def test_the_warmed_worker_has_every_module_a_report_with_contrasts_imports(loopback, tmp_path):
    result = _api_run(loopback, tmp_path / "run", "--no-report")
    assert result.returncode == 0, result.stderr
    code = ("import sys, json\n"
            "from pathlib import Path\n"
            "from emoprompt.runner.analysis_worker import CONTRAST_MODULES, write_report\n"
            "import importlib, emoprompt.report.runs\n"
            "for name in CONTRAST_MODULES: importlib.import_module(name)\n"
            "before = set(sys.modules)\n"
            f"write_report(Path({str(tmp_path / 'run')!r}), True)\n"
            "late = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('scipy', 'statsmodels'))\n"
            "print(json.dumps(late))\n")
    env = os.environ | {"PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []  # nothing left to import once warmed


def test_a_baseline_only_report_needs_no_analysis_stack(loopback, tmp_path):
    result = _api_run(loopback, tmp_path / "run", "--no-report", "--condition", "baseline")
    assert result.returncode == 0, result.stderr
    code = ("import sys\nfrom pathlib import Path\nfrom emoprompt.runner.analysis_worker import write_report\n"
            f"write_report(Path({str(tmp_path / 'run')!r}), True)\n"
            "print(sorted(m for m in ('pandas', 'numpy', 'scipy', 'statsmodels') if m in sys.modules))\n")
    env = os.environ | {"PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]" and (tmp_path / "run" / "report.html").is_file()


@pytest.mark.parametrize(("flags", "worker"), [
    (["--condition", "baseline"], False), (["--condition", "baseline", "--condition", "PL01"], True),
    (["--condition", "emotionprompt"], True),  # a family name: several conditions
    (["EXPERIMENT"], False),  # an experiment file of one condition: started at once, stopped once planned
])
def test_the_worker_runs_only_for_runs_whose_report_needs_the_analysis_stack(loopback, tmp_path, monkeypatch,
                                                                            flags, worker):
    from click.testing import CliRunner

    from emoprompt.cli import cli

    experiment = tmp_path / "experiment.toml"
    experiment.write_text('conditions = ["PL01"]\n')
    seen = []
    report = AnalysisWorker.report
    monkeypatch.setattr(AnalysisWorker, "worthwhile", staticmethod(lambda: True))
    monkeypatch.setattr(AnalysisWorker, "report", lambda self, *args: seen.append(self.started) or report(self, *args))
    monkeypatch.setenv("EMOPROMPT_CACHE_DIR", str(tmp_path / "cache"))
    flags = [str(experiment) if flag == "EXPERIMENT" else flag for flag in flags]
    result = CliRunner().invoke(cli, ["run", *flags, "--model", "openai/test-model", "--api-base", loopback.url,
                                      "--limit", "2", "--no-progress", "--out", str(tmp_path / "run")],
                                env={"OPENAI_API_KEY": "sk-test"})
    assert result.exit_code == 0, result.output
    assert seen == [worker]
    assert (tmp_path / "run" / "report.html").is_file()


def _record_line(index):
    from emoprompt.schema import Record

    record = Record(key=f"k{index}", model="m", task="t", sample_id=str(index), condition="baseline", score=1.0,
                    parsed=True)
    return json.dumps(record.to_dict()) + "\n"


def test_the_follower_reads_appended_records_and_gives_up_on_anything_odd(tmp_path):
    import time

    from emoprompt.runner.analysis_worker import RecordFollower
    from emoprompt.runner.store import read_records

    run = tmp_path / "run"
    run.mkdir()
    follower = RecordFollower(run, interval_s=0.01)
    with (run / "records.jsonl").open("w") as handle:
        for index in range(30):
            line = _record_line(index)
            handle.write(line[:10])  # a line in two writes: only whole lines are taken
            handle.flush()
            time.sleep(0.002)
            handle.write(line[10:])
            handle.flush()
    followed = follower.records()
    assert followed == read_records(run) and len(followed) == 30

    follower = RecordFollower(run, interval_s=0.01)
    time.sleep(0.05)
    with (run / "records.jsonl").open("a") as handle:
        handle.write("not a record\n")
    assert follower.records() is None  # the report then reads the folder and names the line

    (run / "records.jsonl").write_text(_record_line(0) * 3)
    follower = RecordFollower(run, interval_s=0.01)
    time.sleep(0.05)
    (run / "records.jsonl").write_text(_record_line(1))  # shrank: rewritten under it
    assert follower.records() is None


def test_a_followed_run_reports_what_a_fresh_read_reports(loopback, tmp_path):
    result = _api_run(loopback, tmp_path / "run", "--condition", "baseline", "--condition", "PL01")
    assert result.returncode == 0, result.stderr
    followed = json.loads((tmp_path / "run" / "analysis.json").read_text())
    write_report(tmp_path / "run", cells_ran=True)
    fresh = json.loads((tmp_path / "run" / "analysis.json").read_text())
    assert followed["headline"] == fresh["headline"] and followed["data"] == fresh["data"]


def test_a_one_condition_run_reports_what_a_fresh_read_reports(loopback, tmp_path):
    result = _api_run(loopback, tmp_path / "run", "--condition", "baseline")
    assert result.returncode == 0, result.stderr
    followed = json.loads((tmp_path / "run" / "analysis.json").read_text())
    write_report(tmp_path / "run", cells_ran=True)
    assert followed == json.loads((tmp_path / "run" / "analysis.json").read_text())
    assert followed["data"]["records"] == 27


HEAVY = ("pandas", "numpy", "scipy", "statsmodels", "torch", "transformers", "litellm", "aiohttp", "yaml")


def _modules_after(argv, env):
    code = ("import json, runpy, sys\n"
            f"sys.argv = ['emoprompt', *{argv!r}]\n"
            "try:\n    runpy.run_module('emoprompt', run_name='__main__')\nexcept SystemExit as stop:\n"
            "    code = stop.code\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_api_run_and_help_import_no_heavy_library_in_their_own_process(loopback, tmp_path):
    env = os.environ | {"OPENAI_API_KEY": "sk-test", "PYTHONPATH": str(REPO)}
    argv = ["run", "--model", "openai/test-model", "--api-base", loopback.url, "--limit", "3", "--no-progress",
            "--out", str(tmp_path / "run")]
    assert _modules_after(argv, env) == []  # the summary is pure Python; the worker wrote the report
    assert (tmp_path / "run" / "report.html").is_file()
    assert _modules_after(["--help"], env) == []
