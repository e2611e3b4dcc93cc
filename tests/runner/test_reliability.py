"""Reliability III: a misbehaving replica, a server that cannot list its batches, malformed files, a full or read-only
disk, bad URLs, forgotten settings and SIGTERM never cost a cell or print a traceback."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.loopback_server import LoopbackServer
from tests.processes import emoprompt, records, subprocess_env

REPO = Path(__file__).resolve().parents[2]


def run_args(url: str | list[str], out: Path, *extra: str, limit: int = 4) -> list[str]:
    bases = [url] if isinstance(url, str) else url
    return ["run", "--model", "openai/test-model", *[a for b in bases for a in ("--api-base", b)], "--task", "sum",
            "--limit", str(limit), "--condition", "baseline", "--condition", "EP02", "--no-progress", "--no-report",
            "--no-cache", "--backoff", "0.01", "--out", str(out), *extra]


def errors_of(out: Path) -> list[str]:
    return [row["error"]["kind"] for row in records(out) if row["error"]]


# --- 1. a bad replica is drained, never poisons the pool ----------------------------------------------------------

@pytest.mark.parametrize("fault", ["401", "403", "404"])
def test_a_replica_with_a_wrong_key_or_model_is_drained_once_and_costs_no_cell(tmp_path, fault):
    bad = LoopbackServer(faults={n: fault for n in range(1, 10_000)}).start()
    good = [LoopbackServer().start() for _ in range(2)]
    try:
        result = emoprompt(*run_args([bad.url, good[0].url, good[1].url], tmp_path / "r", "--retries", "0",
                                     limit=20))
    finally:
        for server in (bad, *good):
            server.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(records(tmp_path / "r")) == 40 and not errors_of(tmp_path / "r")
    assert bad.requests <= 16  # the requests in flight when it first answered (its limit), then none
    drained = [line for line in result.stderr.splitlines() if "drained" in line and str(bad.port) in line]
    assert len(drained) == 1, result.stderr


def test_a_replica_with_a_smaller_context_window_is_drained(tmp_path):
    bad = LoopbackServer(faults={n: "context" for n in range(1, 10_000)}).start()
    good = LoopbackServer().start()
    try:
        result = emoprompt(*run_args([bad.url, good.url], tmp_path / "r", "--retries", "0", limit=10))
    finally:
        bad.stop()
        good.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert not errors_of(tmp_path / "r") and "context_window" in result.stderr


def test_a_prompt_too_long_for_every_replica_is_the_cells_own_error(tmp_path):
    servers = [LoopbackServer(faults={n: "context" for n in range(1, 10_000)}).start() for _ in range(2)]
    try:
        result = emoprompt(*run_args([s.url for s in servers], tmp_path / "r", "--retries", "3", limit=2))
    finally:
        for server in servers:
            server.stop()
    assert result.returncode == 3
    assert set(errors_of(tmp_path / "r")) == {"context_window"}
    assert sum(s.requests for s in servers) <= 2 * 4  # each cell asked each replica once, never retried


def test_when_every_replica_is_gone_the_run_stops_within_the_patience_and_resumes(tmp_path):
    servers = [LoopbackServer(latency_s=0.02).start() for _ in range(3)]
    env = subprocess_env()
    process = subprocess.Popen([sys.executable, "-m", "emoprompt",
                                *run_args([s.url for s in servers], tmp_path / "r", "--patience", "3",
                                          "--retries", "1", limit=300)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while sum(s.requests for s in servers) < 60:
            time.sleep(0.01)
        ports = [s.port for s in servers]
        for server in servers:
            server.stop()
        stdout, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode in (3, 5), stdout
    done = records(tmp_path / "r")
    cells = json.loads((tmp_path / "r" / "manifest.json").read_text())["cells"]
    assert 0 < len(done) < cells and len({r["key"] for r in done}) == len(done)
    back = [LoopbackServer(port=port).start() for port in ports]
    try:
        resumed = emoprompt("run", "--resume", tmp_path / "r", "--retry-errors", "--no-progress", "--no-report")
    finally:
        for server in back:
            server.stop()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = records(tmp_path / "r")
    assert len(final) == cells and len({r["key"] for r in final}) == cells and not errors_of(tmp_path / "r")


def test_a_replica_sending_retry_after_nan_costs_no_cell(tmp_path):
    odd = LoopbackServer(faults={n: "429-retry-after-nan" for n in range(1, 10_000)}).start()
    good = LoopbackServer().start()
    try:
        result = emoprompt(*run_args([odd.url, good.url], tmp_path / "r", "--retries", "0", limit=20))
    finally:
        odd.stop()
        good.stop()
    assert result.returncode == 0 and not errors_of(tmp_path / "r")


# --- 2. a Batch API server that cannot list its batches -----------------------------------------------------------

def test_a_kill_inside_the_create_call_on_a_server_that_cannot_list(tmp_path):
    server = LoopbackServer(batch_delay_s=0.2, batch_create_delay_s=5.0, batch_list_status=405).start()
    env = subprocess_env(OPENAI_API_KEY="sk-test")
    run_dir = tmp_path / "run"
    command = ["run", "--model", "openai/test-model", "--api-base", server.url, "--batch", "--batch-poll", "0.2",
               "--no-progress", "--no-report", "--no-cache", "--task", "sum", "--limit", "3", "--out", str(run_dir)]
    try:
        process = subprocess.Popen([sys.executable, "-m", "emoprompt", *command], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            manifest = run_dir / "manifest.json"
            if manifest.is_file() and any(b.get("status") == "creating"
                                          for b in json.loads(manifest.read_text()).get("batches") or []):
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        server.batch_create_delay_s = 0.0
        refused = emoprompt("run", "--resume", run_dir, "--no-progress", "--no-report", env=env)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "cannot list its batches" in refused.stderr and "--resubmit-unknown" in refused.stderr
        assert "Traceback" not in refused.stderr and not (run_dir / "records.jsonl").read_text()
        resumed = emoprompt("run", "--resume", run_dir, "--resubmit-unknown", "--batch-poll", "0.2", "--no-progress",
                            "--no-report", env=env)
    finally:
        server.stop()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert len(records(run_dir)) == 6 * 3 and not errors_of(run_dir)


def test_batch_files_are_private_and_credentials_in_the_url_work(tmp_path):
    server = LoopbackServer(batch_delay_s=0.05).start()
    url = server.url.replace("http://", "http://user:secret-key@")
    try:
        result = emoprompt("run", "--model", "openai/test-model", "--api-base", url, "--batch", "--batch-poll", "0.1",
                           "--no-progress", "--no-report", "--no-cache", "--task", "sum", "--limit", "2", "--out",
                           tmp_path / "run", env=subprocess_env(OPENAI_API_KEY=""))
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    batches = tmp_path / "run" / "batches"
    assert stat.S_IMODE(batches.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in batches.iterdir())
    assert any(header.startswith("Basic ") for header in server.authorization_seen) or server.batches_created == 1


# --- 3. malformed files and unwritable folders --------------------------------------------------------------------

@pytest.mark.parametrize("entry, message", [
    ('id = "MY1"\ntext = 5\n', "`text` must be non-empty text"),
    ('id = "MY1"\ntext = "Be bold."\nvariants = "bold"\n', "`variants` must be dict"),
    ('id = "MY1"\ntext = "Be bold."\ntheories = 3\n', "`theories` must be list"),
    ('id = "MY1"\ntext = "Be bold."\ntheories = [1]\n', "`theories` must be str"),
    ('id = 7\ntext = "Be bold."\n', "`id` must be non-empty text"),
])
def test_bad_stimulus_files_are_one_line(tmp_path, entry, message):
    path = tmp_path / "mine.toml"
    path.write_text(f"[[stimulus]]\n{entry}")
    result = emoprompt("run", "--model", "scripted/echo", "--stimuli", path, "--condition", "MY1", "--limit", "1",
                       "--out", tmp_path / "r")
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("name, content", [
    ("deep.toml", "stimulus = " + "[" * 2000 + "]" * 2000 + "\n"),
    ("deep.yaml", "models: " + "[" * 2000 + "]" * 2000 + "\n"),
    ("deep40.toml", "a = " + "[" * 40 + "]" * 40 + "\n"),
])
def test_files_nested_too_deeply_are_one_line(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    given = ["--stimuli", path] if "stimulus" in content else [path]
    result = emoprompt("run", *given, "--model", "scripted/echo", "--limit", "1", "--out", tmp_path / "r")
    assert result.returncode == 2 and "nested too deeply" in result.stderr and "Traceback" not in result.stderr


def test_an_empty_experiment_file_is_refused(tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text("")
    result = emoprompt("run", path, "--out", tmp_path / "r")
    assert result.returncode == 2 and "is empty" in result.stderr and not (tmp_path / "r").exists()


@pytest.mark.parametrize("setting, message", [
    ("[generation]\ntop_p = nan\n", "top_p must be above 0 and at most 1"),
    ("[analysis]\nsesoi = -1\n", "sesoi (the smallest effect of interest) must be a positive number"),
    ("[generation]\nmax_tokens = 100000000\n", "max_tokens must be between 1 and 1,000,000"),
])
def test_bad_values_in_an_experiment_file_are_refused(tmp_path, setting, message):
    path = tmp_path / "e.toml"
    path.write_text(f'models = ["scripted/echo"]\n{setting}')
    result = emoprompt("run", path, "--out", tmp_path / "r")
    assert result.returncode == 2 and message in result.stderr


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("needs to mount a small tmpfs (root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_cache_disk_costs_no_answer(tiny_disk, loopback, tmp_path):
    (tiny_disk / "filler").write_bytes(b"x" * (256 * 1024 - 48 * 1024))
    result = emoprompt(*[a for a in run_args(loopback.url, tmp_path / "r", limit=40) if a != "--no-cache"],
                       env=subprocess_env(EMOPROMPT_CACHE_DIR=str(tiny_disk / "cache")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(records(tmp_path / "r")) == 80 and not errors_of(tmp_path / "r")
    assert "response cache" in result.stderr and "Traceback" not in result.stderr
    assert json.loads((tmp_path / "r" / "manifest.json").read_text())["status"] == "complete"


def test_a_read_only_cache_folder_is_a_warning_and_the_run_goes_on(tiny_disk, loopback, tmp_path):
    (tiny_disk / "cache").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    result = emoprompt(*[a for a in run_args(loopback.url, tmp_path / "r") if a != "--no-cache"],
                       env=subprocess_env(EMOPROMPT_CACHE_DIR=str(tiny_disk / "cache")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the response cache cannot be used" in result.stderr and not errors_of(tmp_path / "r")


def test_a_report_on_a_full_disk_is_one_line(tiny_disk, loopback, tmp_path):
    assert emoprompt(*run_args(loopback.url, tmp_path / "r")).returncode == 0
    (tiny_disk / "filler").write_bytes(b"x" * (256 * 1024 - 4 * 1024))
    result = emoprompt("report", tmp_path / "r", "--out", tiny_disk / "report")
    assert result.returncode == 2 and "cannot write the report" in result.stderr
    assert "Traceback" not in result.stderr


def test_records_behind_a_symbolic_link_are_refused(tmp_path, loopback):
    target = tmp_path / "elsewhere.jsonl"
    target.write_text("")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "records.jsonl").symlink_to(target)
    result = emoprompt(*run_args(loopback.url, tmp_path / "r"))
    assert result.returncode == 2 and "symbolic link" in result.stderr
    assert target.read_text() == ""


# --- 4. URLs and keys ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://127.0.0.1:1/v1\r\nX-Injected: 1", "http://127.0.0.1:1/v1 x",
                                 "http://127.0.0.1:1/v1\n"])
def test_an_api_base_with_spaces_or_line_breaks_is_refused_before_sending(tmp_path, url):
    result = emoprompt(*run_args(url, tmp_path / "r"))
    assert result.returncode == 2 and "spaces or control characters" in result.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("key", ["sk-abc\r\nX-Injected: 1", "sk-ключ"])
def test_a_key_that_cannot_be_a_header_is_refused(tmp_path, loopback, key):
    result = emoprompt(*run_args(loopback.url, tmp_path / "r"), env=subprocess_env(OPENAI_API_KEY=key))
    assert result.returncode == 2 and "OPENAI_API_KEY holds characters" in result.stderr
    assert loopback.requests == 0


def test_a_key_in_the_query_string_never_reaches_a_file(tmp_path, loopback):
    result = emoprompt(*run_args(f"{loopback.url}?code=SECRET-CODE-123", tmp_path / "r"))
    assert result.returncode in (0, 3), result.stderr
    for path in (tmp_path / "r").rglob("*"):
        if path.is_file():
            assert b"SECRET-CODE-123" not in path.read_bytes(), path


# --- 5. resume keeps the run's settings -----------------------------------------------------------------------------

def test_resume_restores_the_settings_that_change_what_a_cell_records(tmp_path):
    server = LoopbackServer(reply=lambda messages: "x" * 3000, latency_s=0.05).start()
    try:
        args = [*run_args(server.url, tmp_path / "r", "--max-response-chars", "5000", "--concurrency", "1", limit=8)]
        process = subprocess.Popen([sys.executable, "-m", "emoprompt", *args], env=subprocess_env(),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not (tmp_path / "r" / "records.jsonl").is_file() or len(records(tmp_path / "r")) < 4:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        resumed = emoprompt("run", "--resume", tmp_path / "r", "--no-progress", "--no-report")
    finally:
        server.stop()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert len(records(tmp_path / "r")) == 16 and not errors_of(tmp_path / "r")
    settings = json.loads((tmp_path / "r" / "manifest.json").read_text())["settings"]
    assert settings["max_response_chars"] == 5000


def test_resume_refuses_duplicated_and_foreign_lines_then_repair_sets_them_aside(tmp_path, loopback):
    assert emoprompt(*run_args(loopback.url, tmp_path / "r")).returncode == 0
    path = tmp_path / "r" / "records.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    foreign = json.loads(lines[0]) | {"key": "f" * 24}
    path.write_text("".join(lines) + lines[1] + json.dumps(foreign) + "\n")
    refused = emoprompt("run", "--resume", tmp_path / "r", "--no-progress", "--no-report")
    assert refused.returncode == 2 and "1 duplicate of an earlier line and 1 record of no cell" in refused.stderr
    repaired = emoprompt("run", "--resume", tmp_path / "r", "--repair", "--no-progress", "--no-report")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert len(records(tmp_path / "r")) == 8
    assert len((tmp_path / "r" / "records.rejected.jsonl").read_text().splitlines()) == 2


# --- 6. SIGTERM stops within a grace --------------------------------------------------------------------------------

def test_one_sigterm_stops_a_run_whose_requests_hang_within_the_grace(tmp_path):
    server = LoopbackServer(faults={n: "hang" for n in range(5, 10_000)}).start()
    try:
        process = subprocess.Popen([sys.executable, "-m", "emoprompt",
                                    *run_args(server.url, tmp_path / "r", "--timeout", "120", "--grace", "1")],
                                   env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while server.requests < 6:
            time.sleep(0.02)
        time.sleep(0.2)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        took = time.monotonic() - sent
    finally:
        server.stop()
    assert process.returncode == 128 + signal.SIGTERM and took < 15
    assert json.loads((tmp_path / "r" / "manifest.json").read_text())["status"] == "interrupted"
    assert len(records(tmp_path / "r")) == 4
