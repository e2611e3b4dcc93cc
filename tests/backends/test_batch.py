"""Batch APIs (OpenAI-compatible files + batches, Anthropic Message Batches) against a real loopback batch server:
results joined by custom_id, expired and failed lines as named error cells, limits respected, HEART round by
round, batch prices, and a kill between submit and poll that neither loses nor pays twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from emoprompt.backends import BackendOptions, resolve_backend
from emoprompt.backends.batch import MemoryJournal, OpenAIBatchBackend
from emoprompt.backends.context import RequestTag, tagged
from emoprompt.chat import GenerateConfig, Message
from emoprompt.cli import cli
from emoprompt.errors import UsageError
from emoprompt.runner.store import iter_records, read_manifest
from tests.loopback_server import LoopbackServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")


def _run(model: str, server: LoopbackServer, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", "--model", model, "--api-base", server.url, "--batch", "--batch-poll",
                                      "0.1", "--no-progress", "--no-report", "--out", str(out), *extra])
    return result.exit_code, result.output


def test_openai_batch_joins_answers_and_names_expired_and_failed_lines(keys, tmp_path):
    server = LoopbackServer(batch_delay_s=0.2, batch_expire_every=7, batch_fail_every=11).start()
    try:
        code, output = _run("openai/test-model", server, tmp_path / "run", "--limit", "4", "--no-cache")
    finally:
        server.stop()
    assert code == 3, output  # expired and failed lines are error cells
    records = list(iter_records(tmp_path / "run"))
    assert len(records) == 216 and server.batches_created == 1 and server.batch_lines == 216
    kinds = {r.error.kind for r in records if r.error}
    assert kinds == {"batch_expired", "batch_failed"}
    assert sum(1 for r in records if r.error and r.error.kind == "batch_expired") == 216 // 7
    answered = [r for r in records if not r.error]
    assert answered and all(r.response is not None for r in answered)
    manifest = read_manifest(tmp_path / "run")
    assert manifest.batches and manifest.batches[0]["batch_id"] == "batch_1"
    assert manifest.batches[0]["status"] == "joined" and manifest.batches[0]["requests"] == 216
    lines = (tmp_path / "run" / manifest.batches[0]["input"]).read_text().splitlines()
    assert {json.loads(line)["custom_id"] for line in lines} == {f"{r.key}-0" for r in records}
    assert json.loads(lines[0])["url"] == "/v1/chat/completions"  # the JSONL `vllm run-batch` reads


def test_batches_respect_the_size_limit_and_heart_goes_round_by_round(keys, tmp_path):
    server = LoopbackServer(batch_delay_s=0.05).start()
    try:
        code, output = _run("openai/test-model", server, tmp_path / "run", "--limit", "2", "--batch-size", "10",
                            "--condition", "baseline", "--condition", "heart", "--no-cache")
    finally:
        server.stop()
    assert code == 0, output
    manifest = read_manifest(tmp_path / "run")
    assert all(batch["requests"] <= 10 for batch in manifest.batches)
    position = {}  # custom_id → the index of the batch (in the order they were sent) that carried it
    for index, batch in enumerate(manifest.batches):
        for line in (tmp_path / "run" / batch["input"]).read_text().splitlines():
            position[json.loads(line)["custom_id"]] = index
    later_calls = [cid for cid in position if not cid.endswith("-0")]
    assert later_calls, "wrong HEART answers should have asked again"
    for cid in later_calls:  # a loop's next call goes in a batch sent after the one with its previous call
        cell, call = cid.rsplit("-", 1)
        assert position[cid] > position[f"{cell}-{int(call) - 1}"]
    records = list(iter_records(tmp_path / "run"))
    assert len(records) == 36 and not any(r.error for r in records)
    assert max(r.n_calls for r in records) > 1
    assert server.batch_lines == sum(r.n_calls for r in records)


def test_batch_cost_is_half_the_online_cost(keys, tmp_path):
    server = LoopbackServer(batch_delay_s=0.05).start()
    try:
        code, output = _run("openai/gpt-4o-mini", server, tmp_path / "batch", "--limit", "2", "--no-cache")
        assert code == 0, output
        online = CliRunner().invoke(cli, ["run", "--model", "openai/gpt-4o-mini", "--api-base", server.url,
                                          "--no-progress", "--no-report", "--out", str(tmp_path / "online"),
                                          "--limit", "2", "--no-cache"])
        assert online.exit_code == 0, online.output
    finally:
        server.stop()
    batch = sum(r.cost_usd or 0 for r in iter_records(tmp_path / "batch"))
    direct = sum(r.cost_usd or 0 for r in iter_records(tmp_path / "online"))
    assert direct > 0 and batch == pytest.approx(direct / 2, rel=1e-9)


def test_anthropic_message_batches(keys, tmp_path):
    server = LoopbackServer(batch_delay_s=0.1, batch_expire_every=9, batch_fail_every=13).start()
    try:
        result = CliRunner().invoke(cli, ["run", "--model", "anthropic/claude-haiku-4-5", "--api-base",
                                          f"http://127.0.0.1:{server.port}", "--batch", "--batch-poll", "0.1",
                                          "--no-progress", "--no-report", "--out", str(tmp_path / "run"),
                                          "--limit", "3", "--no-cache", "--condition", "baseline",
                                          "--condition", "EP02@system"])
    finally:
        server.stop()
    assert result.exit_code == 3, result.output  # expired and errored lines are error cells
    records = list(iter_records(tmp_path / "run"))
    assert len(records) == 54 and server.batches_created == 1
    assert {r.error.kind for r in records if r.error} == {"batch_expired", "batch_failed"}
    ok = [r for r in records if not r.error]
    assert all(r.cost_usd and r.cost_usd > 0 for r in ok)
    expected = ok[0].tokens_in * 5e-07 + ok[0].tokens_out * 2.5e-06  # litellm's batch prices for claude-haiku-4-5
    assert ok[0].cost_usd == pytest.approx(expected)
    manifest = read_manifest(tmp_path / "run")
    assert manifest.batches[0]["provider"] == "anthropic" and manifest.batches[0]["batch_id"].startswith("msgbatch_")


def test_a_batch_the_provider_failed_makes_every_cell_an_error(keys, tmp_path):
    server = LoopbackServer(batch_delay_s=0.05, batch_fail_whole=True).start()
    try:
        code, output = _run("openai/test-model", server, tmp_path / "run", "--limit", "1", "--no-cache")
    finally:
        server.stop()
    assert code == 3 and "every cell failed" in output, output
    records = list(iter_records(tmp_path / "run"))
    assert records and all(r.error and r.error.kind == "batch_failed" for r in records)
    assert "injected validation failure" in records[0].error.message


def test_a_kill_between_submit_and_poll_loses_nothing_and_pays_nothing_twice(tmp_path):
    server = LoopbackServer(batch_delay_s=4.0).start()
    env = os.environ | {"OPENAI_API_KEY": "sk-test", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "emoprompt", "run", "--model", "openai/test-model", "--api-base", server.url,
               "--batch", "--batch-poll", "0.2", "--no-progress", "--no-report", "--limit", "3", "--no-cache"]
    run_dir = tmp_path / "run"
    try:
        process = subprocess.Popen([*command, "--out", str(run_dir)], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            manifest = run_dir / "manifest.json"
            if manifest.is_file() and any(b.get("batch_id") for b in json.loads(manifest.read_text()).get(
                    "batches") or []):
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        assert server.batches_created == 1
        assert not list(iter_records(run_dir))
        resumed = subprocess.run([sys.executable, "-m", "emoprompt", "run", "--resume", str(run_dir), "--batch-poll",
                                  "0.2", "--no-progress", "--no-report", "--no-cache"], env=env,
                                 capture_output=True, text=True, timeout=120)
    finally:
        server.stop()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    records = list(iter_records(run_dir))
    assert len(records) == 162 and len({r.key for r in records}) == 162 and not any(r.error for r in records)
    assert server.batches_created == 1 and server.batch_lines == 162
    assert read_manifest(run_dir).batches[0]["status"] == "joined"


def test_a_create_call_lost_in_a_kill_is_found_again_not_resent(tmp_path):
    server = LoopbackServer(batch_delay_s=0.05).start()

    async def scenario() -> str:
        options = BackendOptions(batch=True, batch_poll_s=0.05)
        first = OpenAIBatchBackend("openai/test-model", server.url, options)
        journal = MemoryJournal()
        first.bind_run(journal)
        with tagged(RequestTag("c" * 24, "item", 0)):
            answer = await first.complete((Message("user", "Input: w1"),), GenerateConfig())
        await first.close()
        entry = dict(journal.batches[0])
        entry.pop("batch_id")
        entry["status"] = "creating"  # as if killed before the create call's answer came back
        journal.batches = [entry]
        second = OpenAIBatchBackend("openai/test-model", server.url, options)
        second.bind_run(journal)
        with tagged(RequestTag("c" * 24, "item", 0)):
            again = await second.complete((Message("user", "Input: w1"),), GenerateConfig())
        await second.close()
        assert again.text == answer.text
        return answer.text

    try:
        assert asyncio.run(scenario()) == "w1"
    finally:
        server.stop()
    assert server.batches_created == 1


def test_batch_is_for_api_models():
    with pytest.raises(UsageError, match="--batch"):
        resolve_backend("hf/smollm2", BackendOptions(batch=True))
    with pytest.raises(UsageError, match="--batch"):
        resolve_backend("gemini/gemini-2.0-flash", BackendOptions(batch=True))


@pytest.mark.parametrize("model, base", [("openai/gpt-4o-mini", "http://127.0.0.1:5/v1"),
                                         ("anthropic/claude-haiku-4-5", None),
                                         ("anthropic/claude-haiku-4-5", "http://127.0.0.1:5/")])
def test_batch_answers_share_the_online_identity(model, base):
    """A batch's answers are the model's answers: cached under the same identity as online calls."""
    online = resolve_backend(model, BackendOptions(api_base=base))
    batch = resolve_backend(model, BackendOptions(api_base=base, batch=True))
    assert batch.identity() == online.identity()
