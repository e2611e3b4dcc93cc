"""One OpenAI-compatible model served by several replicas (vLLM, llama.cpp, SGLang ...) behind several URLs.

Requests go to the replica with the fewest outstanding requests, each replica at most `limit` at a time. A
replica that refuses connections or says it is unavailable (or fails three times in a row) is drained: its request
is sent again at once to another replica, and the drained one gets a single trial request after a pause that
doubles while it keeps failing. At start every replica must answer and serve the same model. The identity names
the model and says it came from a pool, never which replica answered, so cached answers and cell keys do not
depend on it. With affinity, all conditions of an item go to one replica (while it is healthy and has room), so
the server's prefix cache serves the part of the prompt they share.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from emoprompt.backends.context import current_request
from emoprompt.backends.http1 import HTTPFailure
from emoprompt.backends.openai_http import OpenAIHTTPBackend, endpoint_identity
from emoprompt.chat import Chat, Completion, GenerateConfig
from emoprompt.errors import RequestError, UsageError

DRAIN_AT_ONCE = ("connection", "unavailable")
"""Failures that drain a replica at the first occurrence; other transient ones drain after three in a row."""
COUNTED = ("server_error", "timeout", "malformed_response", "empty_choices")
FAILURES_TO_DRAIN = 3
FIRST_PAUSE_S = 5.0
LONGEST_PAUSE_S = 300.0


@dataclass
class Replica:
    """One endpoint of the pool and what the pool knows of it."""

    backend: OpenAIHTTPBackend
    limit: int
    outstanding: int = 0
    answered: int = 0
    failures_in_row: int = 0
    drained_until: float = 0.0
    pause_s: float = FIRST_PAUSE_S
    times_drained: int = 0
    probation: bool = False
    """Drained and not yet answered since: after its pause it takes one (trial) request at a time."""

    @property
    def endpoint(self) -> str:
        return endpoint_identity(self.backend.api_base)

    def usable(self, now: float) -> bool:
        if self.drained_until > now:
            return False
        if self.probation:
            return self.outstanding == 0
        return self.outstanding < self.limit


class EndpointPool:
    """`openai/<model>` or `hosted_vllm/<model>` spread over several API bases (`--api-base` repeated or `--pool`)."""

    def __init__(self, model: str, api_bases: Sequence[str], limits: Sequence[int], timeout_s: float = 60.0,
                 affinity: bool = False, max_response_bytes: int = 8_000_000) -> None:
        if len(api_bases) < 2:
            raise UsageError("an endpoint pool needs two or more API bases")
        seen = [endpoint_identity(base) for base in api_bases]
        for index, endpoint in enumerate(seen):
            if endpoint in seen[:index]:
                raise UsageError(f"{endpoint} is in the pool twice; list each endpoint once")
        self.name = model
        self.replicas = [Replica(OpenAIHTTPBackend(model, base, timeout_s, limit, max_response_bytes), limit)
                         for base, limit in zip(api_bases, limits, strict=True)]
        self.model_id = self.replicas[0].backend.model_id
        self.affinity = affinity
        self.default_concurrency = sum(limits)
        self._changed: asyncio.Condition | None = None
        self._drain_log: list[str] = []

    def identity(self) -> dict[str, Any]:
        """The model, served by a pool: which replica answered (and which replicas there are) is not part of it."""
        return {"backend": "api", "model": self.name, "api_base": "pool"}

    def preflight(self) -> None:
        for replica in self.replicas:
            replica.backend.preflight()

    async def start(self) -> None:
        """Every replica must answer and serve the model (read from its `/models` list)."""
        served = await asyncio.gather(*(self._served_models(replica) for replica in self.replicas))
        details: dict[str, dict[str, Any]] = {}
        for replica, models in zip(self.replicas, served, strict=True):
            if models is None:
                continue
            entry = next((m for m in models if m.get("id") == self.model_id), None)
            if entry is None:
                names = ", ".join(str(m.get("id")) for m in models[:5]) or "nothing"
                raise UsageError(f"pool endpoint {replica.endpoint} does not serve {self.model_id} (it serves "
                                 f"{names}); fix the model name or drop that endpoint from the pool")
            details[replica.endpoint] = {k: entry[k] for k in ("root", "max_model_len") if k in entry}
        distinct = {json.dumps(d, sort_keys=True) for d in details.values()}
        if len(distinct) > 1:
            listing = "; ".join(f"{endpoint}: {detail}" for endpoint, detail in details.items())
            raise UsageError(f"the pool's endpoints serve different builds of {self.model_id} ({listing}); every "
                             "replica must serve the same weights")

    async def _served_models(self, replica: Replica) -> list[dict[str, Any]] | None:
        """The endpoint's `/models` entries; None when it has no such list (the check is then skipped for it)."""
        await replica.backend.start()
        try:
            response = await replica.backend._session().request("GET", replica.backend.target("models"), timeout_s=30)
            if response.status == 404:
                return None
            if response.status >= 400:
                raise UsageError(f"pool endpoint {replica.endpoint} answered HTTP {response.status} to "
                                 "GET /models; check it, or drop it from the pool")
            data = json.loads(response.body)
        except (HTTPFailure, ValueError, RecursionError) as exc:
            raise UsageError(f"pool endpoint {replica.endpoint} did not list its models ({type(exc).__name__}); "
                             "check it, or drop it from the pool") from None
        entries = data.get("data") if isinstance(data, dict) else None
        return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else None

    async def complete(self, chat: Chat, config: GenerateConfig) -> Completion:
        body = self.replicas[0].backend._body(chat, config)
        tag = current_request.get()
        preferred = zlib.crc32(tag.item.encode()) % len(self.replicas) if self.affinity and tag else None
        while True:
            replica = await self._acquire(preferred)
            try:
                completion = await replica.backend._post(body)
            except RequestError as error:
                if self._failed(replica, error):
                    continue  # drained: the request goes to another replica at once
                raise
            finally:
                replica.outstanding -= 1
                await self._notify()
            replica.probation = False
            replica.failures_in_row = 0
            replica.pause_s = FIRST_PAUSE_S
            replica.answered += 1
            return completion

    async def _acquire(self, preferred: int | None) -> Replica:
        """The replica for the next request (waiting while every usable one is at its limit)."""
        changed = self._condition()
        async with changed:
            while True:
                now = time.monotonic()
                if all(r.drained_until > now for r in self.replicas):
                    soonest = min(r.drained_until for r in self.replicas)
                    raise RequestError("unavailable", f"every endpoint of the pool is failing; the first is tried "
                                                      f"again in {soonest - now:.0f} s", retry_after=soonest - now)
                chosen = None
                if preferred is not None and self.replicas[preferred].drained_until <= now:
                    if self.replicas[preferred].usable(now):  # a healthy preferred replica is waited for
                        chosen = self.replicas[preferred]
                else:
                    usable = [r for r in self.replicas if r.usable(now)]
                    if usable:
                        chosen = min(usable, key=lambda r: r.outstanding / r.limit)
                if chosen is not None:
                    chosen.outstanding += 1
                    return chosen
                waits = [r.drained_until - now for r in self.replicas if r.drained_until > now]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=min(waits) if waits else None)

    def _failed(self, replica: Replica, error: RequestError) -> bool:
        """Count a failure; True when it drained the replica (the request is then tried elsewhere)."""
        if error.kind not in DRAIN_AT_ONCE and error.kind not in COUNTED:
            return False  # the request's own fault (400, context window ...): another replica would say the same
        replica.failures_in_row += 1
        if error.kind in COUNTED and replica.failures_in_row < FAILURES_TO_DRAIN and not replica.probation:
            return False
        if replica.drained_until <= time.monotonic():  # drain (again, with a longer pause, when a trial failed)
            replica.drained_until = time.monotonic() + replica.pause_s
            replica.pause_s = min(replica.pause_s * 2, LONGEST_PAUSE_S)
            replica.times_drained += 1
            replica.probation = True
            self._drain_log.append(f"{replica.endpoint}: {error.kind} ({error.message[:80]})")
        return any(r is not replica and r.drained_until <= time.monotonic() for r in self.replicas)

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _notify(self) -> None:
        changed = self._condition()
        async with changed:
            changed.notify_all()

    def run_notes(self) -> list[str]:
        """What the run should remember: requests per replica, and each drain."""
        counts = ", ".join(f"{r.endpoint} {r.answered:,}" for r in self.replicas)
        notes = [f"pool {self.name}: answers per endpoint: {counts}"]
        notes += [f"pool {self.name}: drained {entry}" for entry in self._drain_log[:20]]
        return notes

    async def close(self) -> None:
        for replica in self.replicas:
            await replica.backend.close()
        self._changed = None


def read_pool_file(path: str) -> tuple[list[str], dict[str, int]]:
    """A pool file: one API base per line, optionally followed by the most requests it takes at a time
    (`http://10.0.0.5:8000/v1 64`); blank lines and `#` comments are skipped. Returns (bases, limits by base)."""
    from pathlib import Path

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read pool file {path} ({exc}); give a text file with one API base per line"
                         ) from None
    bases: list[str] = []
    limits: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and not (words[1].isdigit() and int(words[1]) > 0)):
            raise UsageError(f"{path}:{number}: write an API base and optionally its limit, e.g. "
                             "http://10.0.0.5:8000/v1 64")
        bases.append(words[0])
        if len(words) == 2:
            limits[words[0]] = int(words[1])
    if not bases:
        raise UsageError(f"pool file {path} lists no API base; write one per line")
    return bases, limits
