"""Reliability II against real processes and a hostile OpenAI-compatible server on loopback: replies that cannot
crash the writer, malformed 200s that become error cells and are never cached, keys that never reach the disk,
corruption with a way forward, atomic reports, signals, and exit codes that tell the truth."""

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.loopback_server import LoopbackServer


def subprocess_env() -> dict[str, str]:
    """The test's environment as it is when called (with the test's own cache folder), for emoprompt subprocesses.
    A copy taken at import would point every subprocess at the user's cache, where a recycled loopback port can
    serve another test's answers."""
    return os.environ | {"PYTHONPATH": "."}


def emoprompt(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "emoprompt", *map(str, args)], capture_output=True, text=True,
                          env=env or subprocess_env(), timeout=timeout)


def run_args(url, out, *extra, limit=6, conditions=("baseline", "EP02")):
    condition_flags = [flag for name in conditions for flag in ("--condition", name)]
    return ["run", "--model", "openai/test-model", "--api-base", url, "--task", "sum", "--limit", str(limit),
            *condition_flags, "--no-progress", "--no-report", "--backoff", "0.001", "--out", out, *extra]


def records(out):
    return [json.loads(line) for line in (Path(out) / "records.jsonl").read_text().splitlines()]


@pytest.fixture
def server():
    started = []

    def start(**options):
        instance = LoopbackServer(**options).start()
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.stop()


# --- 1. no reply can crash the writer --------------------------------------------------------------------------

def test_odd_characters_are_stored_safely_and_resume_never_crashes(server, tmp_path):
    faults = {1: "surrogate", 2: "nul", 3: "bad-utf8", 4: "surrogate"}
    hostile = server(faults=faults)
    first = emoprompt(*run_args(hostile.url, tmp_path / "r", "--concurrency", "1", "--retries", "0"))
    assert first.returncode == 3, first.stderr  # the bad-utf8 reply is an error cell
    rows = records(tmp_path / "r")
    assert len(rows) == 12
    texts = [r["response"] for r in rows if r["response"]]
    assert any("\ufffd" in text for text in texts) and any("\x00" in text for text in texts)
    assert any(r["error"] and r["error"]["kind"] == "malformed_response" for r in rows)  # invalid UTF-8
    (tmp_path / "r" / "records.jsonl").read_bytes().decode("utf-8")  # the file is valid UTF-8
    again = emoprompt("run", "--resume", tmp_path / "r", "--no-progress")
    assert again.returncode == 3, again.stderr  # resumed as it was: its error cell is still one
    cached = emoprompt(*run_args(hostile.url, tmp_path / "cached", "--concurrency", "1", "--retries", "0"))
    assert cached.returncode == 0, cached.stderr  # the surrogate reply came from the cache, scrubbed


def test_replies_over_the_size_limit_become_error_cells(server, tmp_path):
    hostile = server(faults={n: "huge" for n in range(1, 13)})
    result = emoprompt(*run_args(hostile.url, tmp_path / "r", "--max-response-chars", "100000"))
    rows = records(tmp_path / "r")
    assert {r["error"]["kind"] for r in rows} == {"response_too_large"}
    assert (tmp_path / "r" / "records.jsonl").stat().st_size < 100_000
    assert result.returncode == 3 and "response_too_large × 12" in result.stdout
    assert "raise --max-response-chars" in result.stdout


# --- 2. a malformed 200 reply is an error, never an answer, and never cached ----------------------------------

MALFORMED = ("empty-choice", "null-message", "text-choice", "no-content", "tool-calls", "empty", "malformed")


@pytest.mark.parametrize("model", ["openai/test-model", "litellm/openai/test-model"])
def test_malformed_replies_are_named_error_cells_that_retry_errors_fixes(server, tmp_path, model):
    hostile = server(faults={n: MALFORMED[(n - 1) % len(MALFORMED)] for n in range(1, 8)})
    arguments = run_args(hostile.url, tmp_path / "r", "--retries", "0", "--concurrency", "1", limit=4)
    arguments[arguments.index("openai/test-model")] = model
    first = emoprompt(*arguments)
    assert first.returncode == 3, first.stderr
    errors = [r for r in records(tmp_path / "r") if r["error"]]
    assert len(errors) == 7 and {r["error"]["kind"] for r in errors} <= {"malformed_response", "empty_choices"}
    assert all(r["response"] is None and r["score"] is None for r in errors)
    fixed = emoprompt("run", "--resume", tmp_path / "r", "--retry-errors", "--no-progress")
    assert fixed.returncode == 0, fixed.stderr
    rows = records(tmp_path / "r")
    assert len(rows) == 8 and not any(r["error"] for r in rows) and hostile.requests == 15


