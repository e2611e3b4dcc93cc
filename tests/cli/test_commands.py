import json

import pytest
from click.testing import CliRunner

from emoprompt.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_stimuli_list_and_show():
    listing = invoke("stimuli", "list", "--family", "negativeprompt")
    assert listing.exit_code == 0 and listing.output.count("\n") == 10
    shown = invoke("stimuli", "show", "NP04")
    assert shown.exit_code == 0 and "code pnum: 6 (unverified mapping)" in shown.output
    assert "Perhaps this task is just beyond your skill set." in shown.output


def test_suites_list_and_show():
    assert "builtin" in invoke("suites", "list").output
    shown = invoke("suites", "show", "builtin")
    assert shown.exit_code == 0 and "num_to_verbal" in shown.output and "Instruction: Sum" in shown.output


@pytest.mark.parametrize("args, message", [
    (["stimuli", "show", "EP2"], "unknown stimulus 'EP2'. Did you mean 'EP02'?"),
    (["run", "--condition", "EP2"], "Did you mean 'EP02'?"),
    (["run", "--suite", "bultin"], "Did you mean 'builtin'?"),
    (["run", "--task", "summ"], "Did you mean 'sum'?"),
    (["run", "--model", "opnai/gpt-4o"], "Did you mean 'openai'?"),
    (["run", "--model", "scripted/echo", "--placement", "sytem"], "Did you mean 'system'?"),
    (["run", "--model", "scripted/echo", "--repeats", "0"], "'--repeats': 0 is not in the range 1<=x<=1000"),
    (["run", "--model", "scripted/echo", "--limit", "-3"], "'--limit': must be 1 or more"),
    (["run", "--model", "scripted/echo", "--limit", "lots"], "'--limit': takes a number"),
    (["run", "--resume", "/nonexistent/run"], "is not an emoprompt run folder"),
    (["run", "--retry-errors"], "--retry-errors goes with --resume"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_api_key_and_unreachable_base_leave_no_run_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    missing = invoke("run", "--model", "openai/gpt-4o-mini", "--limit", "1", "--no-progress", "--out",
                     str(tmp_path / "a"))
    assert missing.exit_code == 2 and "export OPENAI_API_KEY" in missing.output and not (tmp_path / "a").exists()
    unreachable = invoke("run", "--model", "openai/x", "--api-base", "http://127.0.0.1:9/v1", "--limit", "1",
                         "--out", str(tmp_path / "b"))
    assert unreachable.exit_code == 2 and "cannot reach API base" in unreachable.output
    assert not (tmp_path / "b").exists()


def test_malformed_experiment_files_name_file_and_line(tmp_path):
    bad_toml = tmp_path / "exp.toml"
    bad_toml.write_text('models = ["scripted/echo"]\nrepeats = \n')
    result = invoke("run", str(bad_toml))
    assert result.exit_code == 2 and "exp.toml: malformed TOML" in result.output and "line 2" in result.output
    bad_yaml = tmp_path / "exp.yaml"
    bad_yaml.write_text("models: [scripted/echo\nrepeats: 2\n")
    result = invoke("run", str(bad_yaml))
    assert result.exit_code == 2 and "exp.yaml: malformed YAML at line" in result.output
    unknown = tmp_path / "u.toml"
    unknown.write_text('modles = ["scripted/echo"]\n')
    result = invoke("run", str(unknown))
    assert result.exit_code == 2 and "Did you mean 'models'" in result.output


def test_run_from_experiment_file_then_resume_and_refusals(tmp_path):
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("models: [scripted/echo]\ntasks: [sum]\nconditions: [baseline, placebo, EP02]\n"
                          "limit: 4\ngeneration:\n  max_tokens: 8\nanalysis:\n  sesoi: 0.05\n")
    out = tmp_path / "run"
    first = invoke("run", str(experiment), "--out", str(out), "--no-progress")
    assert first.exit_code == 0, first.output
    assert "Δ vs PL01" in first.output and "20 cells run" in first.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["experiment"]["analysis"]["sesoi"] == 0.05 and manifest["status"] == "complete"
    resumed = invoke("run", "--resume", str(out), "--no-progress")
    assert resumed.exit_code == 0 and "20 were done before" in resumed.output
    changed = invoke("run", "--resume", str(out), "--limit", "5")
    assert changed.exit_code == 2 and "drop --limit" in changed.output
    other = invoke("run", str(experiment), "--limit", "5", "--out", str(out))
    assert other.exit_code == 2 and "holds a different experiment" in other.output
