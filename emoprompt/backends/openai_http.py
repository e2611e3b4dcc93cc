"""The OpenAI-compatible chat protocol (OpenAI, vLLM, llama.cpp, most local servers), posted directly on emoprompt's
HTTP stack (`emoprompt.backends.http`: aiohttp, proxies and CA settings from the environment).

litellm costs about 7 ms of CPU per call, which caps a 2-core machine near 130 requests/s; this direct path
costs a fraction of a millisecond, so the model, not the harness, is the bottleneck. Other providers still go
through litellm (`litellm/<provider>/<model>` forces litellm for these too).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from emoprompt.backends._api import check_api_base, token_prices
from emoprompt.backends.http import HTTPFailure, check_reachable, new_session, proxy_for, request
from emoprompt.backends.pacing import read_rate_limits
from emoprompt.chat import Chat, Completion, GenerateConfig, chat_to_dicts, token_count
from emoprompt.errors import RequestError, UsageError
from emoprompt.secrets import redact_url, truncate

PROVIDERS = {
    # provider prefix: (default API base or None, environment variable of the key, environment variables of the base)
    "openai": ("https://api.openai.com/v1", "OPENAI_API_KEY", ("OPENAI_API_BASE", "OPENAI_BASE_URL")),
    "hosted_vllm": (None, "HOSTED_VLLM_API_KEY", ("HOSTED_VLLM_API_BASE",)),
}

_STATUS_KINDS = {400: "bad_request", 401: "auth", 403: "auth", 404: "not_found", 408: "timeout", 409: "server_error",
                 413: "context_window", 422: "bad_request", 429: "rate_limit", 500: "server_error",
                 502: "server_error", 503: "unavailable", 504: "server_error", 529: "overloaded"}


class OpenAIHTTPBackend:
    """`openai/<model>` or `hosted_vllm/<model>` posted straight to `<api base>/chat/completions`.

    Keys come only from the environment (`OPENAI_API_KEY`, `HOSTED_VLLM_API_KEY`). The endpoint is `api_base`,
    else `OPENAI_API_BASE` / `OPENAI_BASE_URL` (`HOSTED_VLLM_API_BASE`), else OpenAI's; wherever it came from, it is
    part of the identity, so answers cached from one server are never served for another. One connection pool
    per event loop. Pacing and retries are the caller's (ManagedBackend); every answer and refusal carries the
    provider's rate-limit headers for it.
    """

    paced = True

    def __init__(self, model: str, api_base: str | None = None, timeout_s: float = 60.0,
                 concurrency: int = 16, max_response_bytes: int = 8_000_000) -> None:
        provider, _, self.model_id = model.partition("/")
        if provider not in PROVIDERS or not self.model_id:
            raise UsageError(f"{model!r} is not an OpenAI-compatible model string; use openai/<model> or "
                             "hosted_vllm/<model>")
        default_base, self._key_variable, base_variables = PROVIDERS[provider]
        self.name = model
        chosen = api_base or next((os.environ[v] for v in base_variables if os.environ.get(v)), None) or default_base
        if chosen is None:
            raise UsageError(f"{model} needs the server's address: add --api-base http://HOST:PORT/v1 "
                             f"(or export {base_variables[0]})")
        self.api_base: str = check_api_base(chosen)
        self._url, self._basic_auth = _split_credentials(chosen)
        self._chat_url = self.url("chat/completions")
        self._proxy = proxy_for(self._url)
        """The proxy the environment names for this endpoint, looked up once (a bad one is bad input here)."""
        self.timeout_s = timeout_s
        self.default_concurrency = concurrency
        self.max_response_bytes = max_response_bytes
        self._sessions: dict[asyncio.AbstractEventLoop, Any] = {}
        self._prices = token_prices(model) if provider == "openai" else None

    def identity(self) -> dict[str, Any]:
        return {"backend": "api", "model": self.name, "api_base": endpoint_identity(self.api_base)}

    def url(self, name: str) -> str:
        """The URL of `<api base>/<name>` (e.g. `chat/completions` or `models`), its query kept, without
        credentials."""
        parts = urlsplit(self._url)
        return urlunsplit((parts.scheme, parts.netloc, f"{parts.path.rstrip('/')}/{name}", parts.query, ""))

    def target(self, name: str) -> str:
        """The request target (path and query) of `url(name)`."""
        parts = urlsplit(self.url(name))
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def preflight(self) -> None:
        """Checks that need no network, before a run folder is created: the key, where one is needed (and that it
        can go in a header), and the proxy the environment names."""
        key = os.environ.get(self._key_variable)
        if key is None and self.api_base == PROVIDERS["openai"][0]:
            raise UsageError(f"{self.name} needs {self._key_variable} in the environment; "
                             f"export {self._key_variable}=... (keys are never written to disk)")
        if key is not None and not _header_safe(key):
            raise UsageError(f"{self._key_variable} holds characters an HTTP header cannot carry (line breaks, control "
                             "or non-Latin-1 characters); export the key alone")

    async def start(self) -> None:
        self.preflight()
        await check_reachable(self.api_base)

    async def complete(self, chat: Chat, config: GenerateConfig) -> Completion:
        return await self._post(self._body(chat, config))

    def _body(self, chat: Chat, config: GenerateConfig) -> bytes:
        payload: dict[str, Any] = {"model": self.model_id, "messages": chat_to_dicts(chat),
                                   "temperature": config.temperature, "max_tokens": config.max_tokens,
                                   "top_p": config.top_p}
        if config.seed is not None:
            payload["seed"] = config.seed
        if config.stop:
            payload["stop"] = list(config.stop)
        return json.dumps(payload, ensure_ascii=False).encode()

    async def get(self, name: str, timeout_s: float = 30.0) -> tuple[int, bytes]:
        """`GET <api base>/<name>` (e.g. `models`): status and body; raises HTTPFailure."""
        response = await request(self._session(), "GET", self.url(name), timeout_s=timeout_s,
                                 max_bytes=self.max_response_bytes, proxy=self._proxy)
        return response.status, response.body

    async def _post(self, body: bytes) -> Completion:
        started = time.perf_counter()
        try:
            response = await request(self._session(), "POST", self._chat_url, data=body,
                                     max_bytes=self.max_response_bytes, proxy=self._proxy)
        except HTTPFailure as failure:
            message = failure.args[0]
            if failure.kind == "response_too_large":
                message += " (--max-response-chars)"
            raise RequestError(failure.kind, truncate(message)) from None
        latency = time.perf_counter() - started
        payload = response.body
        limits = read_rate_limits(response.headers)
        if response.status >= 400:
            raise _status_error(response.status, payload, limits)
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise RequestError("malformed_response", f"the server's answer is not JSON: {payload[:120]!r}") from None
        completion = self._completion(data, latency)
        return completion if limits is None else completion.replace(rate_limits=limits)

    def _completion(self, data: Any, latency: float) -> Completion:
        choices = data.get("choices") if isinstance(data, dict) else None
        if not choices or not isinstance(choices, list):
            raise RequestError("empty_choices", "the API returned no choices")
        text, finish = message_text(choices[0])
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        tokens_in, tokens_out = token_count(usage.get("prompt_tokens")), token_count(usage.get("completion_tokens"))
        cost = None
        if self._prices and tokens_in is not None and tokens_out is not None:
            cost = tokens_in * self._prices[0] + tokens_out * self._prices[1]
        served = data.get("model") if isinstance(data.get("model"), str) else None
        return Completion(text, finish, tokens_in, tokens_out, latency, cost, served_model=served)

    def _session(self) -> Any:
        """The connections of the running event loop (a caller may use several loops, one after another)."""
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            for old_loop in [old for old in self._sessions if old.is_closed()]:
                del self._sessions[old_loop]
            session = new_session(self._session_headers(), self.timeout_s, tls=self._url.startswith("https:"))
            self._sessions[loop] = session
        return session

    def _session_headers(self) -> dict[str, str]:
        """JSON content, and the key from the environment (else the URL's basic-auth credentials)."""
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self._key_variable)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        elif self._basic_auth is not None:
            headers["Authorization"] = self._basic_auth
        return headers

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        session = self._sessions.pop(loop, None)
        if session is not None:
            await session.close()


