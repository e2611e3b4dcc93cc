"""The per-question view end to end: a run with repeats against a loopback server whose answers are noisy, where a
stimulus moves some questions up and others down (so the average barely moves); the report shows the swings
beside repeat noise and says in one sentence whether they exceed chance."""

from __future__ import annotations

import json
import random

import pytest
from gate.gate_runs import write_experiment
from loopback_server import LoopbackServer

import emoprompt


def noisy_answers(swinging: bool):
    """Item N is answered right with probability 0.9 (odd N) or 0.1 (even N); with the stimulus word, the first
    eight items swap those probabilities when `swinging`."""
    draw = random.Random(0)

    def reply(messages: list[dict[str, str]]) -> str:
        text = " ".join(m["content"] for m in messages if m["role"] == "user")
        answer = next((w[4:] for w in text.split() if w.startswith("ans=")), "")
        number = int(answer[1:])
        right = 0.9 if number % 2 else 0.1
        if swinging and "career" in text and number < 8:
            right = 1 - right
        return answer if draw.random() < right else "wrong"

    return reply


@pytest.mark.parametrize("swinging", [True, False])
def test_the_report_shows_swings_beside_repeat_noise(tmp_path, swinging):
    server = LoopbackServer(reply=noisy_answers(swinging)).start()
    try:
        path = write_experiment(tmp_path, server.url, ["baseline", "EP02"], 30)
        path.write_text(path.read_text() + "repeats = 10\n[generation]\ntemperature = 0.7\n")
        run = emoprompt.run(path, tmp_path / "run")
    finally:
        server.stop()
    analysis = json.loads((run.path / "analysis.json").read_text())
    view = analysis["models"]["openai/test-model"]["per_question"]
    swing = view["swings"][0]
    assert swing["condition"] == "EP02" and swing["n_items"] == 30 and swing["repeats"] == 10
    past_30 = swing["thresholds"][2]
    report = (run.path / "report.md").read_text()
    assert "Per-question swings vs baseline, against repeat noise" in report
    assert "Questions right in at least 100%, 90%, 51% of their runs" in report
    assert "questions moved vs repeat noise</text>" in (run.path / "report.html").read_text()
    headline = " ".join(analysis["headline"])
    if swinging:
        assert past_30["up"] + past_30["down"] >= 6 and past_30["p"] < 0.05
        assert "the swings of EP02 exceed chance" in headline
    else:
        assert past_30["p"] > 0.05
        assert "no stimulus's per-question swings exceed what chance gives" in headline