def test_impossible_token_counts_are_stored_as_unknown(server, tmp_path):
    hostile = server(faults={1: "bad-tokens"})
    assert emoprompt(*run_args(hostile.url, tmp_path / "r", "--concurrency", "1", limit=1)).returncode == 0
    first = records(tmp_path / "r")[0]
    assert first["tokens_in"] is None and first["tokens_out"] is None and first["response"] == "fine"


# --- 3. no key on disk ------------------------------------------------------------------------------------------

KEY = "sk-url-secret-4f2a9c"


def test_a_key_inside_the_api_base_is_never_written_and_files_are_owner_only(server, tmp_path):
    hostile = server(faults={1: "500"}, echo_auth_in_errors=True)
    url = hostile.url.replace("http://", f"http://user:{KEY}@") + f"?api_key={KEY}"
    cache = tmp_path / "cache"
    env = subprocess_env() | {"EMOPROMPT_CACHE_DIR": str(cache), "OPENAI_API_KEY": "abcd"}
    result = emoprompt(*run_args(url, tmp_path / "r", "--retries", "0"), env=env)
    assert result.returncode in (0, 3), result.stderr
    for path in [p for p in tmp_path.rglob("*") if p.is_file()]:
        assert KEY.encode() not in path.read_bytes(), path
        assert b"abcd" not in path.read_bytes() or path.suffix == ".sqlite", path
    assert KEY not in result.stdout + result.stderr
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert "[redacted]" in manifest["experiment"]["api_base"] and any("[redacted]" in a for a in manifest["command"])
    if os.name == "posix":
        assert stat.S_IMODE((tmp_path / "r").stat().st_mode) == 0o700
        for name in ("records.jsonl", "manifest.json"):
            assert stat.S_IMODE((tmp_path / "r" / name).stat().st_mode) == 0o600, name
        assert stat.S_IMODE(cache.stat().st_mode) == 0o700
        assert stat.S_IMODE((cache / "cache.sqlite").stat().st_mode) == 0o600
    refused = emoprompt("run", "--resume", tmp_path / "r", "--no-progress", env=env)
    assert refused.returncode == 2 and "carried credentials" in refused.stderr
    resumed = emoprompt("run", "--resume", tmp_path / "r", "--api-base", url, "--retry-errors", "--no-progress",
                        env=env)
    assert resumed.returncode == 0, resumed.stderr


AB_SCRIPT = """
import emoprompt, os, sys
test = emoprompt.ab(["baseline", "EP02"], sys.argv[1])

@test
def answer(prompt):
    if sys.argv[3] == "fail":
        raise RuntimeError("upstream said: key=" + os.environ["OPENAI_API_KEY"] + " Authorization: Bearer tok12345")
    return "ok"

for _ in range(int(sys.argv[2])):
    try:
        answer("question")
    except RuntimeError:
        pass
"""


