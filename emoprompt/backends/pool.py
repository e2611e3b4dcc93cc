"""One OpenAI-compatible model served by several replicas (vLLM, llama.cpp, SGLang ...) behind several URLs.

Requests go to the replica with the fewest outstanding requests for its window, each replica paced on its own
(`emoprompt.backends.pacing`): a replica that answers 429 gets less traffic while it recovers, and its refused
request goes at once to a replica with room. A replica is drained — its request sent again at once to another
replica — when a failure is about the replica rather than the request:

- it cannot be reached or says it is unavailable (at once), or fails three times in a row (5xx, timeouts, bad
  answers); it gets one trial request after a pause that doubles while it keeps failing;
- it refuses the key (401, 403), does not know the model (404), or calls a prompt too long that another replica
  answered (a smaller context window): drained for the rest of the run, named once in the run's notes.

A cell fails only when no replica can serve its request: a 400 or a context-window error that every replica
gives is the request's own. When every replica is drained, requests wait (the caller's patience bounds how long).
At start every replica must answer and serve the same model. The identity names the model and says it came from a
pool, never which replica answered, so cached answers and cell keys do not depend on it. With affinity, all
conditions of an item go to one replica while it is healthy and has room, so its prefix cache serves them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from emoprompt.backends.context import current_request
from emoprompt.backends.http import HTTPFailure
from emoprompt.backends.openai_http import OpenAIHTTPBackend, endpoint_identity
from emoprompt.backends.pacing import REFUSAL_KINDS, Pacer
from emoprompt.chat import Chat, Completion, GenerateConfig
from emoprompt.errors import RequestError, UsageError

DRAIN_AT_ONCE = ("connection", "unavailable")
"""Failures that drain a replica at the first occurrence; other transient ones drain after three in a row."""
COUNTED = ("server_error", "timeout", "malformed_response", "empty_choices")
REPLICA_FAULTS = ("auth", "not_found")
"""Failures about the replica (its key, its model), never the request: drained for the rest of the run."""
REQUEST_OR_REPLICA = ("context_window", "bad_request")
"""Failures that are the request's own unless another replica answers the same request."""
FAILURES_TO_DRAIN = 3
FIRST_PAUSE_S = 5.0
LONGEST_PAUSE_S = 300.0
FOR_GOOD = float("inf")


@dataclass
class Replica:
    """One endpoint of the pool and what the pool knows of it."""

    backend: OpenAIHTTPBackend
    limit: int
    pacer: Pacer
    outstanding: int = 0
    answered: int = 0
    failures_in_row: int = 0
    drained_until: float = 0.0
    pause_s: float = FIRST_PAUSE_S
    times_drained: int = 0
    probation: bool = False
    """Drained and not yet answered since: after its pause it takes one (trial) request at a time."""
    faults: dict[str, int] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return endpoint_identity(self.backend.api_base)

    def usable(self, now: float) -> bool:
        if self.drained_until > now or self.pacer.next_send(now) > now:
            return False
        if self.probation:
            return self.outstanding == 0
        return self.outstanding < min(self.limit, self.pacer.window)

    def load(self) -> float:
        return self.outstanding / max(1.0, min(self.limit, self.pacer.window))


