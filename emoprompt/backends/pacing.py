"""Pacing: how fast a model's requests go out, learned from the provider and bounded by the user.

Providers limit requests and tokens per minute, and answer 429 (or 503, Anthropic 529) when a client sends more.
A run that treats those answers as failures loses its cells; one that retries them blindly spends the limit on
refusals. A `Pacer` (one per model, one per replica of a pool) turns the limit into a pace:

- **Budgets.** The user's `--rpm` / `--tpm`, and the provider's own limits read from its rate-limit headers
  (OpenAI's `x-ratelimit-limit-*`, Anthropic's `anthropic-ratelimit-*-limit`, litellm's `llm_provider-` copies of
  them), are kept as schedules: each request is given the next free slot of every budget (GCRA, the virtual
  scheduling form of a token bucket), so requests leave evenly at the allowed rate instead of in bursts that the
  provider's bucket refuses. A request's tokens are its prompt (estimated from its characters, calibrated by the
  usage the provider reports) plus `max_tokens`, as providers count them.
- **Refusals.** A 429 or 503/529 pauses every request of the model until its `Retry-After` / `retry-after-ms`
  (else a backoff that doubles while refusals go on), halves the window of requests in flight (once per round
  trip: additive increase, multiplicative decrease), and, when the provider sent no limit headers, sets a request
  rate of half the answers of the last second, which a later refusal slows by 30% (at most once a second) and
  which grows back by a tenth of itself a second while nothing is refused. A `remaining`
  count of 0 in the headers pauses until its `reset`. Refused requests wait their turn: they never use the retries
  meant for real failures.
- **Patience.** When refusals go on and nothing is answered for `patience_s`, every waiting request raises
  `RunStopped("patience")`: the run stops cleanly and resumes later.

References: RFC 9110 §10.2.3 (Retry-After); OpenAI's and Anthropic's rate-limit header documentation; the generic
cell rate algorithm (ITU-T I.371) for the schedules; Jacobson (1988) for AIMD; inspect_ai's adaptive connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from emoprompt.errors import RunStopped

REFUSAL_KINDS = ("rate_limit", "overloaded")
"""Request error kinds that mean "too much, slow down": paced, never counted against the retries."""
FIRST_BACKOFF_S = 0.5
LONGEST_PAUSE_S = 60.0
LEARNED_GROWTH = 0.1
"""A rate learned from refusals grows by this share of itself (as set at its last cut) each second."""
RATE_CUT_INTERVAL_S = 1.0
"""A learned rate is cut at most once a second (the refusals of one burst are one signal)."""
MIN_LEARNED_RATE = 0.1
"""A learned pace never falls below one request in ten seconds."""


@dataclass(frozen=True)
class RateLimits:
    """What one response said about the provider's limits (None: it did not say)."""

    retry_after: float | None = None
    requests_limit: float | None = None
    """Requests per minute."""
    requests_remaining: float | None = None
    requests_reset: float | None = None
    """Seconds until the request budget is whole again."""
    tokens_limit: float | None = None
    tokens_remaining: float | None = None
    tokens_reset: float | None = None

    @property
    def has_limits(self) -> bool:
        return self.requests_limit is not None or self.tokens_limit is not None


def read_rate_limits(headers: Mapping[str, str] | None) -> RateLimits | None:
    """The rate-limit facts in a response's headers (any case; litellm's `llm_provider-` prefix accepted); None
    when there are none."""
    if not headers:
        return None
    found: dict[str, str] = {}
    for name, value in headers.items():
        key = str(name).lower().removeprefix("llm_provider-")
        if key.startswith(("x-ratelimit-", "anthropic-ratelimit-", "retry-after")):
            found[key] = str(value)
    if not found:
        return None
    retry_after = seconds(found.get("retry-after-ms"), milliseconds=True)
    if retry_after is None:
        retry_after = seconds(found.get("retry-after"))
    values: dict[str, float | None] = {}
    for budget in ("requests", "tokens"):
        anthropic = f"anthropic-ratelimit-{budget}" if budget == "requests" or \
            f"anthropic-ratelimit-{budget}-limit" in found else "anthropic-ratelimit-input-tokens"
        values[f"{budget}_limit"] = _number(found.get(f"x-ratelimit-limit-{budget}") or
                                            found.get(f"{anthropic}-limit"))
        values[f"{budget}_remaining"] = _number(found.get(f"x-ratelimit-remaining-{budget}") or
                                                found.get(f"{anthropic}-remaining"))
        values[f"{budget}_reset"] = seconds(found.get(f"x-ratelimit-reset-{budget}") or
                                            found.get(f"{anthropic}-reset"))
    return RateLimits(retry_after, **values)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def seconds(value: str | None, milliseconds: bool = False) -> float | None:
    """A wait in seconds from any form providers send: a number of seconds (or milliseconds), a duration such as
    `6m0s` or `20ms`, an HTTP date or an RFC 3339 time; None when absent or unreadable (nan, inf, negative)."""
    if value is None:
        return None
    text = value.strip()
    try:
        number = float(text) / (1000 if milliseconds else 1)
    except ValueError:
        parts = _DURATION.findall(text)
        if parts and "".join(amount + unit for amount, unit in parts) == text.replace(" ", ""):
            units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
            number = sum(float(amount) * units[unit] for amount, unit in parts)
        else:
            number = _until(text)
    return number if math.isfinite(number) and number >= 0 else None


