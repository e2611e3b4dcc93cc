"""The API backends over real HTTP on loopback: emoprompt's lean OpenAI-compatible client and litellm, side by side."""

import asyncio
import time

import pytest

from emoprompt.backends import ManagedBackend, resolve_backend
from emoprompt.backends._api import token_prices
from emoprompt.backends.litellm_backend import LiteLLMBackend
from emoprompt.backends.managed import retry_delay
from emoprompt.backends.openai_http import OpenAIHTTPBackend
from emoprompt.backends.pacing import seconds
from emoprompt.chat import GenerateConfig, Message
from emoprompt.errors import RequestError, UsageError
from tests.loopback_server import LoopbackServer

CHAT = (Message("user", "Instruction: Repeat.\n\nInput: alpha beta\nAnswer: "),)
CLIENTS = ["openai/test-model", "litellm/openai/test-model"]


def managed(model, api_base=None, max_retries=5, backoff_s=1.0, **options):
    """The backend as the runner uses it: started once, transient failures retried."""
    return ManagedBackend(model, resolve_backend(model, api_base=api_base, **options), max_retries, backoff_s)


def complete(backend, chat=CHAT, config=None):
    async def go():
        try:
            return await backend.complete(chat, config or GenerateConfig())
        finally:
            await backend.close()
    return asyncio.run(go())


def test_openai_compatible_models_take_the_lean_path_and_litellm_prefix_forces_litellm(loopback):
    assert isinstance(resolve_backend("openai/test-model", api_base=loopback.url), OpenAIHTTPBackend)
    assert isinstance(resolve_backend("hosted_vllm/m", api_base=loopback.url), OpenAIHTTPBackend)
    forced = resolve_backend("litellm/openai/test-model", api_base=loopback.url)
    assert isinstance(forced, LiteLLMBackend) and forced.litellm_model == "openai/test-model"
    # both clients send the same request, so they share cache entries
    assert forced.identity() == resolve_backend("openai/test-model", api_base=loopback.url).identity()


@pytest.mark.parametrize("model", CLIENTS)
def test_real_http_roundtrip(loopback, model):
    completion = complete(managed(model, loopback.url))
    assert completion.text == "beta" and completion.tokens_in > 0 and completion.finish_reason == "stop"
    assert loopback.requests == 1


@pytest.mark.parametrize("model", CLIENTS)
@pytest.mark.parametrize("fault", ["429", "429-retry-after", "500", "503", "malformed", "empty", "reset"])
def test_transient_faults_are_retried(fault, model):
    server = LoopbackServer(faults={1: fault, 2: fault}).start()
    try:
        assert complete(managed(model, server.url, backoff_s=0.01)).text == "beta"
        assert server.requests == 3
    finally:
        server.stop()


@pytest.mark.parametrize("model", CLIENTS)
def test_retry_after_is_honoured(model):
    server = LoopbackServer(faults={1: "429-retry-after"}).start()
    try:
        backend = managed(model, server.url, backoff_s=5.0)
        started = time.perf_counter()
        complete(backend)
        assert time.perf_counter() - started < 4  # waited Retry-After (0.05 s), not the 5 s backoff
    finally:
        server.stop()


@pytest.mark.parametrize("model", CLIENTS)
def test_persistent_failure_and_non_transient_errors_raise_request_error(model):
    server = LoopbackServer(faults={i: "500" for i in range(1, 10)} | {10: "filter", 11: "401"}).start()
    try:
        backend = managed(model, server.url, backoff_s=0.001, max_retries=8)
        with pytest.raises(RequestError) as failure:
            complete(backend)
        assert failure.value.kind == "server_error" and server.requests == 9
        with pytest.raises(RequestError) as filtered:
            complete(backend)
        assert filtered.value.kind == "content_filter"
        with pytest.raises(RequestError) as denied:
            complete(backend)
        assert denied.value.kind == "auth" and server.requests == 11
    finally:
        server.stop()


@pytest.mark.parametrize("model", CLIENTS)
def test_timeout_is_a_request_error(model):
    server = LoopbackServer(faults={1: "timeout"}).start()
    try:
        backend = managed(model, server.url, timeout_s=0.5, max_retries=0)
        with pytest.raises(RequestError) as failure:
            complete(backend)
        assert failure.value.kind == "timeout"
    finally:
        server.stop()


