"""A real OpenAI-compatible chat server on 127.0.0.1 for tests, with injected latency and faults.

The reply is deterministic: the last whitespace-separated word of the last user message's input line,
so greedy runs against it are reproducible. Faults are scripted per request number or drawn with a seed.
A `RateLimit` makes it enforce requests- and tokens-per-minute budgets the way a provider does: token buckets,
429 with Retry-After, and OpenAI's (or Anthropic's) rate-limit headers on every answer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Fault = str
"""Transport and status faults: "429", "429-retry-after", "429-retry-after-nan", "429-retry-after-date", "500",
"503", "401", "403", "404", "context" (a 400 for a prompt past the context window), "reset", "timeout", "hang",
"malformed" (not JSON), "bad-utf8" (invalid UTF-8 bytes).
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
class Bucket:
    """A token bucket: `capacity` tokens, refilled at `rate` per second."""

    capacity: float
    rate: float
    level: float = -1.0
    updated: float = 0.0

    def refill(self, now: float) -> None:
        if self.level < 0:
            self.level, self.updated = self.capacity, now
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` tokens are in the bucket (0 when they are now)."""
        return max(0.0, (min(amount, self.capacity) - self.level) / self.rate)

    def full_in(self) -> float:
        return (self.capacity - self.level) / self.rate


@dataclass
class RateLimit:
    """A provider's rate limit: requests and tokens per minute, as token buckets.

    A request needs one request token and (prompt words + max_tokens) tokens, as OpenAI estimates a request
    before it runs; an empty bucket answers 429 with `Retry-After` (whole seconds, rounded up, as OpenAI sends it;
    `retry_after_ms` adds `retry-after-ms`). Every answer carries the headers of `style` ("openai":
    `x-ratelimit-limit-requests`, `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests` and the same for
    tokens; "anthropic": `anthropic-ratelimit-requests-limit`, `-remaining`, `-reset` (RFC 3339); "none": no headers).
    """

    rpm: float | None = None
    tpm: float | None = None
    request_burst: float | None = None
    """Request bucket size (default: two seconds' worth, at least 1)."""
    token_burst: float | None = None
    style: str = "openai"
    retry_after_ms: bool = False
    fractional_retry_after: bool = False
    """Send Retry-After as fractional seconds (the exact wait), not rounded up to whole seconds."""
    refused: int = 0
    admitted: int = 0
    tokens_admitted: float = 0.0
    _buckets: dict[str, Bucket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rpm:
            self._buckets["requests"] = Bucket(self.request_burst or max(1.0, self.rpm / 30), self.rpm / 60)
        if self.tpm:
            self._buckets["tokens"] = Bucket(self.token_burst or max(1.0, self.tpm / 30), self.tpm / 60)

    def admit(self, tokens: float) -> tuple[bool, dict[str, str]]:
        """Whether a request needing `tokens` may run now (taking its share if so), and the headers to send."""
        now = time.monotonic()
        needs = {"requests": 1.0, "tokens": tokens}
        for bucket in self._buckets.values():
            bucket.refill(now)
        wait = max((bucket.wait_for(needs[name]) for name, bucket in self._buckets.items()), default=0.0)
        if wait <= 0:
            for name, bucket in self._buckets.items():
                bucket.level -= min(needs[name], bucket.capacity)
            self.admitted += 1
            self.tokens_admitted += tokens
        else:
            self.refused += 1
        headers = self._headers()
        if wait > 0:
            headers["Retry-After"] = f"{wait:.3f}" if self.fractional_retry_after else str(max(1, math.ceil(wait)))
            if self.retry_after_ms:
                headers["retry-after-ms"] = str(math.ceil(wait * 1000))
        return wait <= 0, headers

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, bucket in self._buckets.items():
            per_minute = self.rpm if name == "requests" else self.tpm
            if self.style == "openai":
                headers[f"x-ratelimit-limit-{name}"] = str(int(per_minute or 0))
                headers[f"x-ratelimit-remaining-{name}"] = str(int(bucket.level))
                headers[f"x-ratelimit-reset-{name}"] = f"{math.ceil(bucket.full_in() * 1000)}ms"
            elif self.style == "anthropic":
                reset = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=bucket.full_in())
                headers[f"anthropic-ratelimit-{name}-limit"] = str(int(per_minute or 0))
                headers[f"anthropic-ratelimit-{name}-remaining"] = str(int(bucket.level))
                headers[f"anthropic-ratelimit-{name}-reset"] = reset.isoformat(timespec="seconds").replace(
                    "+00:00", "Z")
        return headers


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
    models: tuple[str, ...] = ("test-model",)
    """What GET /v1/models lists."""
    in_flight: int = 0
    max_in_flight: int = 0
    inputs_seen: list[str] = field(default_factory=list)
    """The 'Input:' line of every chat request's last user message (which item it was)."""
    batch_delay_s: float = 0.3
    """Batch APIs: seconds from a batch's creation until it ends."""
    batch_expire_every: int = 0
    """Every Nth line of a batch expires unanswered (0: none); the batch then ends `expired`."""
    batch_fail_every: int = 0
    """Every Nth line of a batch fails (HTTP 400 in the error file; Anthropic: `errored`) (0: none)."""
    batch_fail_whole: bool = False
    """Fail every batch at validation (OpenAI status `failed`)."""
    batch_list_status: int | None = None
    """Answer GET /v1/batches (the list) with this status instead (405: a server that cannot list its batches)."""
    batch_create_delay_s: float = 0.0
    """Seconds POST /v1/batches takes before it answers (a kill can land inside the create call)."""
    batches_created: int = 0
    batch_lines: int = 0
    """Lines of every batch created (what a provider would bill)."""
    requests: int = 0
    first_at: float | None = None
    last_at: float | None = None
    authorization_seen: list[str] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    """When each chat request arrived (time.monotonic)."""
    rate_limit: RateLimit | None = None
    """A provider's requests- and tokens-per-minute limit, enforced on chat requests (None: no limit)."""
    tls: Any = None
    """An `ssl.SSLContext` with the server's certificate: the server speaks HTTPS."""
    port: int = 0
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/v1"

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
            app.router.add_post("/v1/files", self._upload)
            app.router.add_get("/v1/files/{id}/content", self._file_content)
            app.router.add_post("/v1/batches", self._create_batch)
            app.router.add_get("/v1/batches", self._list_batches)
            app.router.add_get("/v1/batches/{id}", self._get_batch)
            app.router.add_post("/v1/messages/batches", self._create_message_batch)
            app.router.add_get("/v1/messages/batches", self._list_message_batches)
            app.router.add_get("/v1/messages/batches/{id}", self._get_message_batch)
            app.router.add_get("/v1/messages/batches/{id}/results", self._message_batch_results)
            self._runner = web.AppRunner(app, access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.tls)
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
        self._loop = None

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]})

    async def _stats(self, request: web.Request) -> web.Response:
        """Requests served, and the span from the first arrival to the last answer (for benchmarks)."""
        span = None if self.first_at is None or self.last_at is None else self.last_at - self.first_at
        limit = self.rate_limit
        return web.json_response({"requests": self.requests, "span_s": span, "batches_created": self.batches_created,
                                  "batch_lines": self.batch_lines, "refused": limit.refused if limit else 0,
                                  "admitted": limit.admitted if limit else self.requests,
                                  "tokens_admitted": limit.tokens_admitted if limit else None})

    # -- the OpenAI Batch API ----------------------------------------------------------------------------------

    def _store(self) -> dict[str, Any]:
        if not hasattr(self, "_batch_store"):
            self._batch_store: dict[str, Any] = {"files": {}, "batches": {}, "message_batches": {}}
        return self._batch_store

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        data = upload.file.read() if hasattr(upload, "file") else str(upload).encode()  # type: ignore[union-attr]
        file_id = f"file-{len(self._store()['files']) + 1}"
        self._store()["files"][file_id] = data
        return web.json_response({"id": file_id, "object": "file", "bytes": len(data), "purpose": form.get("purpose")})

    async def _file_content(self, request: web.Request) -> web.Response:
        data = self._store()["files"].get(request.match_info["id"])
        if data is None:
            return web.json_response({"error": {"message": "no such file"}}, status=404)
        return web.Response(body=data, content_type="application/jsonl")

    def _answer_lines(self, lines: list[dict[str, Any]], key: str) -> list[tuple[dict[str, Any], str, str | None]]:
        """(line, reply text, fault) per line: fault is None, "expired" or "failed"."""
        answered = []
        for number, line in enumerate(lines, start=1):
            fault = "expired" if self.batch_expire_every and number % self.batch_expire_every == 0 else \
                "failed" if self.batch_fail_every and number % self.batch_fail_every == 0 else None
            messages = line[key]["messages"]
            if key == "params" and line[key].get("system"):
                messages = [{"role": "system", "content": line[key]["system"]}, *messages]
            answered.append((line, self.reply(messages), fault))
        return answered

    async def _create_batch(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.batch_create_delay_s:
            await asyncio.sleep(self.batch_create_delay_s)
        data = self._store()["files"].get(body.get("input_file_id"))
        if data is None:
            return web.json_response({"error": {"message": "no such input file"}}, status=400)
        lines = [json.loads(raw) for raw in data.decode().splitlines() if raw.strip()]
        with self._lock:
            self.batches_created += 1
            self.batch_lines += len(lines)
            batch_id = f"batch_{self.batches_created}"
        batch = {"id": batch_id, "object": "batch", "endpoint": body.get("endpoint"), "input_file_id":
                 body["input_file_id"], "completion_window": body.get("completion_window"), "status": "in_progress",
                 "metadata": body.get("metadata"), "created_at": int(time.time()),
                 "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                 "_ends": time.monotonic() + self.batch_delay_s, "_lines": self._answer_lines(lines, "body")}
        self._store()["batches"][batch_id] = batch
        return web.json_response(_public(batch))

    async def _list_batches(self, request: web.Request) -> web.Response:
        if self.batch_list_status is not None:
            return web.json_response({"error": {"message": "listing batches is not supported"}},
                                     status=self.batch_list_status)
        batches = [_public(self._settle(b)) for b in reversed(list(self._store()["batches"].values()))]
        return web.json_response({"object": "list", "data": batches[: int(request.query.get("limit", "20"))]})

    async def _get_batch(self, request: web.Request) -> web.Response:
        batch = self._store()["batches"].get(request.match_info["id"])
        if batch is None:
            return web.json_response({"error": {"message": "no such batch"}}, status=404)
        return web.json_response(_public(self._settle(batch)))

    def _settle(self, batch: dict[str, Any]) -> dict[str, Any]:
        """End a batch whose time has come: write its output and error files."""
        if batch["status"] != "in_progress" or time.monotonic() < batch["_ends"]:
            return batch
        if self.batch_fail_whole:
            batch.update(status="failed", errors={"data": [{"code": "invalid_request",
                                                            "message": "injected validation failure"}]})
            return batch
        output, errors = [], []
        for line, text, fault in batch["_lines"]:
            if fault == "expired":
                errors.append({"id": "r", "custom_id": line["custom_id"], "response": None,
                               "error": {"code": "batch_expired", "message": "This request could not be executed "
                                                                             "before the completion window expired."}})
            elif fault == "failed":
                errors.append({"id": "r", "custom_id": line["custom_id"], "error": None, "response": {
                    "status_code": 400, "body": {"error": {"message": "injected line failure"}}}})
            else:
                output.append({"id": "r", "custom_id": line["custom_id"], "error": None, "response": {
                    "status_code": 200, "body": _completion(line["body"]["model"], text, "stop",
                                                            line["body"]["messages"])}})
        files = self._store()["files"]
        for key, rows in (("output_file_id", output), ("error_file_id", errors)):
            if rows:
                file_id = f"file-{len(files) + 1}"
                files[file_id] = "".join(json.dumps(row) + "\n" for row in rows).encode()
                batch[key] = file_id
        expired = any(fault == "expired" for _, _, fault in batch["_lines"])
        batch.update(status="expired" if expired else "completed",
                     request_counts={"total": len(batch["_lines"]), "completed": len(output), "failed": len(errors)})
        return batch

    # -- Anthropic Message Batches -----------------------------------------------------------------------------

    async def _create_message_batch(self, request: web.Request) -> web.Response:
        if request.headers.get("anthropic-version") is None:
            return web.json_response({"type": "error", "error": {"message": "anthropic-version header missing"}},
                                     status=400)
        lines = (await request.json())["requests"]
        with self._lock:
            self.batches_created += 1
            self.batch_lines += len(lines)
            batch_id = f"msgbatch_{self.batches_created}"
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        batch = {"id": batch_id, "type": "message_batch", "processing_status": "in_progress", "created_at": created,
                 "request_counts": {"processing": len(lines), "succeeded": 0, "errored": 0, "canceled": 0,
                                    "expired": 0}, "results_url": None,
                 "_ends": time.monotonic() + self.batch_delay_s, "_lines": self._answer_lines(lines, "params")}
        self._store()["message_batches"][batch_id] = batch
        return web.json_response(_public(batch))

    async def _list_message_batches(self, request: web.Request) -> web.Response:
        batches = [_public(self._settle_message_batch(b))
                   for b in reversed(list(self._store()["message_batches"].values()))]
        return web.json_response({"data": batches[: int(request.query.get("limit", "20"))], "has_more": False})

    async def _get_message_batch(self, request: web.Request) -> web.Response:
        batch = self._store()["message_batches"].get(request.match_info["id"])
        if batch is None:
            return web.json_response({"type": "error", "error": {"message": "no such batch"}}, status=404)
        return web.json_response(_public(self._settle_message_batch(batch)))

    def _settle_message_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        if batch["processing_status"] != "in_progress" or time.monotonic() < batch["_ends"]:
            return batch
        results, counts = [], {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for line, text, fault in batch["_lines"]:
            if fault == "expired":
                result: dict[str, Any] = {"type": "expired"}
                counts["expired"] += 1
            elif fault == "failed":
                result = {"type": "errored", "error": {"type": "error", "error": {
                    "type": "invalid_request_error", "message": "injected line failure"}}}
                counts["errored"] += 1
            else:
                words = sum(len(m["content"].split()) for m in line["params"]["messages"])
                result = {"type": "succeeded", "message": {
                    "id": "msg", "type": "message", "role": "assistant", "model": line["params"]["model"],
                    "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                    "usage": {"input_tokens": words, "output_tokens": len(text.split())}}}
                counts["succeeded"] += 1
            results.append({"custom_id": line["custom_id"], "result": result})
        batch["_results"] = "".join(json.dumps(row) + "\n" for row in results).encode()
        batch.update(processing_status="ended", request_counts=counts,
                     results_url=f"{self.url}/messages/batches/{batch['id']}/results")
        return batch

    async def _message_batch_results(self, request: web.Request) -> web.Response:
        batch = self._store()["message_batches"].get(request.match_info["id"])
        if batch is None or "_results" not in batch:
            return web.json_response({"type": "error", "error": {"message": "no results yet"}}, status=404)
        return web.Response(body=batch["_results"], content_type="application/binary")

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
        self.arrivals.append(time.monotonic())
        body = await request.json()
        user = [m["content"] for m in body["messages"] if m["role"] == "user"]
        self.inputs_seen.append(next((line for line in user[-1].splitlines() if line.startswith("Input:")), "")
                                if user else "")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request, body, number)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request, body: dict[str, Any], number: int) -> web.StreamResponse:
        headers: dict[str, str] = {}
        if self.rate_limit is not None:
            words = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
            with self._lock:
                admitted, headers = self.rate_limit.admit(words + int(body.get("max_tokens") or 16))
            if not admitted:
                return web.json_response({"error": {"message": "Rate limit reached for requests", "type": "requests",
                                                    "code": "rate_limit_exceeded"}}, status=429, headers=headers)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        fault = self._fault_for(number)
        if fault is not None:
            return await self._fail(request, fault)
        text = self.reply(body["messages"])
        response = web.json_response(_completion(body.get("model", "test-model"), text, "stop", body["messages"]),
                                     headers=headers)
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
        if fault in ("500", "503", "401", "403", "404"):
            return web.json_response(error, status=int(fault))
        if fault == "context":  # vLLM's answer to a prompt past a smaller max_model_len
            message = "This model's maximum context length is 512 tokens. However, your prompt has 600 input tokens."
            return web.json_response({"error": {"message": message, "type": "BadRequestError", "code": 400}},
                                     status=400)
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


def _public(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in batch.items() if not k.startswith("_")}


def _completion(model: str, text: str, finish: str, messages: list[dict[str, str]]) -> dict[str, Any]:
    prompt_tokens = sum(len(m["content"].split()) for m in messages)
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()),
                  "total_tokens": prompt_tokens + len(text.split())},
    }


if __name__ == "__main__":  # a server for manual runs and benchmarks: python tests/loopback_server.py [latency_s]
    import argparse

    parser = argparse.ArgumentParser(description="A loopback OpenAI-compatible server")
    parser.add_argument("latency", nargs="?", type=float, default=0.0)
    parser.add_argument("--rpm", type=float, help="requests per minute (a provider's rate limit)")
    parser.add_argument("--tpm", type=float, help="tokens per minute")
    parser.add_argument("--request-burst", type=float)
    parser.add_argument("--token-burst", type=float)
    parser.add_argument("--style", default="openai", choices=["openai", "anthropic", "none"])
    parser.add_argument("--fractional-retry-after", action="store_true")
    arguments = parser.parse_args()
    limit = RateLimit(arguments.rpm, arguments.tpm, arguments.request_burst, arguments.token_burst,
                      arguments.style, fractional_retry_after=arguments.fractional_retry_after
                      ) if arguments.rpm or arguments.tpm else None
    server = LoopbackServer(latency_s=arguments.latency, rate_limit=limit).start()
    print(json.dumps({"url": server.url}), flush=True)
    while True:
        time.sleep(3600)