def _until(text: str) -> float:
    """Seconds from now until an HTTP date or an RFC 3339 time (0 when past; NaN when unreadable)."""
    from email.utils import parsedate_to_datetime

    when: dt.datetime | None = None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return math.nan
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


class Schedule:
    """A budget of `rate` units per second as a schedule of departure times (GCRA): a request costing `units`
    leaves at the schedule's next free time, at most `burst_s` seconds of budget ahead of the clock."""

    def __init__(self, rate: float, burst_s: float = 0.0) -> None:
        self.rate = rate
        self.burst_s = burst_s
        self.free_at = 0.0

    def reserve(self, units: float, now: float) -> float:
        """Take the next slot for `units`; returns when the request may leave."""
        start = max(now, self.free_at - self.burst_s)
        self.free_at = max(self.free_at, now - self.burst_s) + units / self.rate
        return start

    def hold(self, until: float) -> None:
        """Nothing leaves before `until` (the provider said its budget is empty until then)."""
        self.free_at = max(self.free_at, until)


@dataclass
class Ticket:
    """One request let through: when it left and the tokens it was counted for."""

    sent_at: float
    tokens: float


class Pacer:
    """The pace of one model (or one replica): a window of requests in flight, schedules for the budgets, the pause
    after refusals, and the patience."""

    def __init__(self, ceiling: int, rpm: float | None = None, tpm: float | None = None, patience_s: float = 600.0,
                 label: str = "") -> None:
        self.ceiling = max(1, ceiling)
        self.window = float(self.ceiling)
        self.patience_s = patience_s
        self.label = label
        self.in_flight = 0
        self.paused_until = 0.0
        self.refused = 0
        """Requests the provider refused (429, 503, 529)."""
        self.answered = 0
        self.waiting = 0
        """Requests waiting on a budget or a pause right now (for the progress display)."""
        self._user = [Schedule(rpm / 60)] if rpm else []
        self._user_tokens = Schedule(tpm / 60) if tpm else None
        self._provider: Schedule | None = None
        self._provider_tokens: Schedule | None = None
        self._learned = False
        """The provider's request rate was learned from refusals (no headers): it grows while nothing is refused."""
        self._grown_at = 0.0
        self._decreased_at = 0.0
        self._rate_cut_at = -RATE_CUT_INTERVAL_S
        self._increase_per_s = 0.0
        self._backoff_s = FIRST_BACKOFF_S
        self._last_answer = time.monotonic()
        self._refused_since_answer = False
        self._answers: deque[float] = deque(maxlen=512)
        self._token_ratio = 1.0
        """Provider's prompt tokens ÷ our estimate, learned from usage (estimates start at 4 characters a token)."""
        self._slot_free: asyncio.Event | None = None

    # -- what the run sees ---------------------------------------------------------------------------------------

    def notice(self) -> str | None:
        """What the progress display says while requests wait on a limit (None when none do)."""
        if not self.waiting:
            return None
        if self.paused_until > time.monotonic() or self._refused_since_answer:
            return f"waiting on the provider's rate limit ({self.refused:,} refused so far)"
        return "paced to the rate limit"

    def estimate_tokens(self, characters: int, max_tokens: int) -> float:
        """A request's tokens as providers count them: its prompt (from its characters) plus `max_tokens`."""
        return characters / 4 * self._token_ratio + 4 + max_tokens

    # -- the request's side ----------------------------------------------------------------------------------------

    async def acquire(self, tokens: float = 0.0) -> Ticket:
        """Wait for a slot in the window and every budget; raises RunStopped when the provider let nothing through
        for `patience_s` while this request waited."""
        self.waiting += 1
        try:
            while True:
                now = time.monotonic()
                self._check_patience(now)
                if self.in_flight >= self.window:
                    await self._wait_for_slot(now)
                    continue
                if self.paused_until > now:
                    await asyncio.sleep(min(self.paused_until - now, self._patience_left(now)))
                    continue
                leave = self._reserve(tokens, now)
                if leave > now + 1e-4:
                    await asyncio.sleep(min(leave - now, self._patience_left(now)))
                    if self.paused_until > time.monotonic():
                        continue  # a refusal came in meanwhile: this slot went with it
                if self.in_flight >= self.window:
                    continue
                self.in_flight += 1
                return Ticket(time.monotonic(), tokens)
        finally:
            self.waiting -= 1

    def answered_one(self, ticket: Ticket, limits: RateLimits | None = None, prompt_tokens: int | None = None,
                     characters: int | None = None) -> None:
        """The request got an answer: grow the window, learn from the headers and the usage."""
        now = time.monotonic()
        self._release()
        self.answered += 1
        self._answers.append(now)
        self._last_answer = now
        self._refused_since_answer = False
        self._backoff_s = FIRST_BACKOFF_S
        self.window = min(self.ceiling, self.window + 1 / self.window)
        if self._learned and self._provider is not None:
            elapsed = now - max(self._grown_at, self._rate_cut_at)
            if elapsed > 0:
                self._provider.rate += self._increase_per_s * min(elapsed, 1.0)
                self._grown_at = now
        if prompt_tokens and characters:
            observed = prompt_tokens / max(1.0, characters / 4)
            self._token_ratio = 0.9 * self._token_ratio + 0.1 * observed
        if limits is not None:
            self._learn(limits, now)

    def refused_one(self, ticket: Ticket, limits: RateLimits | None = None) -> None:
        """The provider refused the request (429, 503 with Retry-After, 529): pause, shrink, learn."""
        now = time.monotonic()
        self._release()
        self.refused += 1
        self._refused_since_answer = True
        wait = limits.retry_after if limits is not None and limits.retry_after is not None else None
        if wait is None:
            wait = self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, LONGEST_PAUSE_S)
        self.paused_until = max(self.paused_until, now + min(wait, LONGEST_PAUSE_S))
        if ticket.sent_at >= self._decreased_at:  # once per round trip, not once per refusal of one burst
            self.window = max(1.0, self.window / 2)
            self._decreased_at = now
            if (limits is None or not limits.has_limits) and now - self._rate_cut_at >= RATE_CUT_INTERVAL_S:
                self._learn_from_refusal(now)
                self._rate_cut_at = now
        if limits is not None:
            self._learn(limits, now)

    def failed_one(self, ticket: Ticket) -> None:
        """The request failed for another reason (its retries are the caller's)."""
        self._release()

    # -- internals -------------------------------------------------------------------------------------------------

    def _release(self) -> None:
        self.in_flight -= 1
        if self._slot_free is not None:
            self._slot_free.set()

    async def _wait_for_slot(self, now: float) -> None:
        if self._slot_free is None:
            self._slot_free = asyncio.Event()
        self._slot_free.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._slot_free.wait(), timeout=self._patience_left(now))

    def _reserve(self, tokens: float, now: float) -> float:
        leave = now
        for schedule in (*self._user, self._provider):
            if schedule is not None:
                leave = max(leave, schedule.reserve(1.0, now))
        for schedule in (self._user_tokens, self._provider_tokens):
            if schedule is not None and tokens:
                leave = max(leave, schedule.reserve(tokens, now))
        return leave

    def _learn(self, limits: RateLimits, now: float) -> None:
        """Adopt the provider's stated limits as schedules; an empty budget holds them until its reset."""
        if limits.requests_limit:
            rate = limits.requests_limit / 60
            if self._provider is None or self._learned or abs(self._provider.rate - rate) > 1e-9:
                self._provider = self._provider or Schedule(rate)
                self._provider.rate = rate
                self._learned = False
        if limits.tokens_limit:
            rate = limits.tokens_limit / 60
            if self._provider_tokens is None:
                self._provider_tokens = Schedule(rate)
            self._provider_tokens.rate = rate
        if limits.requests_remaining is not None and limits.requests_remaining < 1 and self._provider is not None:
            self._provider.hold(now + min(limits.requests_reset or 1 / self._provider.rate, LONGEST_PAUSE_S))
        if limits.tokens_remaining is not None and limits.tokens_remaining < 1 and self._provider_tokens is not None \
                and limits.tokens_reset:
            self._provider_tokens.hold(now + min(limits.tokens_reset, LONGEST_PAUSE_S))

    def _learn_from_refusal(self, now: float) -> None:
        """No limit headers: the first refusal sets the pace to half the answers of the last second (what got
        through includes the provider's burst); each later one (at most one a second) slows it by 30%, and it grows
        back by a tenth of that pace a second while nothing is refused (additive increase, multiplicative decrease,
        on the rate). Without answers to learn from, only the pause and the window act."""
        if self._learned and self._provider is not None:
            self._provider.rate = max(self._provider.rate * 0.7, MIN_LEARNED_RATE)
        else:
            span = next((s for s in (1.0, 5.0, 30.0) if sum(1 for t in self._answers if t > now - s) >= 2), None)
            if span is None:
                return
            answered = sum(1 for t in self._answers if t > now - span)
            self._provider = Schedule(max(0.5 * answered / span, MIN_LEARNED_RATE))
            self._learned = True
        self._increase_per_s = LEARNED_GROWTH * self._provider.rate
        self._grown_at = now

    def next_send(self, now: float) -> float:
        """When the next request could leave: after the pause and the next free slot of every budget."""
        leave = self.paused_until
        for schedule in (*self._user, self._provider):
            if schedule is not None:
                leave = max(leave, schedule.free_at - schedule.burst_s)
        return max(leave, now) if leave > now else leave

    def _patience_left(self, now: float) -> float:
        return max(0.01, self.patience_s - (now - self._last_answer))

    def _check_patience(self, now: float) -> None:
        if self._refused_since_answer and now - self._last_answer > self.patience_s:
            where = f" {self.label}" if self.label else ""
            raise RunStopped("patience", f"the provider{where} refused every request for {self.patience_s:g} s "
                                         f"({self.refused:,} refused in all); its rate limit let nothing through.")
