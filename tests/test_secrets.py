"""An API key planted in the environment never appears in anything emoprompt writes or prints."""

import os
import subprocess
import sys

from tests.loopback_server import LoopbackServer

SECRET = "sk-planted-SECRET-7c1f0e9a4b2d"


def test_planted_key_is_never_written(tmp_path):
    server = LoopbackServer(fault_rate=0.3, fault_kinds=("500", "401"), seed=1, echo_auth_in_errors=True).start()
    cache = tmp_path / "cache"
    env = os.environ | {"PYTHONPATH": ".", "OPENAI_API_KEY": SECRET, "EMOPROMPT_CACHE_DIR": str(cache)}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "emoprompt", "run", "--model", "openai/test-model", "--api-base", server.url,
             "--task", "sum", "--limit", "10", "--condition", "baseline", "--condition", "EP02", "--retries", "0",
             "--out", str(tmp_path / "run"), "--no-progress"], capture_output=True, text=True, env=env, timeout=300)
    finally:
        server.stop()
    assert result.returncode == 3, result.stderr  # the injected 500s and 401s are error cells
    assert any(header == f"Bearer {SECRET}" for header in server.authorization_seen), "the key must be used"
    assert SECRET not in result.stdout + result.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "records.jsonl" for p in written) and any(p.suffix == ".sqlite" for p in written)
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path
        assert b"7c1f0e9a4b2d" not in path.read_bytes(), path
