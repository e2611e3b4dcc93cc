"""Wording as a design factor end to end: `--paraphrases K` through the command line, resume, a model writing the
rewordings, the report's wording section and the planner."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from harness_cells import write_items
from loopback_server import LoopbackServer, default_reply

from emoprompt.cli import cli
from emoprompt.suites.paraphrase import bank

STIMULUS = "This is very important to my career."


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]


def test_every_condition_runs_on_every_wording_and_resume_is_exact(tmp_path):
    out = tmp_path / "run"
    args = ["run", "--model", "scripted/echo", "--task", "sum", "--task", "letters_list", "--limit", 4,
            "--condition", "baseline", "--condition", "PL01", "--condition", "EP02", "--paraphrases", 3, "--out", out,
            "--no-progress"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "× 3 wordings" in result.output
    rows = records(out)
    assert len(rows) == 2 * 4 * 3 * 3 and len({r["key"] for r in rows}) == len(rows)
    assert {r["paraphrase"] for r in rows} == {"p0", "p1", "p2"}
    first = rows[0]["sample_id"]
    sent = {(r["task"], r["paraphrase"], r["condition"]): r["messages"][-1]["content"] for r in rows
            if r["sample_id"] == first}
    assert bank()["sum"][1][0] in sent[("sum", "p1", "baseline")]
    assert "Sum the two given numbers." in sent[("sum", "p0", "baseline")]
    for wording in ("p0", "p1", "p2"):  # the stimulus goes to each wording the same way: after its instruction
        with_stimulus, without = sent[("sum", wording, "EP02")], sent[("sum", wording, "baseline")]
        assert STIMULUS in with_stimulus and with_stimulus.replace(" " + STIMULUS, "") == without
    again = invoke("run", "--resume", out, "--no-progress")
    assert again.exit_code == 0, again.output
    assert "0 cells run" in again.output and len(records(out)) == len(rows)
    analysis = json.loads((out / "analysis.json").read_text())
    assert analysis["data"]["wordings"] == 3 and analysis["data"]["K"] == 3
    assert analysis["models"]["scripted/echo"]["wording"]["wordings"] == ["p0", "p1", "p2"]
    assert "Effects across 3 wordings" in (out / "report.md").read_text()


def test_an_experiment_file_can_cross_format_variants_only(tmp_path):
    experiment = tmp_path / "e.toml"
    experiment.write_text('models = ["scripted/echo"]\ntasks = ["sum"]\nconditions = ["baseline", "EP02"]\n'
                          'limit = 3\nparaphrases = 2\nparaphrase_source = "format"\n')
    result = invoke("run", experiment, "--out", tmp_path / "run", "--no-progress")
    assert result.exit_code == 0, result.output
    rows = records(tmp_path / "run")
    first = {r["paraphrase"]: r["messages"][-1]["content"] for r in rows
             if r["condition"] == "baseline" and r["sample_id"] == rows[0]["sample_id"]}
    assert "Sum the two given numbers." in first["p0"] and "Sum the two given numbers." in first["p1"]
    assert first["p0"] != first["p1"]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["experiment"]["paraphrases"] == 2


def rewording_reply(messages):
    content = messages[-1]["content"]
    if content.startswith("Rewrite the following task instruction"):
        return "1. Please add the two numbers.\n2. Give the sum of both numbers.\n- Total the two numbers."
    return default_reply(messages)


def test_a_model_writes_the_rewordings_once_and_they_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server = LoopbackServer(reply=rewording_reply).start()
    try:
        out = tmp_path / "run"
        args = ["run", "--model", "openai/test-model", "--api-base", server.url, "--task", "sum", "--limit", 2,
                "--condition", "baseline", "--paraphrases", 3, "--paraphrase-source", "model:openai/test-model",
                "--out", out, "--no-progress"]
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["experiment"]["paraphrase_texts"] == {"sum": ["Please add the two numbers.",
                                                                      "Give the sum of both numbers."]}
        rows = records(out)
        sent = {r["paraphrase"]: r["messages"][-1]["content"] for r in rows if r["sample_id"] == rows[0]["sample_id"]}
        assert "Please add the two numbers." in sent["p1"] and "Give the sum of both numbers." in sent["p2"]
        asked = server.requests
        again = invoke("run", "--resume", out, "--no-progress")
        assert again.exit_code == 0, again.output
        assert server.requests == asked  # nothing asked again, the rewordings included
    finally:
        server.stop()


def test_wording_analysis_and_the_planner_on_a_loopback_pilot(tmp_path, affect_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    write_items(tmp_path / "items.jsonl", 30)
    (tmp_path / "suite.toml").write_text(
        'name = "cells"\ntemplate = "{instruction}\\nInput: {input}"\n'
        + "".join(f'[[task]]\nname = "{name}"\ninstruction = "Answer."\nscorer = "exact"\n'
                  'source = { file = "items.jsonl" }\n' for name in ("one", "two")))
    (tmp_path / "words.toml").write_text('one = ["Reply.", "Respond now.", "Give the answer."]\n'
                                         'two = ["Reply please.", "Say it.", "Respond."]\n')
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "--model", "openai/test-model", "--api-base", affect_server.url, "--suite", "suite.toml",
                    "--condition", "baseline", "--condition", "PL01", "--condition", "EP02", "--condition", "EP03",
                    "--limit", 30, "--paraphrases", 4, "--paraphrase-source", "words.toml", "--out", "pilot",
                    "--no-progress")
    assert result.exit_code == 0, result.output
    assert "With wording as a random factor (4 wordings of each task)" in result.output
    wording = json.loads((tmp_path / "pilot" / "analysis.json").read_text())["models"]["openai/test-model"]["wording"]
    baseline = next(s for s in wording["spread"] if s["condition"] == "baseline")
    assert baseline["range"] > 0
    ep02 = next(c for c in wording["contrasts"] if c["condition"] == "EP02")
    assert ep02["crossed"]["ci_high"] - ep02["crossed"]["ci_low"] >= ep02["items_only"]["ci_high"] - ep02[
        "items_only"]["ci_low"] - 1e-12
    assert 0 <= ep02["crossed"]["interaction_p"] <= 1
    plan = invoke("plan", "--pilot", "pilot", "--sesoi", 0.1)
    assert plan.exit_code == 0, plan.output
    assert "SD of a stimulus−control difference" in plan.output and "wordings" in plan.output
    assert "recommended:" in plan.output or "no design in the grid" in plan.output


def test_the_planner_refuses_a_run_without_wordings(tmp_path):
    result = invoke("run", "--model", "scripted/echo", "--task", "sum", "--limit", 3, "--out", tmp_path / "run",
                    "--no-progress")
    assert result.exit_code == 0, result.output
    refused = invoke("plan", "--pilot", tmp_path / "run")
    assert refused.exit_code == 2 and "--paraphrases 3" in refused.output


@pytest.mark.parametrize(("flags", "message"), [
    (["--paraphrases", "0"], "'--paraphrases': 0 is not in the range x>=1"),
    (["--paraphrases", "51"], "paraphrases must be between 1 and 50"),
    (["--paraphrases", "2", "--paraphrase-source", "thesaurus"], "is not one of bank"),
    (["--paraphrases", "9", "--paraphrase-source", "bank"], "has 5 rewordings for 8 paraphrases"),
])
def test_bad_wording_flags_are_one_line(tmp_path, flags, message):
    result = invoke("run", "--model", "scripted/echo", "--task", "sum", "--limit", 2, *flags, "--out",
                    tmp_path / "run")
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
