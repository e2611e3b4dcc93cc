"""`emoprompt replicate`: a protocol's run beside the paper's numbers, with what the paper did not report."""

import json

import pytest
from click.testing import CliRunner

from emoprompt.cli import cli
from emoprompt.replication import reported
from tests.conftest import SHARED_DATA


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_every_number_carries_its_source_status():
    for protocol in ("emotionprompt-ii", "emotionprompt-bigbench", "negativeprompt-ii", "negativeprompt-bigbench"):
        paper = reported(protocol)
        assert paper["paper"] and paper["family"] in ("emotionprompt", "negativeprompt")
        for entry in paper.values():
            if isinstance(entry, dict) and "value" in entry:
                assert entry["status"] in ("abstract", "paper", "secondary")
    assert reported("emotionprompt-ii")["relative_improvement"]["value"] == 8.00
    assert reported("negativeprompt-bigbench")["relative_improvement"]["value"] == 46.25


@pytest.mark.skipif(not (SHARED_DATA / "instruction_induction").is_dir(), reason="needs ../shared/data")
def test_replicate_runs_the_protocol_and_sets_it_beside_the_paper(tmp_path):
    result = invoke("replicate", "emotionprompt-ii", "--model", "scripted/echo", "--limit", 2, "--data-dir",
                    SHARED_DATA, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "run" / "replication.md").read_text()
    assert "+8.00 (abstract)" in text and "51.65 (secondary)" in text and "EP02 (paper)" in text
    assert "pre-declared primary test" in text and "estimated on the other half" in text
    data = json.loads((tmp_path / "run" / "replication.json").read_text())
    assert data["stimuli"] == [f"EP{i:02d}" for i in range(1, 12)]
    ours = data["models"]["scripted/echo"]
    assert ours["original"] == pytest.approx(100 * next(
        row["mean_score"] for row in json.loads((tmp_path / "run" / "analysis.json").read_text())["models"][
            "scripted/echo"]["aggregate"] if row["condition"] == "baseline"))
    again = invoke("replicate", "emotionprompt-ii", "--run", tmp_path / "run")
    assert again.exit_code == 0 and "Replication:" in again.output


def test_replicate_refuses_what_it_cannot_tabulate(tmp_path):
    unknown = invoke("replicate", "emotionprompt-iii")
    assert unknown.exit_code == 2 and "Did you mean 'emotionprompt-ii'" in unknown.output
    run = invoke("run", "--model", "scripted/echo", "--task", "sum", "--limit", 2, "--condition", "baseline",
                 "--out", tmp_path / "run", "--no-progress")
    assert run.exit_code == 0, run.output
    refused = invoke("replicate", "emotionprompt-ii", "--run", tmp_path / "run")
    assert refused.exit_code == 2 and "ran no emotionprompt stimuli" in refused.output
