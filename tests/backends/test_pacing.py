"""Rate limits are a pace, not a failure: the provider's headers read, refusals waited out (never counted against
the retries), the user's budgets kept, patience bounded — against a loopback server that limits like a provider."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from emoprompt.backends import BackendOptions, ManagedBackend, resolve_backend
from emoprompt.backends.pacing import Pacer, RateLimits, Schedule, Ticket, read_rate_limits, seconds
from emoprompt.chat import GenerateConfig, Message
from emoprompt.errors import RunStopped
from tests.loopback_server import LoopbackServer, RateLimit
from tests.processes import emoprompt, records


@pytest.mark.parametrize("value, expected", [
    ("2", 2.0), ("0.05", 0.05), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("1s", 1.0),
    ("nan", None), ("inf", None), ("-1", None), ("soon", None), (None, None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("2015-10-21T07:28:00Z", 0.0),
])
def test_waits_in_every_form_providers_send(value, expected):
    assert seconds(value) == expected


def test_openai_headers():
    limits = read_rate_limits({"X-RateLimit-Limit-Requests": "600", "x-ratelimit-remaining-requests": "0",
                               "x-ratelimit-reset-requests": "120ms", "x-ratelimit-limit-tokens": "30000",
                               "x-ratelimit-remaining-tokens": "29000", "x-ratelimit-reset-tokens": "2s",
                               "Retry-After": "1", "retry-after-ms": "120"})
    assert limits == RateLimits(0.12, 600.0, 0.0, 0.12, 30000.0, 29000.0, 2.0)  # retry-after-ms is the finer one


def test_anthropic_and_litellm_headers():
    anthropic = read_rate_limits({"anthropic-ratelimit-requests-limit": "50",
                                  "anthropic-ratelimit-requests-remaining": "3",
                                  "anthropic-ratelimit-requests-reset": "2015-10-21T07:28:00Z",
                                  "anthropic-ratelimit-input-tokens-limit": "40000"})
    assert anthropic is not None and (anthropic.requests_limit, anthropic.requests_remaining) == (50.0, 3.0)
    assert anthropic.requests_reset == 0.0 and anthropic.tokens_limit == 40000.0
    via_litellm = read_rate_limits({"llm_provider-x-ratelimit-limit-requests": "3000"})
    assert via_litellm is not None and via_litellm.requests_limit == 3000.0
    assert read_rate_limits({"content-type": "application/json"}) is None and read_rate_limits(None) is None


def test_a_schedule_spaces_requests_at_its_rate():
    schedule = Schedule(10.0)
    leaves = [schedule.reserve(1.0, now=100.0) for _ in range(5)]
    assert leaves == pytest.approx([100.0, 100.1, 100.2, 100.3, 100.4])
    tokens = Schedule(100.0)
    assert tokens.reserve(50, now=0.0) == 0.0 and tokens.reserve(50, now=0.0) == pytest.approx(0.5)


def test_a_refusal_pauses_everyone_and_halves_the_window_once_per_round_trip():
    pacer = Pacer(16)
    first, second = Ticket(time.monotonic(), 0), Ticket(time.monotonic(), 0)
    pacer.in_flight = 2
    pacer.refused_one(first, RateLimits(retry_after=0.5))
    pacer.refused_one(second, RateLimits(retry_after=0.5))  # sent before the first refusal came back: same signal
    assert pacer.window == 8 and pacer.refused == 2
    assert pacer.paused_until - time.monotonic() == pytest.approx(0.5, abs=0.05)
    assert pacer.notice() is None  # nobody waits yet
    later = Ticket(time.monotonic() + 0.001, 0)
    pacer.in_flight = 1
    pacer.refused_one(later)
    assert pacer.window == 4


def test_limit_headers_become_the_pace_and_an_empty_budget_holds_it():
    pacer = Pacer(16)
    pacer.in_flight = 1
    pacer.answered_one(Ticket(time.monotonic(), 0), RateLimits(requests_limit=600, requests_remaining=0,
                                                               requests_reset=0.3))
    assert pacer._provider is not None and pacer._provider.rate == 10.0
    assert pacer._provider.free_at >= time.monotonic() + 0.25


def test_patience_stops_requests_that_wait_on_refusals():
    async def go():
        pacer = Pacer(4, patience_s=0.2)
        ticket = await pacer.acquire()
        pacer.refused_one(ticket, RateLimits(retry_after=5.0))
        await pacer.acquire()

    started = time.monotonic()
    with pytest.raises(RunStopped) as stopped:
        asyncio.run(go())
    assert stopped.value.kind == "patience" and time.monotonic() - started < 5


def managed(url: str, **options) -> ManagedBackend:
    settings = BackendOptions(api_base=url, **options)
    return ManagedBackend("openai/test-model", resolve_backend("openai/test-model", settings), max_retries=0,
                          options=settings)


def send(backend: ManagedBackend, count: int, workers: int = 32) -> list:
    async def go():
        queue: asyncio.Queue[int] = asyncio.Queue()
        for number in range(count):
            queue.put_nowait(number)
        results = []

        async def worker():
            while not queue.empty():
                number = queue.get_nowait()
                results.append(await backend.complete((Message("user", f"Input: item {number}"),),
                                                      GenerateConfig(max_tokens=8)))

        try:
            await asyncio.gather(*(worker() for _ in range(workers)))
        finally:
            await backend.close()
        return results

    return asyncio.run(go())


@pytest.mark.parametrize("style, fractional", [("openai", True), ("openai", False), ("anthropic", True),
                                               ("none", True), ("none", False)])
def test_a_rate_limited_server_answers_every_request_with_few_refusals(style, fractional):
    limit = RateLimit(rpm=6000, style=style, fractional_retry_after=fractional)
    server = LoopbackServer(rate_limit=limit).start()
    try:
        results = send(managed(server.url, concurrency=32), 500)  # --retries 0: refusals must not count
    finally:
        server.stop()
    assert len(results) == 500 and limit.admitted == 500
    assert limit.refused <= 0.25 * limit.admitted, (limit.refused, limit.admitted)


def test_the_user_rpm_is_kept_without_any_refusal():
    server = LoopbackServer().start()
    try:
        send(managed(server.url, concurrency=32, rpm=1200), 60)
    finally:
        server.stop()
    arrivals = server.arrivals
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert len(arrivals) == 60 and busiest <= 20 + 1


def test_the_user_tpm_is_kept():
    server = LoopbackServer().start()
    try:
        send(managed(server.url, concurrency=32, tpm=6000), 30)  # each request: ~8 prompt + 8 output tokens
    finally:
        server.stop()
    span = server.arrivals[-1] - server.arrivals[0]
    per_request = Pacer(1).estimate_tokens(len("Input: item 10"), 8)
    assert span >= (30 - 1) * per_request / 100 * 0.9  # at most 100 tokens a second, as budgeted


def cli_args(url: str, out, *extra: str, limit: int = 5) -> list[str]:
    return ["run", "--model", "openai/test-model", "--api-base", url, "--task", "sum", "--limit", str(limit),
            "--condition", "baseline", "--condition", "EP02", "--no-progress", "--no-report", "--no-cache",
            "--out", str(out), *extra]


def test_patience_stops_the_run_cleanly_and_it_resumes(tmp_path):
    refusing = LoopbackServer(faults={n: "429-retry-after" for n in range(1, 10_000)}).start()
    try:
        stopped = emoprompt(*cli_args(refusing.url, tmp_path / "r", "--patience", "1", "--retries", "0"))
    finally:
        refusing.stop()
    assert stopped.returncode == 5, stopped.stdout + stopped.stderr
    last = stopped.stdout.strip().splitlines()[-1]
    assert last.startswith("Stopped:") and "rate limit" in last and f"--resume {tmp_path / 'r'}" in last
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["status"] == "stopped" and not any(r["error"] for r in records(tmp_path / "r"))
    healthy = LoopbackServer(port=refusing.port).start()
    try:
        resumed = emoprompt("run", "--resume", tmp_path / "r", "--no-progress", "--no-report")
    finally:
        healthy.stop()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert len(records(tmp_path / "r")) == 10 and not any(r["error"] for r in records(tmp_path / "r"))


def test_429s_never_use_the_retries(tmp_path):
    server = LoopbackServer(faults={n: "429-retry-after" for n in range(1, 40, 2)}).start()
    try:
        result = emoprompt(*cli_args(server.url, tmp_path / "r", "--retries", "0"))
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout
    assert not any(r["error"] for r in records(tmp_path / "r")) and "refused" in result.stderr


def test_heart_follow_up_calls_are_paced(tmp_path):
    limit = RateLimit(rpm=3000, style="none", fractional_retry_after=True)
    server = LoopbackServer(rate_limit=limit).start()
    try:
        result = emoprompt(*cli_args(server.url, tmp_path / "r", "--condition", "heart", "--retries", "0",
                                     limit=6))
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    rows = records(tmp_path / "r")
    assert not any(r["error"] for r in rows) and max(r["n_calls"] for r in rows) > 1


def test_litellm_refusals_are_paced_too(tmp_path):
    limit = RateLimit(rpm=3000, style="openai", fractional_retry_after=True)
    server = LoopbackServer(rate_limit=limit).start()
    try:
        arguments = cli_args(server.url, tmp_path / "r", "--retries", "0", limit=10)
        arguments[arguments.index("openai/test-model")] = "litellm/openai/test-model"
        result = emoprompt(*arguments)
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert not any(r["error"] for r in records(tmp_path / "r"))


def test_a_throttling_replica_gets_less_traffic(tmp_path):
    throttled = LoopbackServer(latency_s=0.01, rate_limit=RateLimit(rpm=120, fractional_retry_after=True)).start()
    healthy = [LoopbackServer(latency_s=0.01).start() for _ in range(2)]
    try:
        result = emoprompt(*cli_args(throttled.url, tmp_path / "r", "--api-base", healthy[0].url, "--api-base",
                                     healthy[1].url, "--retries", "0", "--endpoint-concurrency", "8", limit=40))
    finally:
        for server in (throttled, *healthy):
            server.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert not any(r["error"] for r in records(tmp_path / "r"))
    answered = throttled.rate_limit.admitted  # type: ignore[union-attr]
    assert answered < min(server.requests for server in healthy) / 2, (answered, [s.requests for s in healthy])


def test_max_cost_stops_before_the_cap_and_resume_continues_with_a_new_one(tmp_path):
    server = LoopbackServer().start()
    try:
        arguments = cli_args(server.url, tmp_path / "r", "--concurrency", "1")
        arguments[arguments.index("openai/test-model")] = "openai/gpt-4o-mini"
        capped = emoprompt(*arguments, "--max-cost", "0.00004")
        assert capped.returncode == 4, capped.stdout + capped.stderr
        assert capped.stdout.strip().splitlines()[-1].startswith("Stopped at --max-cost")
        done = records(tmp_path / "r")
        spent = sum(r["cost_usd"] for r in done)
        assert 0 < len(done) < 10 and spent <= 0.00004 and not any(r["error"] for r in done)
        assert json.loads((tmp_path / "r" / "manifest.json").read_text())["status"] == "stopped"
        resumed = emoprompt("run", "--resume", tmp_path / "r", "--max-cost", "1", "--no-progress", "--no-report")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert len(records(tmp_path / "r")) == 10
    finally:
        server.stop()


def test_max_cost_needs_a_known_price(tmp_path, loopback):
    result = emoprompt(*cli_args(loopback.url, tmp_path / "r", "--max-cost", "1"))
    assert result.returncode == 2 and "needs the price of openai/test-model" in result.stderr
    assert loopback.requests == 0 and not (tmp_path / "r").exists()
