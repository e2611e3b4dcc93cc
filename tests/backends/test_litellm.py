import asyncio
import time

import pytest

from emoprompt.backends import resolve_backend
from emoprompt.backends.litellm_backend import LiteLLMBackend
from emoprompt.chat import GenerateConfig, Message
from emoprompt.errors import RequestError, UsageError
from tests.loopback_server import LoopbackServer

CHAT = (Message("user", "Instruction: Repeat.\n\nInput: alpha beta\nAnswer: "),)


def complete(backend, chat=CHAT, config=None):
    async def go():
        await backend.start()
        return await backend.complete(chat, config or GenerateConfig())
    return asyncio.run(go())


def test_real_http_roundtrip(loopback):
    completion = complete(LiteLLMBackend("openai/test-model", api_base=loopback.url))
    assert completion.text == "beta" and completion.tokens_in > 0 and completion.finish_reason == "stop"
    assert loopback.requests == 1


@pytest.mark.parametrize("fault", ["429", "429-retry-after", "500", "503", "malformed", "empty", "reset"])
def test_transient_faults_are_retried(fault):
    server = LoopbackServer(faults={1: fault, 2: fault}).start()
    try:
        backend = LiteLLMBackend("openai/test-model", api_base=server.url, backoff_s=0.01)
        assert complete(backend).text == "beta"
        assert server.requests == 3
    finally:
        server.stop()


def test_retry_after_is_honoured():
    server = LoopbackServer(faults={1: "429-retry-after"}).start()
    try:
        backend = LiteLLMBackend("openai/test-model", api_base=server.url, backoff_s=5.0)
        started = time.perf_counter()
        complete(backend)
        assert time.perf_counter() - started < 4  # waited Retry-After (0.05 s), not the 5 s backoff
    finally:
        server.stop()


def test_persistent_failure_and_non_transient_errors_raise_request_error():
    server = LoopbackServer(faults={i: "500" for i in range(1, 10)} | {10: "filter", 11: "401"}).start()
    try:
        backend = LiteLLMBackend("openai/test-model", api_base=server.url, backoff_s=0.001, max_retries=8)
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


def test_timeout_is_a_request_error():
    server = LoopbackServer(faults={1: "timeout"}).start()
    try:
        backend = LiteLLMBackend("openai/test-model", api_base=server.url, timeout_s=0.5, max_retries=0)
        with pytest.raises(RequestError) as failure:
            complete(backend)
        assert failure.value.kind == "timeout"
    finally:
        server.stop()


def test_unreachable_api_base_is_a_usage_error():
    with pytest.raises(UsageError, match=r"cannot reach API base http://127\.0\.0\.1:9/v1"):
        complete(LiteLLMBackend("openai/test-model", api_base="http://127.0.0.1:9/v1"))


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UsageError, match="needs OPENAI_API_KEY in the environment"):
        complete(LiteLLMBackend("openai/gpt-4o-mini"))


def test_key_from_environment_is_sent_but_never_returned(loopback, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-123456")
    completion = complete(LiteLLMBackend("openai/test-model", api_base=loopback.url))
    assert loopback.authorization_seen == ["Bearer sk-test-secret-123456"]
    assert "sk-test" not in repr(completion)


def test_unknown_provider_suggests():
    with pytest.raises(UsageError, match="Did you mean 'openai'"):
        resolve_backend("opnai/gpt-4o")
    with pytest.raises(UsageError, match="needs a provider prefix"):
        resolve_backend("gpt-4o")
