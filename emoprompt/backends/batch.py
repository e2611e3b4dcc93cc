"""Provider Batch APIs: OpenAI-compatible `/v1/files` + `/v1/batches` (OpenAI, and the JSONL `vllm run-batch`
reads) and Anthropic Message Batches, behind the usual `complete(chat, config)`.

Requests are gathered into rounds (`emoprompt.backends.rounds`) and go out as one or more batches within the
provider's limits, each request named by its cell key and call
number (`custom_id`). A batch is polled with a growing interval and its results are joined back by id; expired,
failed and cancelled lines come back as error cells of the kinds `batch_expired`, `batch_failed`,
`batch_cancelled`. HEART loops go round by round.

Nothing is paid twice: each batch is written to the run folder (`batches/<local id>.jsonl`) and entered in the
manifest before it is sent, and again at each step (uploaded, created, fetched). `--resume` after a kill finds the
batches whose results were never joined and polls them instead of submitting their requests again. Costs are
counted at the provider's batch prices (litellm's price map; half the online price where it has none).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any, Protocol

from emoprompt.backends._api import check_api_base, token_prices
from emoprompt.backends.base import BackendOptions
from emoprompt.backends.context import current_request
from emoprompt.backends.http import HTTPFailure, check_reachable, new_session, request
from emoprompt.backends.managed import send_with_retries
from emoprompt.backends.openai_http import endpoint_identity, message_text
from emoprompt.backends.pacing import Pacer, read_rate_limits
from emoprompt.backends.rounds import Outcome, Pending, Rounds
from emoprompt.chat import Chat, Completion, GenerateConfig, chat_to_dicts, token_count
from emoprompt.errors import RequestError, UsageError
from emoprompt.safe_files import private_dir, write_private_bytes
from emoprompt.secrets import redact_url, truncate

FINAL = "joined"
"""A batch whose results were joined into records by a finished invocation: never polled again."""


class BatchJournal(Protocol):
    """Where batches are remembered (a run's manifest, see RunStore)."""

    run_dir: Path
    batches: list[dict[str, Any]]

    def save_batch(self, entry: dict[str, Any]) -> None:
        """Enter or update one batch (by its `local` id), durably."""
        ...


class MemoryJournal:
    """Batches remembered only by this process (calls outside a run): no resume."""

    def __init__(self) -> None:
        import tempfile

        self.run_dir = Path(tempfile.mkdtemp(prefix="emoprompt-batches-"))
        self.batches: list[dict[str, Any]] = []

    def save_batch(self, entry: dict[str, Any]) -> None:
        self.batches = [b for b in self.batches if b["local"] != entry["local"]] + [entry]


class BatchBackend:
    """What the OpenAI and Anthropic batch clients share: gathering, splitting, the journal, polling, joining."""

    paced = False
    """The requests of a batch are not sent one by one: only the API's own calls are paced (`_request`)."""
    provider = ""
    max_requests = 50_000
    max_bytes = 190_000_000
    api_base: str

    def __init__(self, model: str, options: BackendOptions) -> None:
        self.name = model
        self.poll_s = max(options.batch_poll_s, 0.01)
        self.default_concurrency = self.max_requests
        """Cells asking at once: one full batch's worth (split by --batch-size into several batches)."""
        if options.batch_max_requests is not None:
            if options.batch_max_requests < 1:
                raise UsageError(f"--batch-size must be 1 or more, not {options.batch_max_requests}")
            self.max_requests = min(options.batch_max_requests, self.max_requests)
        self.timeout_s = options.timeout_s
        self.resubmit_unknown = options.resubmit_unknown
        self.stage: str | None = None
        self._journal: BatchJournal = MemoryJournal()
        self._rounds = Rounds(self._run_batch, self.max_requests, self.max_bytes)
        self._known: dict[str, str] = {}
        """custom_id → local id of a batch from an earlier invocation that holds it (results not yet joined)."""
        self._results: dict[str, asyncio.Future[dict[str, Outcome]]] = {}
        self._served: set[str] = set()
        self._session_: Any = None
        self._prices = token_prices(model, batch=True)
        self._pacer = Pacer(4, patience_s=options.patience_s, label=f"{model} Batch API")
        """The pace of the API's own calls (uploads, creations, polls): its 429s wait, never fail a batch."""

    # -- what subclasses provide --------------------------------------------------------------------------------

    def _line(self, custom_id: str, chat: Chat, config: GenerateConfig) -> dict[str, Any]:
        raise NotImplementedError

    async def _submit(self, entry: dict[str, Any], data: bytes) -> None:
        """Send the batch whose lines are `data`, entering each step (upload, create) in `entry` and the journal."""
        raise NotImplementedError

    async def _recover(self, entry: dict[str, Any], data: bytes) -> None:
        """Finish a submission an earlier invocation left half done (killed between two of its steps)."""
        raise NotImplementedError

    async def _status(self, entry: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        """(ended, the provider's status with progress, the batch object) of a submitted batch."""
        raise NotImplementedError

    async def _outcomes(self, entry: dict[str, Any], batch: dict[str, Any]) -> dict[str, Outcome]:
        """Every line's outcome of an ended batch (`batch`: its last status), by custom_id."""
        raise NotImplementedError

    # -- the backend contract -----------------------------------------------------------------------------------

    def bind_run(self, journal: BatchJournal) -> None:
        """Remember batches in a run's manifest, and pick up those an earlier invocation left unjoined."""
        self._journal = journal
        for entry in journal.batches:
            if entry.get("provider") != self.provider or entry.get("model") != self.name or \
                    entry.get("status") == FINAL:
                continue
            try:
                lines = (journal.run_dir / entry["input"]).read_text(encoding="utf-8").splitlines()
            except OSError:
                continue  # its input file is gone: its requests are submitted again
            for line in lines:
                self._known[json.loads(line)["custom_id"]] = entry["local"]

    async def start(self) -> None:
        self.preflight()
        await check_reachable(self.api_base)
        await self._check_batch_api()
        await self._check_interrupted_creations()

    async def _check_interrupted_creations(self) -> None:
        """A batch whose creation a kill interrupted is looked up by listing the server's batches. A server that
        cannot list them leaves it unknown: refused in one line, unless --resubmit-unknown says to send it again."""
        for entry in self._journal.batches:
            if entry.get("provider") != self.provider or entry.get("model") != self.name or \
                    entry.get("status") != "creating" or entry.get("batch_id"):
                continue
            try:
                await self._json("GET", self._batches_url(), params={"limit": "1"})
            except RequestError as error:
                if not any(f"HTTP {status}" in error.message for status in (404, 405, 501)):
                    raise
                if self.resubmit_unknown:
                    self._journal.save_batch({**entry, "status": "resubmit", "unknown_since": _now()})
                    continue
                raise UsageError(f"batch {entry['local']} ({entry['requests']:,} requests) was being created when "
                                 f"the run stopped, and {redact_url(self.api_base)} cannot list its batches to find it "
                                 f"({error.message.split(': ', 2)[1] if ': ' in error.message else error.message}); "
                                 "it may exist there. Look it up in the provider's dashboard, or resume with "
                                 f"--resubmit-unknown to send its {entry['requests']:,} requests again (paid again "
                                 "if the first batch ran)") from None

    async def _check_batch_api(self) -> None:
        """Refuse, before anything is sent, a server that has no Batch API at all (its batch list is not found)."""
        try:
            response = await request(self._session(), "GET", self._batches_url(), timeout_s=min(self.timeout_s, 30),
                                     params={"limit": "1"})
        except HTTPFailure:
            return  # a hiccup: the batch's own calls retry and name what fails
        if response.status == 404:
            raise UsageError(f"{redact_url(self.api_base)} has no Batch API (GET {self._batches_path()} answered 404);"
                             " drop --batch (a vLLM server has none: `vllm run-batch` reads the JSONL files --batch "
                             "writes)")

    def _batches_url(self) -> str:
        return f"{self.api_base}{self._batches_path()}"

    def _batches_path(self) -> str:
        raise NotImplementedError

    def preflight(self) -> None:
        """Checks that need no network: the key, where one is needed."""

    async def complete(self, chat: Chat, config: GenerateConfig) -> Completion:
        tag = current_request.get()
        line = self._line("", chat, config)
        custom_id = tag.custom_id if tag else "r" + hashlib.sha256(json.dumps(line, sort_keys=True).encode()
                                                                    ).hexdigest()[:32]
        from_earlier_batch = custom_id in self._known and custom_id not in self._served
        self._served.add(custom_id)  # asked again in this invocation (a retry), it goes in a new batch
        if from_earlier_batch:
            outcomes = await self._results_of(self._known[custom_id])
            outcome = outcomes.get(custom_id) or _missing(custom_id)
        else:
            line["custom_id"] = custom_id
            outcome = await self._rounds.ask(custom_id, (json.dumps(line, ensure_ascii=False) + "\n").encode())
        if isinstance(outcome, RequestError):
            raise outcome
        return outcome

    async def close(self) -> None:
        """Mark the batches this invocation joined, so a later one never polls them; close the connections."""
        for entry in list(self._journal.batches):
            if entry.get("status") == "fetched" and entry["local"] in self._results:
                self._journal.save_batch({**entry, "status": FINAL})
        self._rounds.close()
        if self._session_ is not None and not self._session_.closed:
            await self._session_.close()
        self._session_ = None

    # -- sending --------------------------------------------------------------------------------------------------

    async def _run_batch(self, requests: list[Pending]) -> None:
        """Send one round's group as a batch and hand each request its outcome."""
        local = uuid.uuid4().hex[:16]
        folder = private_dir(self._journal.run_dir / "batches")
        data = b"".join(line for _, line, _ in requests)
        write_private_bytes(folder / f"{local}.jsonl", data)  # every prompt of the round: owner-only
        entry = {"local": local, "provider": self.provider, "model": self.name,
                 "endpoint": endpoint_identity(self.api_base), "input": f"batches/{local}.jsonl",
                 "requests": len(requests), "bytes": len(data), "status": "writing", "created": _now()}
        self._journal.save_batch(entry)
        futures = {custom_id: future for custom_id, _, future in requests}
        self._results[local] = asyncio.get_running_loop().create_future()
        try:
            await self._submit(entry, data)
            outcomes = await self._wait_and_fetch(entry)
        except RequestError as error:
            outcomes = dict.fromkeys(futures, error)
        self._results[local].set_result(outcomes)
        for custom_id, future in futures.items():
            if not future.done():
                future.set_result(outcomes.get(custom_id) or _missing(custom_id))

    async def _results_of(self, local: str) -> dict[str, Outcome]:
        """The outcomes of an earlier invocation's batch (resuming its submission or polling it, once)."""
        if local not in self._results:
            self._results[local] = asyncio.get_running_loop().create_future()
            self._rounds.spawn(self._resume(local))
        return await asyncio.shield(self._results[local])

    async def _resume(self, local: str) -> None:
        entry = next(b for b in self._journal.batches if b["local"] == local)
        data = (self._journal.run_dir / entry["input"]).read_bytes()
        try:
            if not entry.get("batch_id"):
                await self._recover(entry, data)
                entry = next(b for b in self._journal.batches if b["local"] == local)
            outcomes = await self._wait_and_fetch(entry)
        except Exception as exc:  # a failure must reach the cells waiting on this batch, never hang them
            error = exc if isinstance(exc, RequestError) else RequestError(
                "batch_failed", truncate(f"{type(exc).__name__}: {exc}"))
            outcomes = {json.loads(line)["custom_id"]: error for line in data.splitlines()}
        self._results[local].set_result(outcomes)

    async def _wait_and_fetch(self, entry: dict[str, Any]) -> dict[str, Outcome]:
        delay = min(1.0, self.poll_s)
        while True:
            ended, status, batch = await self._status(entry)
            self.stage = f"batch {entry['batch_id']}: {status}"
            if ended:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.poll_s)
        outcomes = await self._outcomes(entry, batch)
        self.stage = None
        current = next(b for b in self._journal.batches if b["local"] == entry["local"])
        self._journal.save_batch({**current, "status": "fetched", "ended": _now(), "provider_status": status})
        return outcomes

    # -- HTTP -----------------------------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _session(self) -> Any:
        if self._session_ is None or self._session_.closed:
            self._session_ = new_session(self._headers(), max(self.timeout_s, 300))
        return self._session_

    async def _request(self, method: str, url: str, **kwargs: Any) -> bytes:
        """One API call in the retry policy (`send_with_retries`): 429s wait their turn, connection failures and 5xx
        are tried again (a batch's polling outlives a hiccup), other 4xx fail the batch's requests."""
        async def send() -> bytes:
            try:
                response = await request(self._session(), method, url, max_bytes=1 << 31, **kwargs)
            except HTTPFailure as failure:
                raise RequestError(failure.kind, truncate(f"{method} {redact_url(url)}: {failure}")) from None
            if response.status < 400:
                return response.body
            limits = read_rate_limits(response.headers)
            message = truncate(f"{method} {redact_url(url)}: HTTP {response.status}: "
                               f"{response.body[:500].decode('utf-8', 'replace')}")
            kind = "rate_limit" if response.status == 429 else "server_error" if response.status >= 500 else \
                "batch_failed"
            raise RequestError(kind, message, limits.retry_after if limits else None, limits)

        return await send_with_retries(send, pacer=self._pacer, max_retries=7, backoff_s=0.5)

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        body = await self._request(method, url, **kwargs)
        try:
            data = json.loads(body)
        except ValueError:
            raise RequestError("malformed_response", f"{redact_url(url)} did not answer JSON") from None
        if not isinstance(data, dict):
            raise RequestError("malformed_response", f"{redact_url(url)} did not answer a JSON object")
        return data

    def _cost(self, tokens_in: int | None, tokens_out: int | None) -> float | None:
        if self._prices is None or tokens_in is None or tokens_out is None:
            return None
        return tokens_in * self._prices[0] + tokens_out * self._prices[1]


class OpenAIBatchBackend(BatchBackend):
    """`openai/<model>` or `hosted_vllm/<model>` with `--batch`: the OpenAI Batch API (`/v1/files`, `/v1/batches`;
    50,000 requests or 200 MB a batch, a 24 h window)."""

    provider = "openai"

    def __init__(self, model: str, api_base: str | None, options: BackendOptions) -> None:
        from emoprompt.backends.openai_http import OpenAIHTTPBackend

        self._online = OpenAIHTTPBackend(model, api_base, options.timeout_s)
        """The online client of the same endpoint: its identity, key, and request bodies are the batch's."""
        self.api_base = self._online.url("").rstrip("/")
        """Without credentials: those in the URL go in the Authorization header (`_headers`)."""
        super().__init__(model, options)
        if not model.startswith("openai/"):
            self._prices = None

    def identity(self) -> dict[str, Any]:
        """The same as the online client's: a batch's answers are the model's answers."""
        return self._online.identity()

    def preflight(self) -> None:
        self._online.preflight()

    def _headers(self) -> dict[str, str]:
        headers = self._online._session_headers()
        headers.pop("Content-Type")  # each call sets its own (JSON, or a multipart upload)
        return headers

    def _batches_path(self) -> str:
        return "/batches"

    def _line(self, custom_id: str, chat: Chat, config: GenerateConfig) -> dict[str, Any]:
        return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
                "body": json.loads(self._online._body(chat, config))}

    async def _submit(self, entry: dict[str, Any], data: bytes) -> None:
        import aiohttp

        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", data, filename=f"emoprompt-{entry['local']}.jsonl", content_type="application/jsonl")
        uploaded = await self._json("POST", f"{self.api_base}/files", data=form)
        entry.update(input_file_id=str(uploaded.get("id")), status="uploaded")
        self._journal.save_batch(dict(entry))
        await self._create(entry)

    async def _create(self, entry: dict[str, Any]) -> None:
        entry.update(status="creating")
        self._journal.save_batch(dict(entry))
        created = await self._json("POST", f"{self.api_base}/batches", json={
            "input_file_id": entry["input_file_id"], "endpoint": "/v1/chat/completions", "completion_window": "24h",
            "metadata": {"emoprompt_batch": entry["local"]}})
        entry.update(batch_id=str(created["id"]), status="submitted", submitted=_now())
        self._journal.save_batch(dict(entry))

    async def _recover(self, entry: dict[str, Any], data: bytes) -> None:
        if entry.get("status") == "resubmit":  # a batch the server cannot find for us: sent again, as the user said
            await (self._create(entry) if entry.get("input_file_id") else self._submit(entry, data))
            return
        if entry.get("status") == "creating":  # the create call may have reached the server: look for it first
            listed = await self._json("GET", f"{self.api_base}/batches", params={"limit": "100"})
            for batch in listed.get("data") or []:
                if isinstance(batch, dict) and (batch.get("metadata") or {}).get("emoprompt_batch") == entry["local"]:
                    entry.update(batch_id=str(batch["id"]), status="submitted", submitted=_now())
                    self._journal.save_batch(dict(entry))
                    return
        if entry.get("input_file_id"):
            await self._create(entry)
        else:
            await self._submit(entry, data)

    async def _status(self, entry: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        batch = await self._json("GET", f"{self.api_base}/batches/{entry['batch_id']}")
        status = str(batch.get("status"))
        counts = batch.get("request_counts") or {}
        shown = f"{status} {counts.get('completed', 0):,}/{counts.get('total', entry['requests']):,}"
        return status in ("completed", "failed", "expired", "cancelled"), shown, batch

    async def _outcomes(self, entry: dict[str, Any], batch: dict[str, Any]) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        if batch.get("status") == "failed":
            errors = (batch.get("errors") or {}).get("data") or [{}]
            message = truncate(str(errors[0].get("message") or "the provider failed the batch"))
            return {json.loads(line)["custom_id"]: RequestError("batch_failed", message)
                    for line in (self._journal.run_dir / entry["input"]).read_text(encoding="utf-8").splitlines()}
        for key in ("output_file_id", "error_file_id"):
            if batch.get(key):
                body = await self._request("GET", f"{self.api_base}/files/{batch[key]}/content")
                for raw in body.decode("utf-8", "replace").splitlines():
                    if raw.strip():
                        custom_id, outcome = self._outcome(json.loads(raw))
                        outcomes[custom_id] = outcome
        return outcomes

    def _outcome(self, line: dict[str, Any]) -> tuple[str, Outcome]:
        custom_id = str(line.get("custom_id"))
        error = line.get("error")
        response = line.get("response") or {}
        if error:
            code = str(error.get("code") or "")
            kind = {"batch_expired": "batch_expired", "batch_cancelled": "batch_cancelled"}.get(code, "batch_failed")
            return custom_id, RequestError(kind, truncate(f"{code}: {error.get('message')}"))
        if response.get("status_code", 200) >= 400:
            body = response.get("body") or {}
            message = (body.get("error") or {}).get("message") if isinstance(body, dict) else body
            return custom_id, RequestError("batch_failed", truncate(f"HTTP {response.get('status_code')}: {message}"))
        data = response.get("body")
        if not isinstance(data, dict) or not data.get("choices"):
            return custom_id, RequestError("empty_choices", "the batch's answer has no choices")
        try:
            text, finish = message_text(data["choices"][0])
        except RequestError as exc:
            return custom_id, exc
        usage = data["usage"] if isinstance(data.get("usage"), dict) else {}
        tokens_in, tokens_out = token_count(usage.get("prompt_tokens")), token_count(usage.get("completion_tokens"))
        served = data["model"] if isinstance(data.get("model"), str) else None
        return custom_id, Completion(text, finish, tokens_in, tokens_out, 0.0, self._cost(tokens_in, tokens_out),
                                     served_model=served)


class AnthropicBatchBackend(BatchBackend):
    """`anthropic/<model>` with `--batch`: Anthropic's Message Batches API (100,000 requests or 256 MB a batch)."""

    provider = "anthropic"
    max_requests = 100_000
    max_bytes = 250_000_000
    default_base = "https://api.anthropic.com"

    def __init__(self, model: str, api_base: str | None, options: BackendOptions) -> None:
        self.model_id = model.partition("/")[2]
        if not self.model_id:
            raise UsageError("give a model after anthropic/, e.g. anthropic/claude-haiku-4-5")
        self._configured_base = api_base or os.environ.get("ANTHROPIC_API_BASE") or os.environ.get("ANTHROPIC_BASE_URL")
        base = check_api_base(self._configured_base or self.default_base).rstrip("/")
        self.api_base = base[:-3] if base.endswith("/v1") else base
        super().__init__(model, options)

    def identity(self) -> dict[str, Any]:
        """The same as the online (litellm) client's, so answers are shared with online runs of the model."""
        return {"backend": "api", "model": self.name,
                "api_base": redact_url(self._configured_base).rstrip("/") if self._configured_base else None}

    def preflight(self) -> None:
        if os.environ.get("ANTHROPIC_API_KEY") is None and self.api_base == self.default_base:
            raise UsageError(f"{self.name} needs ANTHROPIC_API_KEY in the environment; export ANTHROPIC_API_KEY=... "
                             "(keys are never written to disk)")

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": os.environ.get("ANTHROPIC_API_KEY", ""), "anthropic-version": "2023-06-01"}

    def _batches_path(self) -> str:
        return "/v1/messages/batches"

    def _line(self, custom_id: str, chat: Chat, config: GenerateConfig) -> dict[str, Any]:
        messages = chat_to_dicts(chat)
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        params: dict[str, Any] = {"model": self.model_id, "max_tokens": config.max_tokens,
                                  "messages": [m for m in messages if m["role"] != "system"],
                                  "temperature": min(config.temperature, 1.0)}
        if system:
            params["system"] = system
        if config.top_p != 1.0:
            params["top_p"] = config.top_p
        if config.stop:
            params["stop_sequences"] = list(config.stop)
        return {"custom_id": custom_id, "params": params}

    async def _submit(self, entry: dict[str, Any], data: bytes) -> None:
        entry.update(status="creating")
        self._journal.save_batch(dict(entry))
        requests = [json.loads(line) for line in data.splitlines()]
        created = await self._json("POST", f"{self.api_base}/v1/messages/batches", json={"requests": requests})
        entry.update(batch_id=str(created["id"]), status="submitted", submitted=_now())
        self._journal.save_batch(dict(entry))

    async def _recover(self, entry: dict[str, Any], data: bytes) -> None:
        if entry.get("status") == "resubmit":
            await self._submit(entry, data)
            return
        if entry.get("status") == "creating":  # no metadata on these batches: match the creation time and size
            claimed = {b.get("batch_id") for b in self._journal.batches}
            listed = await self._json("GET", f"{self.api_base}/v1/messages/batches", params={"limit": "100"})
            for batch in listed.get("data") or []:
                counts = batch.get("request_counts") or {}
                if batch.get("id") not in claimed and sum(counts.values()) == entry["requests"] and \
                        str(batch.get("created_at", "")) >= entry["created"][:19]:
                    entry.update(batch_id=str(batch["id"]), status="submitted", submitted=_now())
                    self._journal.save_batch(dict(entry))
                    return
        await self._submit(entry, data)

    async def _status(self, entry: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        batch = await self._json("GET", f"{self.api_base}/v1/messages/batches/{entry['batch_id']}")
        counts = batch.get("request_counts") or {}
        status = str(batch.get("processing_status"))
        return status == "ended", f"{status} {counts.get('succeeded', 0):,}/{entry['requests']:,}", batch

    async def _outcomes(self, entry: dict[str, Any], batch: dict[str, Any]) -> dict[str, Outcome]:
        url = batch.get("results_url") or f"{self.api_base}/v1/messages/batches/{entry['batch_id']}/results"
        body = await self._request("GET", url)
        outcomes: dict[str, Outcome] = {}
        for raw in body.decode("utf-8", "replace").splitlines():
            if raw.strip():
                line = json.loads(raw)
                outcomes[str(line.get("custom_id"))] = self._outcome(line.get("result") or {})
        return outcomes

    def _outcome(self, result: dict[str, Any]) -> Outcome:
        kind = result.get("type")
        if kind == "succeeded":
            message = result.get("message") or {}
            parts = [p.get("text", "") for p in message.get("content") or [] if p.get("type") == "text"]
            usage = message.get("usage") or {}
            tokens_in, tokens_out = token_count(usage.get("input_tokens")), token_count(usage.get("output_tokens"))
            finish = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}.get(
                str(message.get("stop_reason")), str(message.get("stop_reason")))
            return Completion("".join(parts), finish, tokens_in, tokens_out, 0.0, self._cost(tokens_in, tokens_out),
                              served_model=message.get("model"))
        if kind == "errored":
            outer = result.get("error") or {}
            error = outer.get("error") or outer
            return RequestError("batch_failed", truncate(f"{error.get('type')}: {error.get('message')}"))
        return RequestError({"expired": "batch_expired", "canceled": "batch_cancelled"}.get(str(kind), "batch_failed"),
                            f"the batch ended with this request {kind}")


def _missing(custom_id: str) -> RequestError:
    return RequestError("batch_failed", f"the batch's results have no line for {custom_id}")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
