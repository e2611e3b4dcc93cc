"""A real OpenAI-compatible chat server on 127.0.0.1 for tests, with injected latency and faults.

The reply is deterministic: the last whitespace-separated word of the last user message's input line,
so greedy runs against it are reproducible. Faults are scripted per request number or drawn with a seed.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Fault = str
"""Transport and status faults: "429", "429-retry-after", "429-retry-after-nan", "429-retry-after-date", "500",
"503", "401", "404", "reset", "timeout", "hang", "malformed" (not JSON), "bad-utf8" (invalid UTF-8 bytes).
Malformed 200 replies: "empty" (no choices), "empty-choice" (`choices: [{}]`), "null-message", "text-choice" (the
completions-API shape), "no-content", "tool-calls", "filter". Odd but valid replies: "surrogate" (a lone surrogate),
"nul" (NUL characters), "bad-tokens" (negative and absurd token counts), "huge" (a 3 MB answer)."""


def default_reply(messages: list[dict[str, str]]) -> str:
    """The last word of the 'Input:' line of the last user message (or of the message); DSPy gets its format."""
    content = [m for m in messages if m["role"] == "user"][-1]["content"]
    if "[[ ## " in content:
        return "[[ ## answer ## ]]\nyes\n\n[[ ## completed ## ]]"
    for line in content.splitlines():
        if line.startswith("Input:"):
            words = line.split()
            return words[-1] if len(words) > 1 else ""
    words = content.split()
    return words[-1] if words else ""


@dataclass
class LoopbackServer:
    """Start with `start()`; `url` is the API base; `requests` counts what arrived."""

    latency_s: float = 0.0
    faults: dict[int, Fault] = field(default_factory=dict)
    fault_rate: float = 0.0
    fault_kinds: tuple[Fault, ...] = ()
    seed: int = 0
    echo_auth_in_errors: bool = False
    """Put the request's Authorization header in error messages, as a careless provider might."""
    reply: Callable[[list[dict[str, str]]], str] = default_reply
    requests: int = 0
    first_at: float | None = None
    last_at: float | None = None
    authorization_seen: list[str] = field(default_factory=list)
    port: int = 0
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LoopbackServer:
        ready = threading.Event()
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._stopping = asyncio.Event()
            app = web.Application()
            app.router.add_post("/v1/chat/completions", self._handle)
            app.router.add_get("/v1/models", self._models)
            app.router.add_get("/v1/stats", self._stats)
            app.router.add_post("/v1/stats/reset", self._reset_stats)
            self._runner = web.AppRunner(app, access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        async def shutdown() -> None:
            assert self._runner is not None
            self._stopping.set()
            await self._runner.cleanup()
        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(10)

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "test-model", "object": "model"}]})

    async def _stats(self, request: web.Request) -> web.Response:
        """Requests served, and the span from the first arrival to the last answer (for benchmarks)."""
        span = None if self.first_at is None or self.last_at is None else self.last_at - self.first_at
        return web.json_response({"requests": self.requests, "span_s": span})

    async def _reset_stats(self, request: web.Request) -> web.Response:
        with self._lock:
            self.requests, self.first_at, self.last_at = 0, None, None
        return web.json_response({"requests": 0})

    def _fault_for(self, number: int) -> Fault | None:
        with self._lock:
            if number in self.faults:
                return self.faults[number]
            if self.fault_rate and self._rng.random() < self.fault_rate:
                return self._rng.choice(self.fault_kinds)
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self.requests += 1
            number = self.requests
            if self.first_at is None:
                self.first_at = time.perf_counter()
        self.authorization_seen.append(request.headers.get("Authorization", ""))
        body = await request.json()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        fault = self._fault_for(number)
        if fault is not None:
            return await self._fail(request, fault)
        text = self.reply(body["messages"])
        response = web.json_response(_completion(body.get("model", "test-model"), text, "stop", body["messages"]))
        self.last_at = time.perf_counter()
        return response

    async def _fail(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "") if self.echo_auth_in_errors else ""
        error = {"error": {"message": f"injected {fault} {auth}".strip(), "type": "server_error"}}
        ok = _completion("test-model", "fine", "stop", [])
        retry_after = {"429-retry-after": "0.05", "429-retry-after-nan": "nan",
                       "429-retry-after-date": "Wed, 21 Oct 2015 07:28:00 GMT"}
        if fault == "429":
            return web.json_response(error, status=429)
        if fault in retry_after:
            return web.json_response(error, status=429, headers={"Retry-After": retry_after[fault]})
        if fault in ("500", "503", "401", "404"):
            return web.json_response(error, status=int(fault))
        if fault == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        if fault == "timeout":
            await asyncio.sleep(2)
            return web.json_response(error, status=504)
        if fault == "hang":  # until the server stops
            await self._stopping.wait()
            return web.json_response(error, status=504)
        if fault == "malformed":
            return web.Response(text="{not json", content_type="application/json")
        if fault == "bad-utf8":
            body = json.dumps(ok).replace("fine", "@@").encode().replace(b"@@", b"\xff\xfe")
            return web.Response(body=body, content_type="application/json")
        choices = {"empty": [], "empty-choice": [{}], "null-message": [{"index": 0, "message": None}],
                   "text-choice": [{"index": 0, "text": "fine", "finish_reason": "stop"}],
                   "no-content": [{"index": 0, "message": {"role": "assistant"}, "finish_reason": "stop"}],
                   "tool-calls": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                       "finish_reason": "tool_calls"}]}
        if fault in choices:
            return web.json_response({**ok, "choices": choices[fault]})
        if fault == "filter":
            return web.json_response(_completion("test-model", "", "content_filter", []))
        if fault == "surrogate":  # valid JSON whose string holds a lone surrogate
            return web.Response(text=json.dumps(ok).replace("fine", "fine \\ud800 end"),
                                content_type="application/json")
        if fault == "nul":
            return web.json_response(_completion("test-model", "fi\x00ne\x00", "stop", []))
        if fault == "bad-tokens":
            return web.json_response({**ok, "usage": {"prompt_tokens": -5, "completion_tokens": 10**15}})
        if fault == "huge":
            return web.json_response(_completion("test-model", "x" * 3_000_000, "stop", []))
        raise ValueError(f"unknown fault {fault}")


def _completion(model: str, text: str, finish: str, messages: list[dict[str, str]]) -> dict[str, Any]:
    prompt_tokens = sum(len(m["content"].split()) for m in messages)
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()),
                  "total_tokens": prompt_tokens + len(text.split())},
    }


if __name__ == "__main__":  # a server for manual runs and benchmarks: python tests/loopback_server.py [latency_s]
    import sys

    server = LoopbackServer(latency_s=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0).start()
    print(json.dumps({"url": server.url}), flush=True)
    while True:
        time.sleep(3600)