@pytest.mark.parametrize("calls", [1, 20])
def test_ab_records_survive_exit_and_redact_short_keys(tmp_path, calls):
    script = tmp_path / "app.py"
    script.write_text(AB_SCRIPT)
    env = subprocess_env() | {"PYTHONPATH": str(Path.cwd()), "OPENAI_API_KEY": "k3y9"}
    for mode in ("ok", "fail"):
        folder = tmp_path / mode
        done = subprocess.run([sys.executable, str(script), str(folder), str(calls), mode], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        rows = records(folder)
        assert len(rows) == calls
        text = (folder / "records.jsonl").read_text()
        assert "k3y9" not in text and "tok12345" not in text
        if mode == "fail":
            assert all(r["error"]["kind"] == "RuntimeError" for r in rows)


def test_ab_never_appends_after_a_torn_line(tmp_path):
    folder = tmp_path / "ab"
    script = tmp_path / "app.py"
    script.write_text(AB_SCRIPT)
    env = subprocess_env() | {"PYTHONPATH": str(Path.cwd()), "OPENAI_API_KEY": "k3y9"}
    subprocess.run([sys.executable, str(script), str(folder), "3", "ok"], env=env, check=True, timeout=120)
    with (folder / "records.jsonl").open("a") as handle:
        handle.write('{"key": "torn", "mod')
    subprocess.run([sys.executable, str(script), str(folder), "2", "ok"], env=env, check=True, timeout=120)
    assert len(records(folder)) == 5


# --- 4. corruption anywhere: one line, exit 2, and a way forward ----------------------------------------------

@pytest.mark.parametrize("bad", ["garbage", "", "\udcff", "[1, 2]", '{"key": "x"}'])
def test_a_bad_line_names_file_and_line_then_repair_runs_its_cells_again(server, tmp_path, bad):
    healthy = server()
    out = tmp_path / "r"
    assert emoprompt(*run_args(healthy.url, out, "--no-cache")).returncode == 0
    lines = (out / "records.jsonl").read_bytes().splitlines(keepends=True)
    encoded = bad.encode("utf-8", "surrogateescape") + b"\n"
    (out / "records.jsonl").write_bytes(b"".join([*lines[:3], encoded, *lines[4:]]))
    before = (out / "manifest.json").read_text()
    refused = emoprompt("run", "--resume", out, "--no-progress")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "records.jsonl:4:" in refused.stderr and "--repair" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 2  # the status line, then the one error line
    assert (out / "manifest.json").read_text() == before  # not marked running before validation
    repaired = emoprompt("run", "--resume", out, "--repair", "--no-progress", "--no-cache")
    assert repaired.returncode == 0, repaired.stderr
    assert len(records(out)) == 12 and len({r["key"] for r in records(out)}) == 12
    rejected = [json.loads(line) for line in (out / "records.rejected.jsonl").read_text().splitlines()]
    assert len(rejected) == 1 and rejected[0]["line"] == 4


@pytest.mark.parametrize("content, message", [
    ("[]", "is not a manifest"), ("{}", "describes no experiment"),
    ('{"schema_version": 2, "run_id": "r", "experiment": null}', "experiment must be an object"),
    ("{not json", "is corrupt"),
])
def test_bad_manifests_get_one_line(tmp_path, content, message):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "manifest.json").write_text(content)
    result = emoprompt("run", "--resume", tmp_path / "r", "--no-progress")
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    reported = emoprompt("report", tmp_path / "r")
    assert reported.returncode == 2 and "Traceback" not in reported.stderr


def test_a_records_folder_and_a_symlinked_lock_are_refused_without_harm(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    out = tmp_path / "r"
    out.mkdir()
    (out / ".lock").symlink_to(target)
    linked = emoprompt("run", "--model", "scripted/echo", "--limit", "1", "--out", out, "--no-progress")
    assert linked.returncode == 2 and "symbolic link" in linked.stderr and target.read_text() == "keep me"
    (out / ".lock").unlink()
    (out / "records.jsonl").mkdir()
    folder = emoprompt("run", "--model", "scripted/echo", "--limit", "1", "--out", out, "--no-progress")
    assert folder.returncode == 2 and "is a folder" in folder.stderr


def test_a_damaged_cache_is_set_aside_and_reported(server, tmp_path):
    healthy = server()
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "cache.sqlite").write_bytes(b"this is not a database" * 100)
    env = subprocess_env() | {"EMOPROMPT_CACHE_DIR": str(cache)}
    result = emoprompt(*run_args(healthy.url, tmp_path / "r"), env=env)
    assert result.returncode == 0, result.stderr
    assert "response cache was damaged" in result.stderr and len(records(tmp_path / "r")) == 12
    assert list(cache.glob("cache.sqlite.damaged-*"))
    with sqlite3.connect(cache / "cache.sqlite") as database:
        assert database.execute("SELECT count(*) FROM completions").fetchone()[0] == 12
        database.execute("UPDATE completions SET value = 'garbage'")
    again = emoprompt(*run_args(healthy.url, tmp_path / "again"), env=env)
    assert again.returncode == 0 and "12 damaged cache entries were dropped" in again.stderr
    assert healthy.requests == 24


# --- 5. atomic outputs ------------------------------------------------------------------------------------------

