"""`emoprompt run` as a script sees it: documented exit codes, --dry-run, the accepted error share."""

from __future__ import annotations

from click.testing import CliRunner

from emoprompt.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_the_exit_codes_are_documented_in_the_help():
    result = invoke("run", "--help")
    assert result.exit_code == 0
    for line in ("Exit codes:", "0    every cell has an answer", "2    bad input", "3    the run finished with error",
                 "4    stopped at --max-cost", "5    stopped: the provider's rate limit"):
        assert line in result.output, line


def test_dry_run_prints_the_cost_table_and_runs_nothing(tmp_path):
    result = invoke("run", "--model", "openai/gpt-4o-mini", "--api-base", "http://127.0.0.1:9/v1", "--task", "sum",
                    "--limit", 3, "--condition", "baseline", "--condition", "heart", "--dry-run", "--out",
                    tmp_path / "r")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["model", "condition", "cells", "calls"]
    assert any(line.split()[1:4] == ["heart", "3", "12"] for line in lines)  # 3 cells × 4 attempts at most
    assert "cost --batch" in lines[0] and "$" in result.stdout and not (tmp_path / "r").exists()


def test_plan_of_an_experiment_prints_costs_then_power(tmp_path):
    experiment = tmp_path / "e.toml"
    experiment.write_text('models = ["openai/my-own-model"]\napi_base = "http://127.0.0.1:9/v1"\ntasks = ["sum"]\n'
                          'limit = 5\nconditions = ["baseline", "PL01", "EP02"]\n')
    result = invoke("plan", experiment)
    assert result.exit_code == 0, result.output
    assert "unknown" in result.output and "estimated at 4 characters a token" in result.output
    assert "minimum detectable effect" in result.output


def test_dry_run_refuses_resume(tmp_path):
    result = invoke("run", "--resume", tmp_path, "--dry-run")
    assert result.exit_code == 2 and "--dry-run plans a new run" in result.output
