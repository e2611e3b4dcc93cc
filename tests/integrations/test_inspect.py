"""emoprompt conditions inside real inspect_ai evals against the loopback server: the solver, the `evaluate` helper
and the `inspect eval` command line, each checked against emoprompt's own run of the same cells."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness_cells import assert_same_statistics, own_run

from emoprompt.errors import UsageError

pytest.importorskip("inspect_ai", reason="needs emoprompt[inspect] (part of the dev extra)")

from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.log import read_eval_log
from inspect_ai.scorer import exact

from emoprompt.integrations.inspect import emoprompt_condition, evaluate

N = 12
STIMULUS = "This is very important to my career."


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def cells_task() -> Task:
    return Task(dataset=[Sample(id=i, input=f"Input: ans=w{i}", target=f"w{i}") for i in range(N)], scorer=exact(),
                name="echo")


def test_evaluate_under_three_conditions_equals_emoprompts_own_run(tmp_path, affect_server):
    run = evaluate(cells_task(), ["baseline", "PL01", "EP02"], "openai/test-model", out=tmp_path / "inspect",
                   model_base_url=affect_server.url, model_args={"responses_api": False})
    assert len(run.logs) == 3 and all(log.is_file() for log in run.logs)
    assert run.headline and "relative to PL01" in run.headline[0]
    assert run.report["html"].is_file()
    manifest = json.loads((run.run_dir / "manifest.json").read_text())
    assert [c["name"] for c in manifest["conditions"]] == ["baseline", "PL01", "EP02"]
    own = own_run(tmp_path / "own", affect_server.url, ["baseline", "PL01", "EP02"], N)
    assert_same_statistics(run.run_dir, own)


def test_heart_loops_inside_inspect_equal_emoprompts_own_heart_run(tmp_path, affect_server):
    run = evaluate(cells_task(), ["baseline", "heart"], "openai/test-model", out=tmp_path / "inspect",
                   model_base_url=affect_server.url, model_args={"responses_api": False})
    heart = next(read_eval_log(str(p)) for p in run.logs if "heart" in json.dumps(read_eval_log(str(p)).plan.steps[
        -1].params))
    looped = [s for s in heart.samples if s.metadata["emoprompt"]["calls"] > 1]
    assert looped, "some first answers are wrong, so HEART must give feedback"
    for sample in looped:
        trace = sample.metadata["emoprompt"]
        assert len(trace["feedback"]) == trace["calls"] - 1
        assert [m.role for m in sample.messages][:3] == ["user", "assistant", "user"]  # feedback turns logged
        assert sample.output.completion == trace["attempts"][-1]
    own = own_run(tmp_path / "own", affect_server.url, ["baseline", "heart"], N)
    assert_same_statistics(run.run_dir, own)


def test_the_solver_follows_the_condition_grammar_on_message_lists(tmp_path, loopback):
    sample = Sample(id=1, input=[{"role": "system", "content": "You are terse."},
                                 {"role": "user", "content": "Input: ans=w1"}], target="w1")
    task = Task(dataset=[sample], solver=emoprompt_condition("EP02@system+PL01"), scorer=exact())
    [log] = inspect_eval(task, model="openai/test-model", model_base_url=loopback.url, log_dir=str(tmp_path),
                         display="none", model_args={"responses_api": False})
    [answered] = log.samples
    system, user = answered.messages[0].text, answered.messages[1].text
    assert system.startswith("You are terse.") and STIMULUS in system
    assert user.startswith("Input: ans=w1 This question is one item")  # PL01 after the prompt
    assert log.plan.steps[-1].params["condition"] == "EP02@system+PL01"


def test_evaluate_refuses_an_empty_condition_list_and_a_used_folder(tmp_path):
    with pytest.raises(UsageError, match="at least one condition"):
        evaluate(cells_task(), [], "openai/test-model", out=tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "records.jsonl").write_text("{}\n")
    with pytest.raises(UsageError, match="already holds a run"):
        evaluate(cells_task(), ["baseline"], "openai/test-model", out=tmp_path)


TASK_FILE = '''
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import exact
from emoprompt.integrations.inspect import emoprompt_condition

@task
def cells(condition: str = "baseline"):
    samples = [Sample(id=i, input=f"Input: ans=w{i}", target=f"w{i}") for i in range(N)]
    return Task(dataset=samples, solver=emoprompt_condition(condition), scorer=exact())
'''


def test_inspect_eval_command_line_then_report_from_inspect(tmp_path, affect_server):
    (tmp_path / "cells.py").write_text(TASK_FILE.replace("range(N)", f"range({N})"))
    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    for condition, log_format in (("baseline", "eval"), ("EP02", "json")):
        command = [sys.executable, "-m", "inspect_ai", "eval", "cells.py", "-T", f"condition={condition}", "--model",
                   "openai/test-model", "--model-base-url", affect_server.url, "-M", "responses_api=false",
                   "--log-dir", "logs", "--log-format", log_format, "--display", "none"]
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    report = subprocess.run([sys.executable, "-m", "emoprompt", "report", "--from", "inspect", "logs", "--out",
                             "imported"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-2000:]
    assert f"{2 * N} records imported" in report.stderr
    own = own_run(tmp_path / "own", affect_server.url, ["baseline", "EP02"], N, task="cells")
    assert_same_statistics(tmp_path / "imported", own)
    assert Path(tmp_path / "imported" / "report.html").is_file()


def readme_block(after: str) -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("```python", readme.index(after)) + len("```python")
    return readme[start:readme.index("```", start)]


def test_the_readme_inspect_example_runs_as_written_against_an_openai_compatible_server(tmp_path, loopback):
    script = tmp_path / "example.py"
    script.write_text(readme_block("**inspect_ai**"))
    env = {**os.environ, "OPENAI_API_KEY": "EMPTY", "OPENAI_BASE_URL": loopback.url}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "across 1 task and 20 items" in done.stdout
    assert (tmp_path / "results" / "inspect" / "run" / "analysis.json").is_file()


def test_evaluate_names_a_missing_api_key_instead_of_exiting_silently(tmp_path, loopback, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(UsageError, match="OPENAI_API_KEY"):
        evaluate(cells_task(), ["baseline", "EP02"], model="openai/test-model", model_base_url=loopback.url,
                 out=tmp_path / "out")