def message_text(choice: Any) -> tuple[str, str]:
    """(text, finish reason) of one OpenAI chat choice; a choice without a message with text content is a
    `malformed_response` error (a completions-API `text` choice, `message: null`, `choices: [{}]`), never an
    empty answer."""
    if not isinstance(choice, dict):
        raise RequestError("malformed_response", "the answer's choices are not OpenAI-shaped")
    finish = choice.get("finish_reason") or "stop"
    if finish == "content_filter":
        raise RequestError("content_filter", "the provider's content filter stopped the answer")
    message = choice.get("message")
    if not isinstance(message, dict):
        shape = "a completions-API choice (text); the endpoint must serve /chat/completions" if "text" in choice \
            else "a choice without a message"
        raise RequestError("malformed_response", f"the server sent {shape}")
    content = message.get("content")
    if not isinstance(content, str):
        what = "tool calls" if message.get("tool_calls") else "no text content"
        raise RequestError("malformed_response", f"the server's message has {what}")
    return content, str(finish)


def _split_credentials(api_base: str) -> tuple[str, str | None]:
    """`api_base` without a `user:password@` part, and that part as a basic-auth header value (sent when no API key
    is set; a key in the environment goes as a bearer token instead)."""
    parts = urlsplit(api_base)
    netloc, auth = parts.netloc, None
    if parts.username is not None:
        import base64

        netloc = netloc.rpartition("@")[2]
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        auth = "Basic " + base64.b64encode(pair).decode("ascii")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), auth


def endpoint_identity(api_base: str) -> str:
    """The endpoint as it enters identities: credentials removed, no trailing slash."""
    return redact_url(api_base).rstrip("/")


def _header_safe(value: str) -> bool:
    """Whether `value` can be sent as (part of) an HTTP header: Latin-1, no control characters."""
    return all(31 < ord(c) < 256 and ord(c) != 127 for c in value)


def _status_error(status: int, payload: bytes, limits: Any = None) -> RequestError:
    message = payload[:2000].decode("utf-8", "replace")
    try:
        error = json.loads(payload).get("error")
        message = str(error.get("message") if isinstance(error, dict) else error)
    except (ValueError, AttributeError, UnicodeDecodeError, RecursionError):
        pass
    message = truncate(message)
    kind = _STATUS_KINDS.get(status, "server_error" if status >= 500 else "api_error")
    if kind == "bad_request" and any(word in message.lower() for word in ("context length", "maximum context",
                                                                          "too many tokens", "context window")):
        kind = "context_window"
    retry_after = limits.retry_after if limits is not None else None
    return RequestError(kind, f"HTTP {status}: {message}", retry_after, limits)
