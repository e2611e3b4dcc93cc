"""The README's main job on the real embedded model, as a user runs it (a subprocess), with a small limit."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import requires_model

pytestmark = [pytest.mark.model, requires_model]


def test_emoprompt_run_on_the_embedded_model(tmp_path, smollm2_folder):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "emoprompt", "run", "--limit", "3", "--task", "sum", "--task", "larger_number",
         "--out", str(out), "--no-progress"],
        capture_output=True, text=True, env=os.environ | {"PYTHONPATH": "."}, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "hf/smollm2" in result.stdout and "Δ vs baseline" in result.stdout
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert len(records) == 6 * 2 * 3
    assert all(r["error"] is None and r["response"] for r in records)
    assert sum(r["correct"] for r in records) > 0, "the model gets some larger_number items right"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["identity"]["models"]["hf/smollm2"]["model"] == "SmolLM2-135M-Instruct"
    assert manifest["status"] == "complete"


def test_heart_protocol_on_the_embedded_model(tmp_path, smollm2_folder):
    out = tmp_path / "heart"
    result = subprocess.run(
        [sys.executable, "-m", "emoprompt", "run", "heart", "--limit", "2", "--task", "sum", "--task", "larger_number",
         "--max-iters", "3", "--out", str(out), "--no-progress"],
        capture_output=True, text=True, env=os.environ | {"PYTHONPATH": "."}, timeout=900)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    loops = [r for r in records if r["condition"].startswith("heart")]
    assert len(loops) == 3 * 2 * 2 and all(1 <= len(r["attempt_scores"]) <= 3 for r in loops)
    assert all(r["n_calls"] == len(r["attempt_scores"]) for r in loops)
    assert any(len(r["calls"]) > 1 for r in loops if r["calls"])
    analysis = json.loads((out / "analysis.json").read_text())
    assert analysis["models"]["hf/smollm2"]["iterations"]["max_iters"] <= 3
    assert "ORACLE UPPER BOUND" in (out / "report.html").read_text()