def test_resume_rewrites_a_truncated_report(tmp_path):
    out = tmp_path / "r"
    assert emoprompt("run", "--model", "scripted/echo", "--task", "sum", "--limit", "3", "--out", out,
                     "--no-progress").returncode == 0
    html = (out / "report.html").read_text()
    (out / "report.html").write_text(html[: len(html) // 2])
    resumed = emoprompt("run", "--resume", out, "--no-progress")
    assert resumed.returncode == 0 and "Report:" in resumed.stdout
    assert (out / "report.html").read_text() == html
    assert not list(out.glob(".*.partial*"))
    if os.name == "posix":
        for name in ("report.html", "report.md", "analysis.json"):
            assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name


# --- 7. signals -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("signals", [(signal.SIGTERM,), (signal.SIGINT, signal.SIGINT)])
def test_signals_stop_cleanly_and_the_run_resumes(server, tmp_path, signals):
    slow = server(latency_s=0.2)
    out = tmp_path / "r"
    process = subprocess.Popen([sys.executable, "-m", "emoprompt", *map(str, run_args(
        slow.url, out, "--no-cache", "--concurrency", "2", limit=40))], env=subprocess_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not (out / "records.jsonl").is_file()
                                           or len((out / "records.jsonl").read_text().splitlines()) < 4):
        time.sleep(0.05)
    for signum in signals:
        process.send_signal(signum)
        time.sleep(0.05)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signals[0], stderr
    assert "Traceback" not in stderr and "emoprompt run --resume" in stderr
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    partial = records(out)
    assert 4 <= len(partial) < 80
    resumed = emoprompt("run", "--resume", out, "--no-progress", "--no-cache")
    assert resumed.returncode == 0, resumed.stderr
    rows = records(out)
    assert len(rows) == 80 and len({r["key"] for r in rows}) == 80


# --- 9. exit codes that tell the truth -------------------------------------------------------------------------

def test_a_run_where_every_cell_failed_exits_non_zero_with_the_cause(server, tmp_path):
    missing = server(faults={n: "404" for n in range(1, 100)})
    result = emoprompt(*run_args(missing.url, tmp_path / "r", "--retries", "0"))
    assert result.returncode == 3
    assert result.stdout.strip().splitlines()[-1].startswith("12 of 12 cells failed (not_found × 12)")
    assert "not_found × 12: HTTP 404" in result.stdout and "check --api-base" in result.stdout
    assert "every cell failed" in result.stderr


def test_a_run_with_some_failed_cells_says_how_many_and_which(server, tmp_path):
    flaky = server(faults={1: "401", 2: "500"})
    result = emoprompt(*run_args(flaky.url, tmp_path / "r", "--retries", "0", "--concurrency", "1"))
    assert result.returncode == 3
    accepting = emoprompt("run", "--resume", str(tmp_path / "r"), "--max-error-rate", "0.2", "--no-progress")
    assert accepting.returncode == 0, accepting.stdout  # 2 of 12 failed: within the accepted share
    assert "2 of 12 cells failed" in result.stdout and "auth × 1" in result.stdout
    assert "server_error × 1" in result.stdout


def test_a_missing_key_leaves_no_run_folder(tmp_path):
    env = {k: v for k, v in subprocess_env().items()
           if k not in ("OPENAI_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL")}
    result = emoprompt("run", "--model", "openai/gpt-4o-mini", "--limit", "1", "--out", tmp_path / "r", env=env)
    assert result.returncode == 2 and "needs OPENAI_API_KEY" in result.stderr
    assert not (tmp_path / "r").exists()


def test_a_hanging_server_meets_the_timeout(server, tmp_path):
    hanging = server(faults={n: "hang" for n in range(1, 100)})
    result = emoprompt(*run_args(hanging.url, tmp_path / "r", "--timeout", "0.3", "--retries", "1", limit=2),
                       timeout=60)
    assert result.returncode == 3 and "timeout × 4" in result.stdout and "raise --timeout" in result.stdout, \
        result.stdout + result.stderr


@pytest.mark.parametrize("fault", ["429-retry-after-nan", "429-retry-after-date"])
def test_odd_retry_after_headers_fall_back_to_backoff(server, tmp_path, fault):
    odd = server(faults={1: fault, 2: fault})
    result = emoprompt(*run_args(odd.url, tmp_path / "r", "--concurrency", "1", limit=1), timeout=60)
    assert result.returncode == 0 and not any(r["error"] for r in records(tmp_path / "r"))
