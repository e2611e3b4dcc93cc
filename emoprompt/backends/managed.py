"""What every caller of a backend uses: the backend with its identity computed once, started once on first use,
transient failures retried (tenacity, honouring Retry-After), replies checked, and closed once."""

from __future__ import annotations

import asyncio
from typing import Any

from emoprompt.backends.base import Backend, call_optional
from emoprompt.chat import Chat, Completion, GenerateConfig
from emoprompt.errors import EmopromptError, RequestError
from emoprompt.identity import is_complete
from emoprompt.safe_files import scrub
from emoprompt.secrets import truncate

TRANSIENT = ("rate_limit", "server_error", "unavailable", "connection", "timeout", "malformed_response",
             "empty_choices")
"""Request error kinds worth another attempt."""
MAX_RETRY_WAIT_S = 60.0
DEFAULT_MAX_RESPONSE_CHARS = 1_000_000
"""Answers longer than this become `response_too_large` error cells (`--max-response-chars`)."""


class ManagedBackend:
    """A backend as the runner, DSPy and A/B use it.

    The first attempt of a request goes straight to the backend (no overhead); only a transient RequestError hands
    the request to tenacity for up to `max_retries` more attempts, with jittered exponential backoff from
    `backoff_s`, or the server's Retry-After when it gave one (capped at 60 s).
    """

    def __init__(self, name: str, backend: Backend, max_retries: int = 5, backoff_s: float = 1.0,
                 max_response_chars: int = DEFAULT_MAX_RESPONSE_CHARS) -> None:
        self.name = name
        self.backend = backend
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_response_chars = max_response_chars
        self.identity: dict[str, Any] = backend.identity()
        self.cacheable = is_complete(self.identity)
        """False when the identity cannot tell two versions of the backend apart: its answers are not cached."""
        self.default_concurrency = int(getattr(backend, "default_concurrency", 16))
        self._starts: dict[asyncio.AbstractEventLoop, asyncio.Future[None]] = {}

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
        """The backend's answer, after retries of transient failures; raises RequestError when it failed."""
        await self.ensure_started()
        try:
            return self._checked(await self.backend.complete(chat, config))
        except RequestError as error:
            if error.kind not in TRANSIENT or self.max_retries < 1:
                raise
            return await self._retry(chat, config, error)
        except EmopromptError:
            raise
        except Exception as exc:  # a backend's own bug or its library's refusal: this request failed, named so
            raise RequestError("backend_error", truncate(f"{type(exc).__name__}: {exc}")) from None

    async def _retry(self, chat: Chat, config: GenerateConfig, first: RequestError) -> Completion:
        from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

        from emoprompt.backends._api import retry_delay

        await asyncio.sleep(retry_delay(0, self.backoff_s, first.retry_after))

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            retry_after = error.retry_after if isinstance(error, RequestError) else None
            return retry_delay(state.attempt_number, self.backoff_s, retry_after)

        async def attempt() -> Completion:
            return self._checked(await self.backend.complete(chat, config))

        retrying = AsyncRetrying(stop=stop_after_attempt(self.max_retries), wait=wait, reraise=True,
                                 retry=retry_if_exception(lambda e: isinstance(e, RequestError)
                                                          and e.kind in TRANSIENT))
        result: Completion = await retrying(attempt)
        return result

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
        """What the backend wants the run's manifest to remember (an endpoint pool's drains), if anything."""
        notes = getattr(self.backend, "run_notes", None)
        return list(notes()) if callable(notes) else []

    async def close(self) -> None:
        """Close the backend (once)."""
        self._starts.clear()
        await call_optional(self.backend, "close")
