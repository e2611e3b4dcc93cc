"""Batching around a backend: concurrent single requests are gathered into one batched call."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from emoprompt.chat import Chat, Completion, GenerateConfig

Request = TypeVar("Request")
Result = TypeVar("Result")


class MicroBatcher(Generic[Request, Result]):
    """Collects requests for up to `max_wait_s` (or until `max_batch` wait) and runs them together.

    `run_batch` is a blocking function (e.g. `model.generate`); it runs in a worker thread so the event
    loop keeps accepting requests while the model works. It returns one result per request, or an exception
    instance for a request that failed on its own; when it raises, the batch's requests run again one by one, so a
    failing request fails only itself. Requests are grouped by `group_key` (for example
    the generation settings), since one batched call takes one setting. When more requests wait than one batch
    holds, `sort_key` (for example the prompt's text) orders them first, so each batch holds similar requests.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[Request]], list[Result]],
        group_key: Callable[[Request], Hashable],
        max_batch: int = 32,
        max_wait_s: float = 0.02,
        sort_key: Callable[[Request], Any] | None = None,
    ) -> None:
        self._run_batch = run_batch
        self._group_key = group_key
        self._sort_key = sort_key
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._pending: dict[Hashable, list[tuple[Request, asyncio.Future[Result]]]] = {}
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self.batch_sizes: list[int] = []

    async def submit(self, request: Request) -> Result:
        """Queue one request and wait for its result."""
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._pending = {}
            self._wakeup = asyncio.Event()
            self._worker = loop.create_task(self._work())
        future: asyncio.Future[Result] = loop.create_future()
        self._pending.setdefault(self._group_key(request), []).append((request, future))
        assert self._wakeup is not None
        self._wakeup.set()
        return await future

    async def _work(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self._gather_more()
            while self._pending:
                key = max(self._pending, key=lambda k: len(self._pending[k]))
                queue = self._pending[key]
                if self._sort_key is not None and len(queue) > self.max_batch:
                    sort_key = self._sort_key
                    queue.sort(key=lambda entry: sort_key(entry[0]))
                batch, self._pending[key] = queue[: self.max_batch], queue[self.max_batch:]
                if not self._pending[key]:
                    del self._pending[key]
                await self._run(batch)

    async def _gather_more(self) -> None:
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while sum(len(q) for q in self._pending.values()) < self.max_batch:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 0.002))

    async def _run(self, batch: list[tuple[Request, asyncio.Future[Result]]]) -> None:
        live = [(r, f) for r, f in batch if not f.cancelled()]
        if not live:
            return
        self.batch_sizes.append(len(live))
        results = await asyncio.to_thread(self._run_isolated, [r for r, _ in live])
        for (_, future), result in zip(live, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _run_isolated(self, requests: list[Request]) -> list[Result | BaseException]:
        """The batch's results; if the batched call fails, each request alone, so only the bad one fails."""
        try:
            return list(self._run_batch(requests))
        except Exception as exc:
            if len(requests) == 1:
                return [exc]
        results: list[Result | BaseException] = []
        for request in requests:
            try:
                results.extend(self._run_batch([request]))
            except Exception as exc:
                results.append(exc)
        return results

    async def close(self) -> None:
        """Stop the worker."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None


BatchRequest = tuple[Chat, GenerateConfig]


class BatchedBackend:
    """Base of a backend that answers many requests in one blocking call (a local model's `generate`).

    Implement `identity()` and `generate_batch(requests) -> list[Completion | Exception]`; `complete` gathers
    concurrent requests into batches of up to `max_batch` with one generation config each, prompts in text order
    (so prompts that share a prefix, such as one task's, land in one batch), and runs `generate_batch` in a worker
    thread.
    """

    name = "batched"

    def __init__(self, max_batch: int = 32, max_wait_s: float = 0.02) -> None:
        self.max_batch = max_batch
        self.default_concurrency = max_batch * 2
        self._batcher: MicroBatcher[BatchRequest, Completion] = MicroBatcher(
            self.generate_batch, group_key=lambda request: request[1], max_batch=max_batch, max_wait_s=max_wait_s,
            sort_key=lambda request: [message.content for message in request[0]])

    @property
    def batch_sizes(self) -> list[int]:
        """The size of every batch run so far."""
        return self._batcher.batch_sizes

    def identity(self) -> dict[str, Any]:
        raise NotImplementedError

    def generate_batch(self, requests: Sequence[BatchRequest]) -> list[Completion]:
        """Answer every request (all with the same config); blocking."""
        raise NotImplementedError

    async def complete(self, chat: Chat, config: GenerateConfig) -> Completion:
        return await self._batcher.submit((chat, config))

    async def close(self) -> None:
        await self._batcher.close()
