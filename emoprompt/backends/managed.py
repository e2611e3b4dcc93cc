"""What every caller of a backend uses: the backend with its identity computed once, started once on first use,
paced (`emoprompt.backends.pacing`), failed requests retried, replies checked, spending capped, and closed once.

This is the one retry policy of emoprompt: a refusal (429, 503/529 "overloaded") waits its turn in the pace and
never counts; a transient failure (5xx, timeout, broken connection, unreadable reply) is tried again up to
`max_retries` times after a jittered backoff that doubles from `backoff_s` (the server's Retry-After wins when it
gives one); anything else fails the cell at once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from emoprompt.backends.base import Backend, BackendOptions, call_optional
from emoprompt.backends.pacing import REFUSAL_KINDS, Pacer, RateLimits, Ticket
from emoprompt.chat import Chat, Completion, GenerateConfig
from emoprompt.errors import EmopromptError, RequestError, RunStopped, UsageError
from emoprompt.identity import is_complete
from emoprompt.safe_files import scrub
from emoprompt.secrets import truncate

TRANSIENT = ("server_error", "unavailable", "connection", "timeout", "malformed_response", "empty_choices",
             *REFUSAL_KINDS)
"""Request error kinds worth another attempt."""
MAX_RETRY_WAIT_S = 60.0
DEFAULT_MAX_RESPONSE_CHARS = 1_000_000
"""Answers longer than this become `response_too_large` error cells (`--max-response-chars`)."""


def retry_delay(attempt: int, backoff_s: float, retry_after: float | None) -> float:
    """Seconds to wait before retry number `attempt + 1`: the server's Retry-After (capped at 60 s), else jittered
    exponential backoff (capped at 30 s)."""
    if retry_after is not None and retry_after == retry_after:
        return min(max(retry_after, 0.0), MAX_RETRY_WAIT_S)
    return min(backoff_s * 2**attempt, 30.0) * (0.5 + random.random() / 2)


def is_refusal(error: RequestError) -> bool:
    """A 429, or a 503/529 that says the provider is busy: slow down and try again, at no cost to the retries."""
    return error.kind in REFUSAL_KINDS or (error.kind == "unavailable" and error.retry_after is not None)


@dataclass
class Budget:
    """The run's spending cap (`--max-cost`): what was spent, and what requests in flight could still spend."""

    cap: float
    spent: float = 0.0
    reserved: float = 0.0

    def reserve(self, amount: float, model: str) -> None:
        """Hold `amount` for one request, or stop the run when it could pass the cap."""
        if self.spent + self.reserved + amount > self.cap:
            raise RunStopped("max_cost", f"${self.spent:.4f} spent and ${self.reserved:.4f} in flight; the next "
                                         f"request to {model} could cost up to ${amount:.4f}, past the cap of "
                                         f"${self.cap:g}.")
        self.reserved += amount

    def settle(self, reserved: float, cost: float | None) -> None:
        """A request came back: release its hold and count what it cost (the hold itself when unknown)."""
        self.reserved -= reserved
        self.spent += reserved if cost is None else cost


