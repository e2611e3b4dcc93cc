"""A run against a loopback server that fails 20% of requests in every way an API can: nothing crashes, failures
are error cells (never wrong answers), --retry-errors finishes them, and the result equals a fault-free run."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.loopback_server import LoopbackServer

FAULTS = ("429", "429-retry-after", "500", "503", "reset", "timeout", "malformed", "empty", "filter")


def subprocess_env() -> dict[str, str]:
    """The test's environment as it is when called (with the test's own cache folder), for emoprompt subprocesses.
    A copy taken at import would point every subprocess at the user's cache, where a recycled loopback port can
    serve another test's answers."""
    return os.environ | {"PYTHONPATH": "."}


def emoprompt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emoprompt", *args], capture_output=True, text=True,
                          env=subprocess_env(), timeout=300)


def run_arguments(url: str, out: Path, *extra: str) -> list[str]:
    return ["run", "--model", "openai/test-model", "--api-base", url, "--task", "sum", "--limit", "20",
            "--condition", "baseline", "--condition", "PL01", "--condition", "EP02", "--no-cache", "--no-progress",
            "--concurrency", "8", "--timeout", "0.5", "--backoff", "0.01", "--out", str(out), *extra]


def cell(record: dict) -> tuple:
    """A cell's identity apart from the server's address (the two servers here differ in port)."""
    return record["task"], record["sample_id"], record["condition"], record["repeat"]


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]


def test_faults_become_error_cells_then_retry_errors_completes(tmp_path):
    clean_server = LoopbackServer().start()
    try:
        assert emoprompt(*run_arguments(clean_server.url, tmp_path / "clean")).returncode == 0
    finally:
        clean_server.stop()
    reference = {cell(r): (r["response"], r["score"]) for r in records(tmp_path / "clean")}

    server = LoopbackServer(fault_rate=0.2, fault_kinds=FAULTS, seed=3).start()
    try:
        first = emoprompt(*run_arguments(server.url, tmp_path / "run", "--retries", "0"))
        assert first.returncode == 3, first.stderr  # finished with error cells
        assert first.stdout.strip().splitlines()[-1].endswith(f"--resume {tmp_path / 'run'} --retry-errors")
        errors = [r for r in records(tmp_path / "run") if r["error"]]
        assert errors, "a 20% fault rate with no retries must leave error cells"
        assert all(r["score"] is None and r["correct"] is None and r["response"] is None for r in errors)
        kinds = {r["error"]["kind"] for r in errors}
        assert len(kinds) >= 4, kinds
        assert f"{len(errors)} errors" in first.stdout and "--retry-errors" in first.stdout
        analysis = json.loads((tmp_path / "run" / "analysis.json").read_text())
        assert analysis["data"]["errors"] == len(errors) and "left out of the statistics" in analysis["warnings"][0]
        for _ in range(8):
            again = emoprompt("run", "--resume", str(tmp_path / "run"), "--retry-errors", "--no-progress",
                              "--retries", "3", "--backoff", "0.01", "--timeout", "0.5")
            left = any(r["error"] for r in records(tmp_path / "run"))
            assert again.returncode == (3 if left else 0), again.stderr
            if not left:
                break
        final = records(tmp_path / "run")
        assert len(final) == 60 and not any(r["error"] for r in final)
        assert {cell(r): (r["response"], r["score"]) for r in final} == reference
    finally:
        server.stop()


def test_transient_faults_are_absorbed_by_retries(tmp_path):
    server = LoopbackServer(fault_rate=0.2, fault_kinds=tuple(f for f in FAULTS if f != "filter"), seed=5).start()
    try:
        result = emoprompt(*run_arguments(server.url, tmp_path / "run", "--retries", "6"))
        assert result.returncode == 0, result.stderr
        assert len(records(tmp_path / "run")) == 60 and not any(r["error"] for r in records(tmp_path / "run"))
        assert server.requests > 60
    finally:
        server.stop()


def test_a_second_process_on_the_same_run_folder_is_refused(tmp_path):
    server = LoopbackServer(latency_s=0.2).start()
    try:
        out = tmp_path / "run"
        first = subprocess.Popen([sys.executable, "-m", "emoprompt", *run_arguments(server.url, out, "--concurrency",
                                                                                       "1")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=subprocess_env())
        while not (out / "records.jsonl").is_file():
            assert first.poll() is None
        second = emoprompt("run", "--resume", str(out), "--no-progress")
        assert second.returncode == 2 and "in use by another emoprompt process" in second.stderr
        first.terminate()
        first.wait()
        lines = (out / "records.jsonl").read_text().splitlines()
        keys = [json.loads(line)["key"] for line in lines]
        assert len(keys) == len(set(keys))
    finally:
        server.stop()
