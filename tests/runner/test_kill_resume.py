"""kill -9 a real `emoprompt run` process against a loopback server, then resume: nothing lost or doubled."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.loopback_server import LoopbackServer

VOLATILE = {"time", "latency_s", "cached"}


def command(server: LoopbackServer, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "emoprompt", "run", "--model", "openai/test-model", "--api-base", server.url,
            "--task", "sum", "--task", "first_word_letter", "--limit", "10", "--condition", "baseline",
            "--condition", "PL01", "--condition", "EP02", "--condition", "NP01", "--concurrency", "4",
            "--no-cache", "--no-progress", "--out", str(out), *extra]


def stable(records_path: Path) -> dict[str, dict]:
    records = [json.loads(line) for line in records_path.read_text().splitlines()]
    return {r["key"]: {k: v for k, v in r.items() if k not in VOLATILE} for r in records}


@pytest.fixture(scope="module")
def server():
    server = LoopbackServer(latency_s=0.03).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def reference(server, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    subprocess.run(command(server, out), check=True, capture_output=True, env=os.environ | {"PYTHONPATH": "."})
    return stable(out / "records.jsonl")


@pytest.mark.parametrize("kill_after", [1, 9, 23, 57])
def test_kill_then_resume_equals_uninterrupted(server, reference, tmp_path, kill_after):
    out = tmp_path / "run"
    env = os.environ | {"PYTHONPATH": "."}
    process = subprocess.Popen(command(server, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    records = out / "records.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if records.is_file() and records.read_bytes().count(b"\n") >= kill_after:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = records.read_bytes().count(b"\n")
    assert written < 80, "the run finished before the kill; raise the server latency"
    resumed = subprocess.run([sys.executable, "-m", "emoprompt", "run", "--resume", str(out), "--no-progress"],
                             capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr
    keys = Counter(json.loads(line)["key"] for line in records.read_text().splitlines())
    assert len(keys) == 80 and set(keys.values()) == {1}
    assert stable(records) == reference