class ManagedBackend:
    """A backend as the runner, DSPy and A/B use it."""

    def __init__(self, name: str, backend: Backend, max_retries: int = 5, backoff_s: float = 1.0,
                 max_response_chars: int = DEFAULT_MAX_RESPONSE_CHARS, options: BackendOptions | None = None) -> None:
        self.name = name
        self.backend = backend
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_response_chars = max_response_chars
        self.identity: dict[str, Any] = backend.identity()
        self.cacheable = is_complete(self.identity)
        """False when the identity cannot tell two versions of the backend apart: its answers are not cached."""
        self.default_concurrency = int(getattr(backend, "default_concurrency", 16))
        options = options or BackendOptions()
        ceiling = options.concurrency or self.default_concurrency
        self.pacer = Pacer(ceiling, options.rpm, options.tpm, options.patience_s, label=name) \
            if getattr(backend, "paced", True) else None
        """None for backends that never refuse (local models) or pace themselves (Batch APIs)."""
        self.budget: Budget | None = None
        self._prices: tuple[float, float] | None = None
        self._starts: dict[asyncio.AbstractEventLoop, asyncio.Future[None]] = {}

    def cap_spending(self, budget: Budget, batch: bool = False) -> None:
        """Share the run's spending cap; a model without a known price cannot be capped (bad input)."""
        from emoprompt.backends._api import token_prices

        self._prices = token_prices(self.name, batch=batch)
        if self._prices is None:
            raise UsageError(f"--max-cost needs the price of {self.name}, which litellm's price map does not know; "
                             "drop --max-cost for this model (its cost would be unknown, never zero)")
        self.budget = budget

    def allow_in_flight(self, limit: int) -> None:
        """Let the pace hold up to `limit` requests in flight (the run's concurrency, when it asks for more than the
        backend's default)."""
        if self.pacer is not None and limit > self.pacer.ceiling:
            self.pacer.ceiling = limit
            self.pacer.window = float(limit)

    @property
    def notice(self) -> str | None:
        """What the progress display should say about this model's pace (waiting on a rate limit), if anything."""
        return self.pacer.notice() if self.pacer is not None else None

    def preflight(self) -> None:
        """The backend's checks that need no network (a missing key), if it has any: run before a run folder is
        created, so a run that cannot start leaves nothing behind."""
        check = getattr(self.backend, "preflight", None)
        if callable(check):
            check()

    async def ensure_started(self) -> None:
        """Start the backend once (per event loop) and wait until it has."""
        loop = asyncio.get_running_loop()
        start = self._starts.get(loop)
        if start is None:
            start = self._starts[loop] = asyncio.ensure_future(self._start())
        await start

    async def _start(self) -> None:
        await call_optional(self.backend, "start")

    async def complete(self, chat: Chat, config: GenerateConfig) -> Completion:
        """The backend's answer, paced and retried; raises RequestError when it failed, RunStopped when the run
        must stop sending."""
        await self.ensure_started()
        characters = sum(len(message.content) for message in chat)
        tokens = self.pacer.estimate_tokens(characters, config.max_tokens) if self.pacer is not None else 0.0
        hold = self._worst_cost(characters, config.max_tokens)

        async def send() -> Completion:
            if self.budget is not None:
                self.budget.reserve(hold, self.name)
            try:
                completion = self._checked(await self.backend.complete(chat, config))
            except (RequestError, EmopromptError, RunStopped, asyncio.CancelledError):
                self._settle(hold, 0.0)
                raise
            except Exception as exc:  # a backend's own bug or its library's refusal: this request failed, named so
                self._settle(hold, 0.0)
                raise RequestError("backend_error", truncate(f"{type(exc).__name__}: {exc}")) from None
            self._settle(hold, completion.cost_usd)
            return completion

        def learned(completion: Completion) -> tuple[Any, int | None, int]:
            return completion.rate_limits, completion.tokens_in, characters

        return await send_with_retries(send, pacer=self.pacer, max_retries=self.max_retries, backoff_s=self.backoff_s,
                                       tokens=tokens, learn=learned)

    def _worst_cost(self, characters: int, max_tokens: int) -> float:
        """What one request could cost at most: its prompt (a token for every 2 characters, more than any tokenizer
        gives for prose) and `max_tokens` of output."""
        if self._prices is None:
            return 0.0
        return (characters / 2 + 16) * self._prices[0] + max_tokens * self._prices[1]

    def _settle(self, hold: float, cost: float | None) -> None:
        if self.budget is not None:
            self.budget.settle(hold, cost)

    def _checked(self, completion: Any) -> Completion:
        if not isinstance(completion, Completion) or not isinstance(completion.text, str):
            raise RequestError("malformed_response", f"the backend returned {type(completion).__name__}, not a "
                                                     "Completion with text")
        if len(completion.text) > self.max_response_chars:
            raise RequestError("response_too_large", f"the answer has {len(completion.text):,} characters, over "
                                                     f"the limit of {self.max_response_chars:,} (--max-response-chars)")
        clean = scrub(completion.text)
        return completion if clean is completion.text else completion.replace(text=clean)

    def bind_run(self, journal: Any) -> None:
        """Hand a backend that keeps state in the run folder (a Batch API backend) the run's store."""
        bind = getattr(self.backend, "bind_run", None)
        if callable(bind):
            bind(journal)

    def run_notes(self) -> list[str]:
        """What the backend wants the run's manifest to remember (an endpoint pool's drains, refusals), if anything."""
        notes = getattr(self.backend, "run_notes", None)
        found = list(notes()) if callable(notes) else []
        if self.pacer is not None and self.pacer.refused:
            found.append(f"{self.name}: the provider refused {self.pacer.refused:,} requests (rate limit); each "
                         "waited its turn and was sent again")
        return found

    async def close(self) -> None:
        """Close the backend (once)."""
        self._starts.clear()
        await call_optional(self.backend, "close")


T = TypeVar("T")


async def send_with_retries(send: Callable[[], Awaitable[T]], *, pacer: Pacer | None, max_retries: int,
                            backoff_s: float, tokens: float = 0.0,
                            learn: Callable[[T], tuple[Any, int | None, int]] | None = None) -> T:
    """The retry policy: `send()` in the pace of `pacer` (when there is one); refusals wait their turn, transient
    failures are tried again up to `max_retries` times, anything else is raised. `learn(result)` gives what an
    answer teaches the pace: (rate limits, prompt tokens, prompt characters)."""
    failures = 0
    while True:
        ticket = await pacer.acquire(tokens) if pacer is not None else None
        try:
            result = await send()
        except RequestError as error:
            if pacer is not None and ticket is not None and is_refusal(error):
                pacer.refused_one(ticket, error.rate_limits or
                                  (RateLimits(retry_after=error.retry_after) if error.retry_after is not None
                                   else None))
                continue  # waits its turn in the pace; the patience bounds how long
            _release(pacer, ticket)
            if error.kind not in TRANSIENT or failures >= max_retries:
                raise
            await asyncio.sleep(retry_delay(failures, backoff_s, error.retry_after))
            failures += 1
            continue
        except BaseException:
            _release(pacer, ticket)
            raise
        if pacer is not None and ticket is not None:
            limits, prompt_tokens, characters = learn(result) if learn is not None else (None, None, 0)
            pacer.answered_one(ticket, limits, prompt_tokens, characters)
        return result


def _release(pacer: Pacer | None, ticket: Ticket | None) -> None:
    if pacer is not None and ticket is not None:
        pacer.failed_one(ticket)