@pytest.mark.parametrize("model", CLIENTS)
def test_unreachable_api_base_is_a_usage_error(model):
    with pytest.raises(UsageError, match=r"cannot reach API base http://127\.0\.0\.1:9/v1"):
        complete(managed(model, "http://127.0.0.1:9/v1"))


@pytest.mark.parametrize("model", CLIENTS)
def test_key_from_environment_is_sent_but_never_returned(loopback, monkeypatch, model):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-123456")
    completion = complete(managed(model, loopback.url))
    assert loopback.authorization_seen == ["Bearer sk-test-secret-123456"]
    assert "sk-test" not in repr(completion)


def test_missing_openai_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UsageError, match="needs OPENAI_API_KEY in the environment"):
        complete(managed("openai/gpt-4o-mini"))


def test_hosted_vllm_needs_an_address(monkeypatch):
    monkeypatch.delenv("HOSTED_VLLM_API_BASE", raising=False)
    with pytest.raises(UsageError, match="needs the server's address: add --api-base"):
        resolve_backend("hosted_vllm/meta-llama/Llama-3.1-8B-Instruct")


def test_request_body_carries_the_generation_settings(monkeypatch):
    seen = []
    server = LoopbackServer(reply=lambda messages: seen.append(messages) or "ok").start()
    bodies = []
    original = OpenAIHTTPBackend._body

    def spy(self, chat, config):
        body = original(self, chat, config)
        bodies.append(body)
        return body

    monkeypatch.setattr(OpenAIHTTPBackend, "_body", spy)
    try:
        backend = managed("hosted_vllm/org/model-8b", server.url)
        complete(backend, config=GenerateConfig(temperature=0.7, max_tokens=9, top_p=0.9, seed=3, stop=("\n",)))
    finally:
        server.stop()
    import json

    sent = json.loads(bodies[0])
    assert sent == {"model": "org/model-8b", "messages": [{"role": "user", "content": CHAT[0].content}],
                    "temperature": 0.7, "max_tokens": 9, "top_p": 0.9, "seed": 3, "stop": ["\n"]}
    assert seen == [sent["messages"]]


def test_cost_comes_from_litellms_price_map_without_importing_it():
    prices = token_prices("openai/gpt-4o-mini")
    assert prices is not None and prices[0] > 0 and prices[1] > prices[0]
    assert token_prices("openai/test-model") is None
    backend = OpenAIHTTPBackend("openai/gpt-4o-mini", api_base="http://127.0.0.1:1/v1")
    completion = backend._completion({"choices": [{"message": {"content": "x"}, "finish_reason": "stop"}],
                                      "usage": {"prompt_tokens": 1000, "completion_tokens": 10}}, 0.1)
    assert completion.cost_usd == pytest.approx(1000 * prices[0] + 10 * prices[1])


def test_one_backend_serves_successive_event_loops(loopback):
    backend = managed("openai/test-model", loopback.url)

    async def one():
        return (await backend.complete(CHAT, GenerateConfig())).text

    assert [asyncio.run(one()) for _ in range(3)] == ["beta"] * 3
    assert len(backend.backend._sessions) == 1  # pools of closed loops are let go


def test_many_concurrent_requests_share_one_pool():
    server = LoopbackServer(latency_s=0.05).start()
    try:
        backend = managed("openai/test-model", server.url, concurrency=64)

        async def go():
            await backend.ensure_started()
            started = time.perf_counter()
            results = await asyncio.gather(*(backend.complete(CHAT, GenerateConfig()) for _ in range(128)))
            elapsed = time.perf_counter() - started
            await backend.close()
            return results, elapsed

        results, elapsed = asyncio.run(go())
        assert {r.text for r in results} == {"beta"} and server.requests == 128
        assert elapsed < 128 * 0.05 / 4  # concurrent, not serial: a logic check, not a timing target
    finally:
        server.stop()


def test_retry_delay_follows_retry_after_and_caps_backoff():
    assert retry_delay(0, 1.0, 2.5) == 2.5
    assert retry_delay(0, 1.0, 600) == 60.0
    assert 0.5 <= retry_delay(0, 1.0, None) <= 1.0
    assert retry_delay(20, 1.0, None) <= 30.0
    assert 0.5 <= retry_delay(0, 1.0, float("nan")) <= 1.0


@pytest.mark.parametrize("header, expected", [("2", 2.0), ("0.05", 0.05), ("nan", None), ("inf", None),
                                             ("soon", None), (None, None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)])
def test_retry_after_header_forms(header, expected):
    assert seconds(header) == expected
