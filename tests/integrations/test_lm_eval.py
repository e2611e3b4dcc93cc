"""lm-eval tasks under emoprompt conditions: the real lm-eval command line (`python -m
emoprompt.integrations.lm_eval --model emoprompt`) against the loopback server under two conditions, then
`emoprompt report --from lm-eval`, checked against emoprompt's own run of the same cells."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness_cells import assert_same_statistics, own_run, write_items

pytest.importorskip("lm_eval", reason="needs emoprompt[lm-eval] (part of the dev extra)")

CAPTURE = Path(__file__).parent.parent / "importers" / "fixtures" / "capture.py"
N = 12


def _lm_eval_task(folder: Path, items: Path) -> Path:
    sys.path.insert(0, str(CAPTURE.parent))
    try:
        from capture import lm_eval_task
    finally:
        sys.path.remove(str(CAPTURE.parent))
    return lm_eval_task(folder, items)  # type: ignore[no-any-return]


def test_lm_eval_under_two_conditions_then_report_equals_emoprompts_own_run(tmp_path, affect_server):
    tasks = _lm_eval_task(tmp_path, write_items(tmp_path / "items.jsonl", N))
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "HF_DATASETS_OFFLINE": "1"}
    for condition in ("baseline", "EP02"):
        done = subprocess.run(
            [sys.executable, "-m", "emoprompt.integrations.lm_eval", "--model", "emoprompt", "--model_args",
             f"model=openai/test-model,condition={condition},api_base={affect_server.url}", "--tasks", "echo",
             "--include_path", str(tasks), "--output_path", str(tmp_path / condition), "--log_samples",
             "--apply_chat_template"], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    [samples] = (tmp_path / "EP02").rglob("samples_echo_*.jsonl")
    assert len(samples.read_text().splitlines()) == N
    report = subprocess.run([sys.executable, "-m", "emoprompt", "report", "--from", "lm-eval",
                             str(tmp_path / "baseline"), str(tmp_path / "EP02"), "--out", str(tmp_path / "imported")],
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-2000:]
    own = own_run(tmp_path / "own", affect_server.url, ["baseline", "EP02"], N)
    assert_same_statistics(tmp_path / "imported", own)
    assert affect_server.requests == 4 * N  # lm-eval's two runs and emoprompt's own, each cell once


def test_log_likelihood_tasks_are_refused_with_a_reason():
    from emoprompt.integrations.lm_eval import emoprompt_lm_class

    model = emoprompt_lm_class()(model="openai/test-model", api_base="http://127.0.0.1:9/v1")
    with pytest.raises(NotImplementedError, match="generate_until"):
        model.loglikelihood([])