class EndpointPool:
    """`openai/<model>` or `hosted_vllm/<model>` spread over several API bases (`--api-base` repeated or `--pool`)."""

    paced = True

    def __init__(self, model: str, api_bases: Sequence[str], limits: Sequence[int], timeout_s: float = 60.0,
                 affinity: bool = False, max_response_bytes: int = 8_000_000, patience_s: float = 600.0) -> None:
        if len(api_bases) < 2:
            raise UsageError("an endpoint pool needs two or more API bases")
        seen = [endpoint_identity(base) for base in api_bases]
        for index, endpoint in enumerate(seen):
            if endpoint in seen[:index]:
                raise UsageError(f"{endpoint} is in the pool twice; list each endpoint once")
        self.name = model
        self.replicas = [Replica(OpenAIHTTPBackend(model, base, timeout_s, limit, max_response_bytes), limit,
                                 Pacer(limit, patience_s=patience_s, label=endpoint))
                         for base, limit, endpoint in zip(api_bases, limits, seen, strict=True)]
        self.model_id = self.replicas[0].backend.model_id
        self.affinity = affinity
        self.default_concurrency = sum(limits)
        self._waiters: list[asyncio.Future[None]] = []
        """Requests waiting for a replica with room (woken when one is released or the earliest pause ends)."""
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
            status, body = await replica.backend.get("models")
            if status == 404:
                return None
            if status >= 400:
                raise UsageError(f"pool endpoint {replica.endpoint} answered HTTP {status} to GET /models; check it, "
                                 "or drop it from the pool")
            data = json.loads(body)
        except (HTTPFailure, ValueError, RecursionError) as exc:
            raise UsageError(f"pool endpoint {replica.endpoint} did not list its models ({type(exc).__name__}); "
                             "check it, or drop it from the pool") from None
        entries = data.get("data") if isinstance(data, dict) else None
        return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else None

    async def complete(self, chat: Chat, config: GenerateConfig) -> Completion:
        body = self.replicas[0].backend._body(chat, config)
        tag = current_request.get()
        preferred = zlib.crc32(tag.item.encode()) % len(self.replicas) if self.affinity and tag else None
        refused_by: set[int] = set()
        """Replicas that called this request bad (400, context window): another may still answer it."""
        own_fault: RequestError | None = None
        while True:
            replica = await self._acquire(preferred, refused_by, own_fault)
            ticket = await replica.pacer.acquire()
            try:
                completion = await replica.backend._post(body)
            except RequestError as error:
                if error.kind in REFUSAL_KINDS or (error.kind == "unavailable" and error.retry_after is not None):
                    replica.pacer.refused_one(ticket, error.rate_limits)
                    continue  # it recovers while the others take its share
                replica.pacer.failed_one(ticket)
                if error.kind in REQUEST_OR_REPLICA:
                    refused_by.add(id(replica))
                    own_fault = error
                    continue
                if self._failed(replica, error):
                    continue  # drained: the request goes to another replica at once
                raise
            finally:
                replica.outstanding -= 1
                self._wake()
            replica.pacer.answered_one(ticket, completion.rate_limits, completion.tokens_in)
            if refused_by:
                self._blame_others(refused_by, replica, own_fault)
            replica.probation = False
            replica.failures_in_row = 0
            replica.pause_s = FIRST_PAUSE_S
            replica.answered += 1
            # one replica's limits are its own pace, not the pool's
            return completion if completion.rate_limits is None else completion.replace(rate_limits=None)

    async def _acquire(self, preferred: int | None, refused_by: set[int], own_fault: RequestError | None) -> Replica:
        """The replica for the next attempt (waiting while every usable one is at its window or paused); raises the
        request's own error once every live replica refused it, and `unavailable` when every replica is drained."""
        while True:
            now = time.monotonic()
            live = [r for r in self.replicas if r.drained_until <= now]
            if own_fault is not None and all(id(r) in refused_by for r in live):
                raise own_fault
            if not live:
                soonest = min(r.drained_until for r in self.replicas)
                if soonest == FOR_GOOD:
                    raise RequestError("pool_exhausted", "every endpoint of the pool was drained for good ("
                                       + "; ".join(self._drain_log[:3]) + ")")
                raise RequestError("unavailable", f"every endpoint of the pool is failing; the first is tried "
                                                  f"again in {soonest - now:.0f} s", retry_after=soonest - now)
            chosen = self._choose(preferred, refused_by, now)
            if chosen is not None:
                chosen.outstanding += 1
                return chosen
            waits = [until - now for r in self.replicas for until in (r.drained_until, r.pacer.next_send(now))
                     if now < until < FOR_GOOD]
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter, timeout=min(waits) if waits else 1.0)
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _choose(self, preferred: int | None, refused_by: set[int], now: float) -> Replica | None:
        """The preferred replica when it is healthy (waited for while it is full), else the least loaded usable one
        that has not refused this request."""
        if preferred is not None:
            replica = self.replicas[preferred]
            if id(replica) not in refused_by and replica.drained_until <= now and replica.pacer.next_send(now) <= now:
                return replica if replica.usable(now) else None
        usable = [r for r in self.replicas if id(r) not in refused_by and r.usable(now)]
        return min(usable, key=Replica.load) if usable else None

    def _wake(self) -> None:
        """A replica has room again: wake the requests waiting for one."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _failed(self, replica: Replica, error: RequestError) -> bool:
        """Count a failure; True when it drained the replica (the request is then tried elsewhere)."""
        if error.kind in REPLICA_FAULTS:
            self._drain_for_good(replica, error)
            return self._others_live(replica)
        if error.kind not in DRAIN_AT_ONCE and error.kind not in COUNTED:
            return False  # the request's own fault: another replica would say the same
        replica.failures_in_row += 1
        if error.kind in COUNTED and replica.failures_in_row < FAILURES_TO_DRAIN and not replica.probation:
            return False
        if replica.drained_until <= time.monotonic():  # drain (again, with a longer pause, when a trial failed)
            replica.drained_until = time.monotonic() + replica.pause_s
            replica.pause_s = min(replica.pause_s * 2, LONGEST_PAUSE_S)
            replica.times_drained += 1
            replica.probation = True
            self._drain_log.append(f"{replica.endpoint}: {error.kind} ({error.message[:80]})")
        return self._others_live(replica)

    def _blame_others(self, refused_by: set[int], answered: Replica, error: RequestError | None) -> None:
        """Replicas that refused a request another one answered differ from the pool (a smaller context window, a
        stricter server): drained for good."""
        for replica in self.replicas:
            if id(replica) in refused_by and replica is not answered and error is not None:
                self._drain_for_good(replica, RequestError(error.kind, f"refused a request {answered.endpoint} "
                                                                       f"answered: {error.message}"))

    def _drain_for_good(self, replica: Replica, error: RequestError) -> None:
        if replica.drained_until == FOR_GOOD:
            return
        replica.drained_until = FOR_GOOD
        replica.times_drained += 1
        self._drain_log.append(f"{replica.endpoint}: {error.kind} ({error.message[:80]}), for the rest of the run")

    def _others_live(self, replica: Replica) -> bool:
        now = time.monotonic()
        return any(r is not replica and r.drained_until <= now for r in self.replicas)

    def run_notes(self) -> list[str]:
        """What the run should remember: requests per replica, each drain, each replica's refusals."""
        counts = ", ".join(f"{r.endpoint} {r.answered:,}" for r in self.replicas)
        notes = [f"pool {self.name}: answers per endpoint: {counts}"]
        notes += [f"pool {self.name}: drained {entry}" for entry in self._drain_log[:20]]
        notes += [f"pool {self.name}: {r.endpoint} refused {r.pacer.refused:,} requests (rate limit); they went to "
                  "other replicas or waited" for r in self.replicas if r.pacer.refused]
        return notes

    async def close(self) -> None:
        for replica in self.replicas:
            await replica.backend.close()
        self._waiters = []


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
        from emoprompt.backends._api import check_api_base

        bases.append(check_api_base(words[0]))
        if len(words) == 2:
            limits[words[0]] = int(words[1])
    if not bases:
        raise UsageError(f"pool file {path} lists no API base; write one per line")
    return bases, limits
