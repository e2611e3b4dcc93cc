"""kill -9 a real `emoprompt run` process against a loopback server, then resume: nothing lost or doubled.

Ten seeded kill points across the run, plus kills in the middle of a records write (a process that dies after
writing half a line, through a wrapper around the real CLI). Each resumed run must equal an uninterrupted one.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.loopback_server import LoopbackServer

CELLS = 80
VOLATILE = {"time", "latency_s", "cached"}
KILL_POINTS = sorted(random.Random(2024).sample(range(1, CELLS - 5), 10))


def subprocess_env() -> dict[str, str]:
    """The test's environment as it is when called (with the test's own cache folder), for emoprompt subprocesses.
    A copy taken at import would point every subprocess at the user's cache, where a recycled loopback port can
    serve another test's answers."""
    return os.environ | {"PYTHONPATH": "."}

TORN_WRITE = """
import os, sys
from emoprompt.runner.store import RunStore
limit = int(sys.argv[1]); written = []
original = RunStore.append
def append(self, record):
    if len(written) == limit:
        line = __import__("json").dumps(record.to_dict())
        self._records.write(line[: len(line) // 2]); self._records.flush(); os._exit(137)
    written.append(1); original(self, record)
RunStore.append = append
sys.argv = ["emoprompt"] + sys.argv[2:]
from emoprompt.cli import main
main()
"""


def arguments(server: LoopbackServer, out: Path) -> list[str]:
    return ["run", "--model", "openai/test-model", "--api-base", server.url, "--task", "sum", "--task",
            "first_word_letter", "--limit", "10", "--condition", "baseline", "--condition", "PL01", "--condition",
            "EP02", "--condition", "NP01", "--concurrency", "4", "--no-cache", "--no-progress", "--out", str(out)]


def stable(records_path: Path) -> dict[str, dict]:
    records = [json.loads(line) for line in records_path.read_text().splitlines()]
    return {r["key"]: {k: v for k, v in r.items() if k not in VOLATILE} for r in records}


def resume_and_check(out: Path, reference: dict[str, dict]) -> None:
    resumed = subprocess.run([sys.executable, "-m", "emoprompt", "run", "--resume", str(out), "--no-progress"],
                             capture_output=True, text=True, env=subprocess_env())
    assert resumed.returncode == 0, resumed.stderr
    records = out / "records.jsonl"
    keys = Counter(json.loads(line)["key"] for line in records.read_text().splitlines())
    assert len(keys) == CELLS and set(keys.values()) == {1}
    assert stable(records) == reference


@pytest.fixture(scope="module")
def server():
    server = LoopbackServer(latency_s=0.03).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def reference(server, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    subprocess.run([sys.executable, "-m", "emoprompt", *arguments(server, out)], check=True, capture_output=True,
                   env=subprocess_env())
    return stable(out / "records.jsonl")


@pytest.mark.parametrize("kill_after", KILL_POINTS)
def test_kill_then_resume_equals_uninterrupted(server, reference, tmp_path, kill_after):
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "emoprompt", *arguments(server, out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=subprocess_env())
    records = out / "records.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if records.is_file() and records.read_bytes().count(b"\n") >= kill_after:
            break
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert records.read_bytes().count(b"\n") < CELLS, "the run finished before the kill; raise the server latency"
    resume_and_check(out, reference)


@pytest.mark.parametrize("torn_at", [0, 37])
def test_kill_in_the_middle_of_a_records_write(server, reference, tmp_path, torn_at):
    out = tmp_path / "run"
    crashed = subprocess.run([sys.executable, "-c", TORN_WRITE, str(torn_at), *arguments(server, out)],
                             capture_output=True, env=subprocess_env())
    assert crashed.returncode == 137
    assert not (out / "records.jsonl").read_bytes().endswith(b"\n"), "the crash left a torn line"
    resume_and_check(out, reference)
