"""Batching around a backend: concurrent single requests are gathered into one batched call."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from emoprompt.chat import Chat, Completion, GenerateConfig

Request = TypeVar("Request")
Result = TypeVar("Result")


CONCURRENT_BATCHES: contextvars.ContextVar[int] = contextvars.ContextVar("concurrent_batches", default=1)
"""Inside `run_batch`: how many batches are expected to run at once, this one included (lanes busy, or about to be
because requests wait), so that a CPU model can give this batch its share of the cores — all of them when it runs
alone."""


class MicroBatcher(Generic[Request, Result]):
    """Collects requests for up to `max_wait_s` (or until `max_batch` wait) and runs them together.

    `run_batch` is a blocking function (e.g. `model.generate`); it runs in a worker thread so the event
    loop keeps accepting requests while the model works. It returns one result per request, or an exception
    instance for a request that failed on its own; when it raises, the batch's requests run again one by one, so a
    failing request fails only itself. Requests are grouped by `group_key` (for example
    the generation settings), since one batched call takes one setting. When more requests wait than one batch
    holds, `sort_key` (for example the prompt's text) orders them and the batch is the run of `max_batch` neighbours
    in that order that holds the longest-waiting request: each batch holds similar requests (prompts that share
    a prefix), and no request waits behind ever newer ones. Up to `lanes` batches run at once, each in its own
    thread (a CPU model gives each lane its share of the cores: fewer threads per matrix product, and one lane's
    small operations overlap the other's); when every lane is free and fewer than `lanes` full batches wait, they
    are shared out evenly, so that no lane idles while another works through them alone.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[Request]], list[Result]],
        group_key: Callable[[Request], Hashable],
        max_batch: int = 32,
        max_wait_s: float = 0.02,
        sort_key: Callable[[Request], Any] | None = None,
        lanes: int = 1,
    ) -> None:
        self._run_batch = run_batch
        self._group_key = group_key
        self._sort_key = sort_key
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.lanes = lanes
        self._running: set[asyncio.Task[None]] = set()
        self._pending: dict[Hashable, list[tuple[int, Request, asyncio.Future[Result]]]] = {}
        self._arrivals = itertools.count()
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
        self._pending.setdefault(self._group_key(request), []).append((next(self._arrivals), request, future))
        assert self._wakeup is not None
        self._wakeup.set()
        return await future

    async def _work(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                while len(self._running) >= max(1, self.lanes):
                    await asyncio.wait(set(self._running), return_when=asyncio.FIRST_COMPLETED)
                await self._gather_more()
                key = max(self._pending, key=lambda k: len(self._pending[k]))
                batch, self._pending[key] = self._take(self._pending[key])
                if not self._pending[key]:
                    del self._pending[key]
                beside = min(max(1, self.lanes), len(self._running) + 1 + bool(self._pending))
                context = contextvars.copy_context()
                context.run(CONCURRENT_BATCHES.set, beside)
                lane = asyncio.get_running_loop().create_task(self._run(batch), context=context)
                self._running.add(lane)
                lane.add_done_callback(self._running.discard)

    def _take(self, queue: list[tuple[int, Request, asyncio.Future[Result]]]
              ) -> tuple[list[tuple[int, Request, asyncio.Future[Result]]],
                         list[tuple[int, Request, asyncio.Future[Result]]]]:
        """The next batch from one group's queue, and what stays waiting: in sort order, the run of `max_batch`
        neighbours that holds the longest-waiting request and whose keys, laid out as a prefix tree, have the fewest
        characters (each key counts what it does not share with the one before it): the run a local model computes
        with least work when it computes shared prompt prefixes once."""
        size = self.max_batch
        if not self._running:  # every lane free: fewer than a batch each are shared out evenly
            size = min(size, -(-len(queue) // max(1, self.lanes)))
        if self._sort_key is None or len(queue) <= size:
            return queue[:size], queue[size:]
        sort_key = self._sort_key
        keys = [sort_key(entry[1]) for entry in queue]
        order = sorted(range(len(queue)), key=keys.__getitem__)
        queue[:] = [queue[index] for index in order]
        keys = [keys[index] for index in order]
        oldest = min(range(len(queue)), key=lambda index: queue[index][0])
        lengths = [_key_length(key) for key in keys]
        own = [0, *itertools.accumulate(length - _shared_length(before, key) for before, key, length
                                        in zip(keys, keys[1:], lengths[1:], strict=False))]

        def tree_size(first: int) -> int:
            return lengths[first] + own[first + size - 1] - own[first]

        starts = range(max(0, oldest - size + 1), min(oldest, len(queue) - size) + 1)
        start = min(starts, key=lambda first: (tree_size(first), abs(first - oldest)))
        return queue[start:start + size], queue[:start] + queue[start + size:]

    async def _gather_more(self) -> None:
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while sum(len(q) for q in self._pending.values()) < self.max_batch:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 0.002))

    async def _run(self, batch: list[tuple[int, Request, asyncio.Future[Result]]]) -> None:
        live = [(r, f) for _, r, f in batch if not f.cancelled()]
        if not live:
            return
        self.batch_sizes.append(len(live))
        try:
            results = await asyncio.to_thread(self._run_isolated, [r for r, _ in live])
            if len(results) != len(live):
                raise RuntimeError(f"a batch of {len(live)} requests gave {len(results)} results")
        except Exception as exc:  # no caller may wait forever
            results = [exc] * len(live)
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
        for lane in list(self._running):
            lane.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lane


def _key_length(key: Any) -> int:
    """A sort key's size in characters (strings, or sequences of them)."""
    if isinstance(key, str):
        return len(key)
    if isinstance(key, (list, tuple)):
        return sum(_key_length(part) for part in key)
    return 1


def _common_start(first: str, second: str) -> int:
    """The length of the longest common start of two strings (a binary search over slice comparisons)."""
    low, high = 0, min(len(first), len(second))
    while low < high:
        middle = (low + high + 1) // 2
        if first[:middle] == second[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _shared_length(first: Any, second: Any) -> int:
    """How alike two sort keys are: the length of their common start (strings, or sequences of them)."""
    if isinstance(first, str) and isinstance(second, str):
        return _common_start(first, second)
    if isinstance(first, (list, tuple)) and isinstance(second, (list, tuple)):
        total = 0
        for a, b in zip(first, second, strict=False):
            common = _shared_length(a, b)
            total += common
            if a != b:
                break
        return total
    return int(first == second)


BatchRequest = tuple[Chat, GenerateConfig]

WINDOW_BATCHES = 8
"""Requests a batched backend takes in at once, in batches: some run (one per lane) while the others wait, and the
waiting ones are many enough that each next batch can be made of prompts that share a prefix (one task's, one
condition's)."""


class BatchedBackend:
    """Base of a backend that answers many requests in one blocking call (a local model's `generate`).

    A local model never refuses a request for its rate, so it is not paced (`paced = False`).

    Implement `identity()` and `generate_batch(requests) -> list[Completion | Exception]`; `complete` gathers
    concurrent requests into batches of up to `max_batch` with one generation config each, prompts in text order
    (so prompts that share a prefix, such as one task's, land in one batch), and runs `generate_batch` in a worker
    thread.
    """

    paced = False

    name = "batched"

    def __init__(self, max_batch: int = 32, max_wait_s: float = 0.02) -> None:
        self.max_batch = max_batch
        self.default_concurrency = max_batch * WINDOW_BATCHES
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
