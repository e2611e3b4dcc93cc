"""Endpoint pools against three real loopback servers: spreading, per-endpoint limits, a replica stopped mid-run,
the same-model check, affinity, and an identity that does not depend on the replica."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest
from click.testing import CliRunner

from emoprompt.backends import BackendOptions, resolve_backend
from emoprompt.backends.pool import EndpointPool, read_pool_file
from emoprompt.cli import cli
from emoprompt.errors import UsageError
from emoprompt.runner.store import iter_records, read_manifest
from tests.loopback_server import LoopbackServer


@pytest.fixture
def three_servers():
    servers = [LoopbackServer(latency_s=0.01).start() for _ in range(3)]
    yield servers
    for server in servers:
        server.stop()


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", "--model", "openai/test-model", "--no-progress", "--no-report", *args])
    return result.exit_code, result.output


def _bases(servers: list[LoopbackServer]) -> list[str]:
    return [arg for server in servers for arg in ("--api-base", server.url)]


def test_requests_spread_over_replicas_within_each_limit(three_servers, tmp_path):
    code, output = _run([*_bases(three_servers), "--endpoint-concurrency", "4", "--limit", "10",
                         "--out", str(tmp_path / "run"), "--no-cache"])
    assert code == 0, output
    records = list(iter_records(tmp_path / "run"))
    assert len(records) == 540 and not any(r.error for r in records)
    counts = [server.requests for server in three_servers]
    assert sum(counts) == 540 and min(counts) > 100, counts
    assert max(server.max_in_flight for server in three_servers) <= 4
    manifest = read_manifest(tmp_path / "run")
    assert manifest.identity["models"]["openai/test-model"] == {"backend": "api", "model": "openai/test-model",
                                                               "api_base": "pool"}
    assert any("answers per endpoint" in note for note in manifest.notes)


def test_a_replica_stopped_mid_run_drains_and_every_cell_completes_once(three_servers, tmp_path):
    victim = three_servers[1]

    def stop_when_busy() -> None:
        while victim.requests < 40:
            time.sleep(0.005)
        victim.stop()

    stopper = threading.Thread(target=stop_when_busy)
    stopper.start()
    code, output = _run([*_bases(three_servers), "--endpoint-concurrency", "8", "--limit", "10",
                         "--out", str(tmp_path / "run"), "--no-cache"])
    stopper.join()
    assert code == 0, output
    records = list(iter_records(tmp_path / "run"))
    keys = Counter(r.key for r in records)
    assert len(keys) == 540 and max(keys.values()) == 1
    assert not [r.error for r in records if r.error]
    notes = read_manifest(tmp_path / "run").notes
    assert any("drained" in note and str(victim.port) in note for note in notes), notes
    answered = three_servers[0].requests + three_servers[2].requests
    assert answered >= 540 - victim.requests


def test_the_identity_does_not_depend_on_which_replicas_answered(three_servers, tmp_path):
    code, output = _run([*_bases(three_servers), "--limit", "3", "--out", str(tmp_path / "a")])
    assert code == 0, output
    served = sum(server.requests for server in three_servers)
    code, output = _run([*_bases(three_servers[::-1][:2]), "--limit", "3", "--out", str(tmp_path / "b")])
    assert code == 0, output
    assert sum(server.requests for server in three_servers) == served  # every answer came from the cache
    first = {r.key: r.response for r in iter_records(tmp_path / "a")}
    second = {r.key: r.response for r in iter_records(tmp_path / "b")}
    assert first == second


def test_every_endpoint_must_serve_the_model(three_servers, tmp_path):
    three_servers[2].models = ("other-model",)
    code, output = _run([*_bases(three_servers), "--limit", "1", "--out", str(tmp_path / "run")])
    assert code == 2
    assert f"127.0.0.1:{three_servers[2].port}" in output and "does not serve test-model" in output
    assert "Traceback" not in output and not (tmp_path / "run").exists()


def test_an_unreachable_endpoint_is_refused_at_start(three_servers, tmp_path):
    code, output = _run([*_bases(three_servers), "--api-base", "http://127.0.0.1:9/v1", "--limit", "1",
                         "--out", str(tmp_path / "run")])
    assert code == 2 and "127.0.0.1:9" in output and "Traceback" not in output


def test_affinity_sends_all_conditions_of_an_item_to_one_replica(tmp_path):
    servers = [LoopbackServer(latency_s=0.01, reply=lambda messages, i=i: f"replica{i}").start() for i in range(3)]
    try:
        code, output = _run([*_bases(servers), "--affinity", "--endpoint-concurrency", "2", "--limit", "6",
                             "--out", str(tmp_path / "run"), "--no-cache"])
    finally:
        for server in servers:
            server.stop()
    assert code == 0, output
    where: dict[tuple[str, str], set[str]] = {}
    for record in iter_records(tmp_path / "run"):
        where.setdefault((record.task, record.sample_id), set()).add(str(record.response))
    assert len(where) == 54 and all(len(replicas) == 1 for replicas in where.values())
    assert all(server.requests for server in servers)


def test_pool_file_with_limits(three_servers, tmp_path):
    pool = tmp_path / "pool.txt"
    pool.write_text("# replicas\n" + "\n".join(f"{s.url} 2" for s in three_servers) + "\n", encoding="utf-8")
    assert read_pool_file(str(pool)) == ([s.url for s in three_servers], {s.url: 2 for s in three_servers})
    code, output = _run(["--pool", str(pool), "--limit", "4", "--out", str(tmp_path / "run"), "--no-cache"])
    assert code == 0, output
    assert max(server.max_in_flight for server in three_servers) <= 2
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["experiment"]["api_base"] == [s.url for s in three_servers]


@pytest.mark.parametrize("text, fault", [("", "lists no API base"), ("http://a/v1 many\n", "optionally its limit"),
                                         ("http://a/v1 0\n", "optionally its limit")])
def test_bad_pool_files_get_one_line(tmp_path, text, fault):
    pool = tmp_path / "pool.txt"
    pool.write_text(text, encoding="utf-8")
    code, output = _run(["--pool", str(pool), "--out", str(tmp_path / "run")])
    assert code == 2 and fault in output and "Traceback" not in output


def test_pools_are_for_api_models():
    with pytest.raises(UsageError, match="endpoint pool"):
        resolve_backend("hf/smollm2", BackendOptions(api_base=("http://a/v1", "http://b/v1")))
    with pytest.raises(UsageError, match="twice"):
        EndpointPool("openai/m", ["http://a/v1", "http://a/v1/"], [4, 4])


def test_a_pool_run_resumes_on_its_replicas(three_servers, tmp_path):
    code, output = _run([*_bases(three_servers), "--limit", "2", "--out", str(tmp_path / "run"), "--no-cache",
                         "--condition", "baseline", "--condition", "EP02"])
    assert code == 0, output
    lines = (tmp_path / "run" / "records.jsonl").read_text().splitlines()
    (tmp_path / "run" / "records.jsonl").write_text("\n".join(lines[:10]) + "\n")  # as if stopped after 10 cells
    before = sum(server.requests for server in three_servers)
    result = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "run"), "--no-progress", "--no-report",
                                      "--no-cache"])
    assert result.exit_code == 0, result.output
    assert sum(server.requests for server in three_servers) - before == len(lines) - 10
    assert len(list(iter_records(tmp_path / "run"))) == len(lines)


def test_a_drained_replica_is_tried_again_after_its_pause_and_comes_back(monkeypatch):
    import asyncio

    import emoprompt.backends.pool as pool_module
    from emoprompt.chat import GenerateConfig, Message

    monkeypatch.setattr(pool_module, "FIRST_PAUSE_S", 0.3)
    flaky = LoopbackServer(faults={1: "503", 2: "503"}).start()  # unavailable twice, then fine
    steady = LoopbackServer().start()
    pool = EndpointPool("openai/test-model", [flaky.url, steady.url], [4, 4])

    async def go() -> list[str]:
        chat = (Message("user", "Input: w1"),)
        first = await asyncio.gather(*(pool.complete(chat, GenerateConfig()) for _ in range(8)))
        await asyncio.sleep(0.4)  # the pause is over: one trial request, then the replica is back
        later = [await pool.complete(chat, GenerateConfig()) for _ in range(6)]
        await pool.close()
        return [c.text for c in [*first, *later]]

    try:
        texts = asyncio.run(go())
    finally:
        flaky.stop()
        steady.stop()
    assert texts == ["w1"] * 14  # no request failed: the 503s were re-sent to the other replica
    assert pool.replicas[0].times_drained == 1 and not pool.replicas[0].probation
    assert flaky.requests >= 3 + 1  # the failures, the trial and what it took after coming back
    assert any("drained" in note for note in pool.run_notes())


def test_an_experiment_file_can_name_a_pool(three_servers, tmp_path):
    import emoprompt

    listed = ", ".join(f'"{server.url}"' for server in three_servers)
    (tmp_path / "experiment.toml").write_text(f'models = ["openai/test-model"]\napi_base = [{listed}]\n'
                                              'conditions = ["baseline", "EP02"]\nlimit = 2\n')
    emoprompt.run(tmp_path / "experiment.toml", tmp_path / "run", report=False)
    assert all(server.requests for server in three_servers)
    assert len(list(iter_records(tmp_path / "run"))) == 36
