"""The CI integrations of `emoprompt gate`, tested by running the very commands they run: the composite GitHub
Action's steps (action.yml) and the GitLab CI example in the README, on real run folders."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import yaml
from gate.gate_runs import run_folder

REPO = Path(__file__).resolve().parents[2]


def action_steps() -> tuple[dict, list[dict]]:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    return action, action["runs"]["steps"]


def run_action(inputs: dict[str, str], workdir: Path) -> tuple[int, dict[str, str], str]:
    """Run every step of action.yml as GitHub would: bash, the step's env with ${{ inputs.* }} filled in, the
    action's own path, an output file and a step summary file. Returns the last exit code, the outputs and the
    summary."""
    action, steps = action_steps()
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values.update(inputs)
    outputs, summary = workdir / "github_output", workdir / "step_summary"
    base = {**os.environ, "GITHUB_ACTION_PATH": str(REPO), "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(summary), "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                                          f"{os.environ.get('PATH', '')}"}
    code = 0
    for step in steps:
        env = {**base, **{key: re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values[m.group(1)], str(value))
                          for key, value in step.get("env", {}).items()}}
        assert step["shell"] == "bash"
        done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=workdir, env=env, capture_output=True,
                              text=True, timeout=300)
        code = done.returncode
        if code:
            break
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines()) if outputs.exists() else {}
    return code, written, summary.read_text() if summary.exists() else ""


def test_the_action_rejects_a_regression_and_reports_it(harmful, tmp_path):
    reference = run_folder(tmp_path / "old", harmful.url, ["baseline"], 100)
    candidate = run_folder(tmp_path / "new", harmful.url, ["EP02"], 100)
    code, outputs, summary = run_action({"reference": str(reference), "candidate": str(candidate)}, tmp_path)
    assert code == 10 and outputs["verdict"] == "REJECT"
    assert "## emoprompt gate: ❌ REJECT" in summary
    suite = ElementTree.parse(tmp_path / outputs["junit"]).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    assert (tmp_path / "emoprompt-gate.json").is_file()


def test_the_action_passes_an_inconclusive_verdict_only_when_asked(harmless, tmp_path):
    reference = run_folder(tmp_path / "old", harmless.url, ["baseline"], 20)
    candidate = run_folder(tmp_path / "new", harmless.url, ["EP02"], 20)
    inputs = {"reference": str(reference), "candidate": str(candidate)}
    code, outputs, _ = run_action(inputs, tmp_path)
    assert code == 11 and outputs["verdict"] == "INCONCLUSIVE"
    code, outputs, _ = run_action({**inputs, "inconclusive": "pass", "args": "--alpha 0.1"}, tmp_path)
    assert code == 0 and outputs["verdict"] == "INCONCLUSIVE"


def test_the_action_gates_other_harnesses_results(tmp_path):
    fixtures = REPO / "tests" / "importers" / "fixtures" / "lm-eval"
    code, outputs, _ = run_action({"reference": str(fixtures / "baseline"), "candidate": str(fixtures / "EP02"),
                                   "from": "lm-eval", "margin": "5pp"}, tmp_path)
    assert code == 11 and outputs["verdict"] == "INCONCLUSIVE"


def gitlab_example() -> dict:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```yaml\n(# \.gitlab-ci\.yml\n.*?)```", readme, re.S)
    assert block, "the README's GitLab CI example is gone"
    return yaml.safe_load(block.group(1))


def test_the_readme_gitlab_example_runs_and_its_allowed_exit_code_is_inconclusive(harmful, tmp_path):
    job = gitlab_example()["prompt-gate"]
    assert job["allow_failure"]["exit_codes"] == [11]
    assert job["artifacts"]["reports"]["junit"] == "gate.xml"
    run_folder(tmp_path / "m", harmful.url, ["baseline"], 80)
    run_folder(tmp_path / "c", harmful.url, ["EP02"], 80)
    (tmp_path / "results").mkdir()
    (tmp_path / "m" / "run").rename(tmp_path / "results" / "main")
    (tmp_path / "c" / "run").rename(tmp_path / "results" / "candidate")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    codes = []
    for line in job["script"]:
        if line.startswith("pip install"):
            continue  # installed already: the package under test
        codes.append(subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True,
                                    timeout=300).returncode)
    assert codes == [10]
    assert (tmp_path / "gate.xml").is_file() and "REJECT" in (tmp_path / "gate.md").read_text()
