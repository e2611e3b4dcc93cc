"""Requests gathered into rounds: they wait together until none has joined for a moment (every cell that can ask
has asked), then go out as one or more groups within a size limit. The Batch API backends send a group as a batch;
the Ray executor sends it as a Ray dataset. A HEART loop's next call is asked only when its previous one came back,
so loops go round by round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from emoprompt.chat import Completion
from emoprompt.errors import RequestError

Outcome = Completion | RequestError
Pending = tuple[str, bytes, "asyncio.Future[Outcome]"]
"""(custom_id, the request as one JSON line, the future its outcome goes to)."""

QUIET_S = 0.25
"""A round goes out once no request has joined it for this long."""


class Rounds:
    """Gather requests and hand each full or quiet group to `dispatch`, which must resolve every future it gets."""

    def __init__(self, dispatch: Callable[[list[Pending]], Awaitable[None]], max_requests: int,
                 max_bytes: float = float("inf"), quiet_s: float = QUIET_S) -> None:
        self.dispatch = dispatch
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.quiet_s = quiet_s
        self._pending: list[Pending] = []
        self._gathering: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def ask(self, custom_id: str, line: bytes) -> Outcome:
        """Queue one request and wait for its outcome."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending.append((custom_id, line, future))
        if len(self._pending) >= self.max_requests:
            self._send(self._take())
        elif self._gathering is None or self._gathering.done():
            self._gathering = asyncio.create_task(self._gather())
        return await future

    def spawn(self, work: Awaitable[Any]) -> None:
        """Run `work` in the background, cancelled by `close()`."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._gathering is not None:
            self._gathering.cancel()

    async def _gather(self) -> None:
        while True:
            size = len(self._pending)
            await asyncio.sleep(self.quiet_s)
            if len(self._pending) == size:
                break
        if self._pending:
            self._send(self._take())

    def _take(self) -> list[Pending]:
        """The pending requests, up to one group's worth (by count and bytes)."""
        taken: list[Pending] = []
        size = 0
        while self._pending and len(taken) < self.max_requests:
            line_size = len(self._pending[0][1])
            if taken and size + line_size > self.max_bytes:
                break
            taken.append(self._pending.pop(0))
            size += line_size
        if self._pending:
            self._gathering = asyncio.create_task(self._gather())
        return taken

    def _send(self, requests: list[Pending]) -> None:
        self.spawn(self._dispatch(requests))

    async def _dispatch(self, requests: list[Pending]) -> None:
        try:
            await self.dispatch(requests)
        except Exception as exc:  # a bug or an unexpected reply must fail these requests, never hang them
            from emoprompt.secrets import truncate

            failure = RequestError("backend_error", truncate(f"{type(exc).__name__}: {exc}"))
            for _, _, future in requests:
                if not future.done():
                    future.set_result(failure)
