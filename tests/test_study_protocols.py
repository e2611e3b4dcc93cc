"""The prompt-tweak protocols end to end with `--limit` small: stand-in files in the published layouts (the real
data is gated or licensed), a loopback server that answers from the question, the report's per-question view."""

from __future__ import annotations

import json
import random
import re

import pytest
from click.testing import CliRunner

from emoprompt.cli import cli
from emoprompt.suites.study_sets import MIND_YOUR_TONE_INSTRUCTION
from tests.conftest import requires_model
from tests.loopback_server import LoopbackServer
from tests.suites.study_data import write_gpqa, write_mind_your_tone, write_mmlu_pro


def answering(seen: list[list[dict[str, str]]]):
    """Right 70% of the time, by reading the stand-in question's key; every request is kept."""
    draw = random.Random(0)

    def reply(messages: list[dict[str, str]]) -> str:
        seen.append(messages)
        text = [m for m in messages if m["role"] == "user"][-1]["content"]
        key = re.search(r"key: (\S+)", text).group(1)
        right = draw.random() < 0.7
        if "Choices:" in text:
            letters = {choice: letter for letter, choice in re.findall(r"^\(([A-J])\) (.+)$", text, re.M)}
            return f"The correct answer is ({letters[key] if right else 'A'})"
        return key if right else "D"

    return reply


@pytest.fixture
def stand_in_data(tmp_path):
    pytest.importorskip("pyarrow")
    write_gpqa(tmp_path, n=8)
    write_mmlu_pro(tmp_path, per_category=4)
    write_mind_your_tone(tmp_path, n=6)
    return tmp_path


def run_protocol(protocol, data, out, url, *extra):
    return CliRunner().invoke(cli, ["run", protocol, "--model", "openai/test-model", "--api-base", url, "--data-dir",
                                    str(data), "--limit", "3", "--repeats", "3", "--out", str(out), "--no-progress",
                                    *extra])


@pytest.mark.parametrize("protocol, conditions", [
    ("wharton-psr3", ["baseline", "TH01", "TH02", "TH03", "TH04", "TP02", "TP03"]),
    ("wharton-psr1", ["baseline", "TN12", "TN13"]),
    ("wharton-psr4", ["baseline", "PS01", "PS02", "PS03", "PS04"]),
])
def test_wharton_protocols_run_small(stand_in_data, tmp_path, protocol, conditions):
    seen: list = []
    server = LoopbackServer(reply=answering(seen)).start()
    try:
        result = run_protocol(protocol, stand_in_data, tmp_path / "run", server.url)
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert [c["name"] for c in manifest["conditions"]] == conditions
    assert any("unverified" in note or "secondary" in note for note in manifest["notes"])
    system = {m["content"] for messages in seen for m in messages if m["role"] == "system"}
    assert system == {"You are a very intelligent assistant, who follows instructions directly."}
    stimulus = next(m for messages in seen for m in messages if m["role"] == "user"
                    and m["content"].startswith(("If you get", "I order", "You are a 4-year-old")))
    assert "\nWhat is the correct answer" not in stimulus["content"]  # placed before the question, with a space
    report = (tmp_path / "run" / "report.md").read_text()
    assert "Per-question swings vs baseline, against repeat noise" in report
    analysis = json.loads((tmp_path / "run" / "analysis.json").read_text())
    assert "per-question effects spread" in " ".join(analysis["headline"])


def test_mind_your_tone_sends_the_authors_rewrites_in_their_call(stand_in_data, tmp_path):
    seen: list = []
    server = LoopbackServer(reply=answering(seen)).start()
    try:
        result = run_protocol("mind-your-tone", stand_in_data, tmp_path / "run", server.url)
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    users = [next(m["content"] for m in messages if m["role"] == "user") for messages in seen]
    assert all(u.startswith(MIND_YOUR_TONE_INSTRUCTION + "\n\n") for u in users)
    assert any("\n\nHey gofer, figure this out. What is stand-in fact" in u for u in users)
    assert any("\n\nWhat is stand-in fact" in u for u in users)  # the Normal rewrite: the baseline
    assert {m["content"] for messages in seen for m in messages if m["role"] == "system"} == {
        "You are an AI tutor answering multiple choice questions. Always reply with ONLY the letter of the correct "
        "answer (A, B, C, or D). Do not explain your answer."}
    records = [json.loads(line) for line in (tmp_path / "run" / "records.jsonl").read_text().splitlines()]
    assert {r["condition"] for r in records} == {"baseline", "rewrite:very-polite", "rewrite:polite", "rewrite:rude",
                                                 "rewrite:very-rude"}
    assert len(records) == 5 * 3 * 3 and all(r["error"] is None for r in records)
    replicate = CliRunner().invoke(cli, ["replicate", "mind-your-tone", "--run", str(tmp_path / "run")])
    assert replicate.exit_code == 0 and "rewrite:very-rude" in replicate.output


@requires_model
@pytest.mark.model
def test_mind_your_tone_on_the_embedded_model(stand_in_data, tmp_path):
    result = CliRunner().invoke(cli, ["run", "mind-your-tone", "--data-dir", str(stand_in_data), "--limit", "2",
                                      "--repeats", "2", "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Per-question swings" in (tmp_path / "run" / "report.md").read_text()
