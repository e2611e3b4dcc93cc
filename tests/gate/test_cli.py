"""`emoprompt gate` end to end: real runs against a loopback server, the verdict as the exit code, the outputs a
CI reads, and bad input as one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner
from gate.gate_runs import run_folder, write_experiment

from emoprompt.cli import cli

ALLOW, REJECT, INCONCLUSIVE, BAD_INPUT = 0, 10, 11, 2


def gate(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["gate", *args], env=env)
    return result.exit_code, result.output


def test_a_stimulus_that_breaks_a_quarter_of_the_items_is_rejected(harmful, tmp_path):
    reference = run_folder(tmp_path / "old", harmful.url, ["baseline"], 120)
    candidate = run_folder(tmp_path / "new", harmful.url, ["EP02"], 120)
    code, output = gate(str(reference), str(candidate), "--margin", "2pp")
    assert code == REJECT, output
    assert "REJECT" in output and "EP02 vs baseline" in output


def test_a_harmless_change_is_allowed_and_every_output_says_so(harmless, tmp_path):
    reference = run_folder(tmp_path / "old", harmless.url, ["baseline"], 150)
    candidate = run_folder(tmp_path / "new", harmless.url, ["EP02"], 150)
    summary = tmp_path / "step_summary.md"
    summary.write_text("# earlier step\n")
    code, output = gate(str(reference), str(candidate), "--margin", "5pp", "--json", str(tmp_path / "g.json"),
                        "--junit", str(tmp_path / "g.xml"), "--markdown", str(tmp_path / "g.md"),
                        env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert code == ALLOW, output
    report = json.loads((tmp_path / "g.json").read_text())
    assert report["verdict"] == "ALLOW" and report["exit_code"] == 0
    contrast = report["contrasts"][0]
    assert contrast["decision"]["n_items"] == 150 and contrast["decision"]["low"] > -0.05
    assert summary.read_text().startswith("# earlier step\n")  # appended, never overwritten
    assert "## emoprompt gate: ✅ ALLOW" in summary.read_text()
    suite = ElementTree.parse(tmp_path / "g.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("failures") == "0"


def test_too_few_items_is_inconclusive_and_says_how_many_more(harmless, tmp_path):
    reference = run_folder(tmp_path / "old", harmless.url, ["baseline"], 20)
    candidate = run_folder(tmp_path / "new", harmless.url, ["EP02"], 20)
    code, output = gate(str(reference), str(candidate), "--margin", "2pp", "--json", str(tmp_path / "g.json"))
    assert code == INCONCLUSIVE, output
    decision = json.loads((tmp_path / "g.json").read_text())["contrasts"][0]["decision"]
    assert decision["items_to_decide"] > 20
    assert f"{decision['items_to_decide'] - 20:,} more items" in output


def test_one_folder_gates_each_candidate_with_bonferroni_and_one_junit_case_each(harmful, tmp_path):
    run = run_folder(tmp_path / "both", harmful.url, ["baseline", "EP02", "PL01"], 120)
    code, output = gate(str(run), "--margin", "5pp", "--junit", str(tmp_path / "g.xml"))
    assert code == REJECT, output
    cases = ElementTree.parse(tmp_path / "g.xml").getroot().iter("testcase")
    verdicts = {case.get("name"): ("failure" if case.find("failure") is not None else
                                   "skipped" if case.find("skipped") is not None else "pass") for case in cases}
    assert verdicts["openai/test-model: EP02 vs baseline"] == "failure"
    assert verdicts["openai/test-model: PL01 vs baseline"] == "pass"
    assert "Bonferroni over 2 contrasts" in output


def test_an_experiment_is_run_then_gated(harmful, tmp_path):
    experiment = write_experiment(tmp_path, harmful.url, ["baseline", "EP02"], 80)
    code, output = gate(str(experiment), "--margin", "2pp", "--out", str(tmp_path / "run"))
    assert code == REJECT, output
    assert len((tmp_path / "run" / "records.jsonl").read_text().splitlines()) == 160


def test_sequential_stops_early_and_resumes_from_its_folder(harmful, tmp_path):
    experiment = write_experiment(tmp_path, harmful.url, ["baseline", "EP02"], 400)
    out = tmp_path / "run"
    code, output = gate(str(experiment), "--margin", "5pp", "--sequential", "--round", "20", "--out", str(out),
                        "--json", str(tmp_path / "g.json"))
    assert code == REJECT, output
    report = json.loads((tmp_path / "g.json").read_text())
    used = len((out / "records.jsonl").read_text().splitlines())
    assert used < 800 and report["calls"] == used  # stopped before the 400 items
    assert report["fixed_calls"] > used
    looks = report["contrasts"][0]["decision"]["looks"]
    assert [look["verdict"] for look in looks[:-1]] == ["INCONCLUSIVE"] * (len(looks) - 1)
    again_code, _ = gate(str(out), "--margin", "5pp", "--sequential", "--round", "20")
    assert again_code == REJECT and len((out / "records.jsonl").read_text().splitlines()) == used
    assert harmful.requests == used  # the second invocation asked nothing again


def test_max_calls_stops_inconclusive_and_a_higher_cap_continues(harmless, tmp_path):
    experiment = write_experiment(tmp_path, harmless.url, ["baseline", "EP02"], 600)
    out = tmp_path / "run"
    code, output = gate(str(experiment), "--margin", "2pp", "--sequential", "--round", "20", "--max-calls", "100",
                        "--out", str(out))
    assert code == INCONCLUSIVE, output
    assert len((out / "records.jsonl").read_text().splitlines()) == 100
    assert "more items" in output
    code, output = gate(str(out), "--margin", "2pp", "--sequential", "--round", "20", "--max-calls", "140")
    assert code == INCONCLUSIVE and len((out / "records.jsonl").read_text().splitlines()) == 140


@pytest.mark.parametrize("args, message", [
    (["--margin", "2 points"], "the scores are proportions"),
    (["--margin", "2"], "did you mean --margin 2pp"),
    (["--margin", "5%"], "give percentage points"),
    ([], "give --margin"),
])
def test_a_margin_in_the_wrong_unit_is_one_line_and_exit_2(harmless, tmp_path, args, message):
    reference = run_folder(tmp_path / "old", harmless.url, ["baseline"], 10)
    candidate = run_folder(tmp_path / "new", harmless.url, ["EP02"], 10)
    code, output = gate(str(reference), str(candidate), *args)
    assert code == BAD_INPUT and message in output
    assert len(output.strip().splitlines()) == 1 and "Traceback" not in output


def test_runs_sharing_no_items_and_empty_runs_are_refused(harmless, tmp_path):
    reference = run_folder(tmp_path / "old", harmless.url, ["baseline"], 10)
    other = tmp_path / "other"
    write_experiment(other, harmless.url, ["EP02"], 10)
    (other / "suite.toml").write_text((other / "suite.toml").read_text().replace('name = "echo"', 'name = "other"'))
    import emoprompt

    candidate = emoprompt.run(other / "experiment.toml", other / "run", report=False).path
    code, output = gate(str(reference), str(candidate), "--margin", "2pp")
    assert code == BAD_INPUT and "share no items" in output and "echo/0" in output and "other/0" in output
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "manifest.json").write_text((reference / "manifest.json").read_text())
    (empty / "records.jsonl").write_text("")
    code, output = gate(str(reference), str(empty), "--margin", "2pp")
    assert code == BAD_INPUT and "no records" in output


def test_other_harnesses_results_are_gated_paired_by_their_items():
    fixtures = Path(__file__).parents[1] / "importers" / "fixtures"
    code, output = gate("--from", "lm-eval", str(fixtures / "lm-eval" / "baseline"), str(fixtures / "lm-eval" / "EP02"),
                        "--margin", "5pp")
    assert code == INCONCLUSIVE and "EP02 vs baseline" in output and "on 6 items" in output
    code, output = gate("--from", "promptfoo", str(fixtures / "layouts" / "promptfoo-repeat" / "results.json"),
                        "--margin", "5pp")
    assert code == INCONCLUSIVE and "cold: EP02 vs baseline" in output and "warm: EP02 vs baseline" in output


def test_the_console_script_exits_with_the_verdict(harmful, tmp_path):
    reference = run_folder(tmp_path / "old", harmful.url, ["baseline"], 60)
    candidate = run_folder(tmp_path / "new", harmful.url, ["EP02"], 60)
    done = subprocess.run([sys.executable, "-m", "emoprompt", "gate", str(reference), str(candidate), "--margin",
                           "2pp"], capture_output=True, text=True, timeout=120)
    assert done.returncode == REJECT, done.stderr
