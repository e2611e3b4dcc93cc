"""Run the cells of a plan concurrently, through the cache, writing one record per cell as it finishes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from emoprompt.backends import ManagedBackend
from emoprompt.backends.context import RequestTag, tagged
from emoprompt.chat import Chat, Completion, GenerateConfig, Oracle, Query
from emoprompt.errors import EmopromptError, RequestError, RunStopped
from emoprompt.runner.cache import ResponseCache, cache_key
from emoprompt.runner.plan import Cell, RunPlan, repeat_config
from emoprompt.runner.progress import RunProgress
from emoprompt.runner.store import RunStore, iter_records
from emoprompt.schema import CallRecord, ChatTurn, ErrorInfo, Record
from emoprompt.secrets import truncate
from emoprompt.suites.registry import get_template, scorers
from emoprompt.suites.templates import Template


@dataclass
class RunCounters:
    """What happened in one invocation of the runner."""

    already_done: int = 0
    ran: int = 0
    errors: int = 0
    model_calls: int = 0
    cache_hits: int = 0
    wall_s: float = 0.0
    error_kinds: dict[str, int] = field(default_factory=dict)
    error_examples: dict[str, str] = field(default_factory=dict)
    """One message per error kind, for the end-of-run report."""
    interrupted_by: int | None = None
    """The signal (SIGINT, SIGTERM) that stopped the invocation before every cell ran, if one did."""
    stopped_by: str | None = None
    """`max_cost` or `patience` when the run stopped before every cell ran (the cells left stay unrun)."""
    stop_reason: str = ""


async def execute(plan: RunPlan, store: RunStore, cache: ResponseCache | None,
                  concurrency: int | None = None, progress: bool = True, done: set[str] | None = None,
                  on_record: Callable[[Record], None] | None = None, grace_s: float = 5.0) -> RunCounters:
    """Run every cell of `plan` that has no record in the store yet (`done`: the keys already recorded, when the
    caller has read them); `on_record` sees each record once it is appended. After a first SIGINT or SIGTERM no
    cell starts, and the cells in flight have `grace_s` seconds to finish before they are cancelled (unrun for
    --resume); a second signal cancels them at once."""
    counters = RunCounters()
    if done is None:
        done = {record.key for record in iter_records(store.run_dir)}
    todo = [cell for cell in plan.cells if cell.key not in done]
    counters.already_done = len(plan.cells) - len(todo)
    if not todo:
        return counters
    needed = {cell.model for cell in todo}
    bar = RunProgress(len(plan.cells), counters.already_done, [plan.backends[m] for m in needed],
                      [c.name for c in plan.conditions]) if progress else None
    if bar is not None:
        bar.start()
    try:
        if cache is None:
            for model in needed:
                await plan.backends[model].ensure_started()
            if bar is not None:
                bar.mark_ready()
    except BaseException:
        if bar is not None:
            bar.discard()
        raise
    limit = concurrency or min(plan.backends[m].default_concurrency for m in needed)
    for model in needed:
        plan.backends[model].allow_in_flight(limit)
    queue: asyncio.Queue[Cell] = asyncio.Queue()
    for cell in todo:
        queue.put_nowait(cell)
    started = time.perf_counter()
    templates: dict[str, Template] = {}

    async def worker() -> None:
        while True:
            try:
                cell = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            template = templates.get(cell.task.template)
            if template is None:
                template = templates[cell.task.template] = get_template(cell.task.template)
            try:
                record = await run_cell(cell, plan.backends[cell.model], cache if plan.cacheable(cell) else None,
                                        repeat_config(plan.experiment.generation, cell.repeat), counters, template)
            except RunStopped as stop:  # the cell stays unrun for --resume; no new cell starts
                if counters.stopped_by is None:
                    counters.stopped_by, counters.stop_reason = stop.kind, stop.message
                    while not queue.empty():
                        queue.get_nowait()
                continue
            store.append(record)
            if on_record is not None:
                on_record(record)
            counters.ran += 1
            if record.error is not None:
                counters.errors += 1
                kind = record.error.kind
                counters.error_kinds[kind] = counters.error_kinds.get(kind, 0) + 1
                counters.error_examples.setdefault(kind, record.error.message)
            if bar is not None:
                bar.cell_done(record)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, min(limit, len(todo))))]

    def cancel_in_flight() -> None:
        for task in workers:
            task.cancel()

    def stop(signum: int) -> None:
        if counters.interrupted_by is None:  # first signal: no new cells; the ones in flight get the grace
            counters.interrupted_by = signum
            while not queue.empty():
                queue.get_nowait()
            print(f"\nemoprompt: stopping; the cells in flight have {grace_s:g} s to finish (a second signal stops "
                  "at once)", file=sys.stderr)
            asyncio.get_running_loop().call_later(grace_s, cancel_in_flight)
        else:  # second signal: stop now; cells in flight run again on --resume
            cancel_in_flight()

    gc.freeze()  # the plan's many long-lived objects need no garbage-collector passes while cells run
    try:
        with _signals_handled_by(stop):
            await asyncio.gather(*workers)
    except asyncio.CancelledError:
        if counters.interrupted_by is None:
            raise
    finally:
        gc.unfreeze()
        for task in workers:
            task.cancel()
        counters.wall_s = time.perf_counter() - started
        if bar is not None:
            bar.close()
    return counters


@contextlib.contextmanager
def _signals_handled_by(handler: Callable[[int], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call `handler(signum)` on the event loop while the block runs (main thread, POSIX only;
    elsewhere they keep their usual effect)."""
    loop = asyncio.get_running_loop()
    if threading.current_thread() is not threading.main_thread() or sys.platform == "win32":
        yield
        return
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, handler, signum)
            installed.append(signum)
        except (ValueError, RuntimeError, NotImplementedError):
            continue
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


async def run_cell(cell: Cell, backend: ManagedBackend, cache: ResponseCache | None, config: GenerateConfig,
                   counters: RunCounters, template: Template | None = None) -> Record:
    """Run one cell through its condition's transform and score it; failures become error records. `template` is
    the task's template when the caller has looked it up already."""
    template = template or get_template(cell.task.template)
    calls: list[tuple[Chat, Completion]] = []

    async def generate(query: Query, call_config: GenerateConfig) -> Completion:
        chat = template.render(query)
        key = cache_key(backend.identity, chat, call_config, cell.repeat) if cache else ""
        completion = cache.get(key) if cache else None
        if completion is None:
            counters.model_calls += 1
            with tagged(RequestTag(cell.key, item, len(calls))):
                completion = await backend.complete(chat, call_config)
            if cache:
                cache.put(key, completion)
        else:
            counters.cache_hits += 1
        calls.append((chat, completion))
        return completion

    scorer = scorers.get(cell.task.scorer)
    sample = cell.sample
    item = f"{cell.model}\x1f{cell.task.name}\x1f{sample.id}"
    query = cell.task.query(sample, cell.demos).replace(oracle=Oracle(lambda text: scorer(text, sample).correct))
    fields: dict[str, Any]
    try:
        final = await cell.condition.transform(query, config, generate)
        if not isinstance(final, Completion):
            raise TypeError(f"the transform returned {type(final).__name__}, not a Completion")
        score = scorer(final.text, sample)
        if not math.isfinite(float(score.value)):
            raise ValueError(f"the scorer {cell.task.scorer!r} returned {score.value}, not a finite number")
        fields = {"response": final.text, "finish_reason": final.finish_reason, "answer": score.answer,
                  "score": float(score.value), "correct": bool(score.correct), "parsed": bool(score.parsed)}
        if final.loop is not None:
            fields.update(attempt_scores=[float(scorer(text, sample).value) for text in final.loop.attempts],
                          feedback=list(final.loop.feedback), verdicts=list(final.loop.verdicts),
                          verifier=final.loop.verifier)
    except (EmopromptError, RunStopped):
        raise
    except RequestError as exc:
        fields = {"error": ErrorInfo(exc.kind, truncate(exc.message))}
    except Exception as exc:  # a bug in a transform or scorer must not kill the run; it is recorded
        fields = {"error": ErrorInfo("exception", truncate(f"{type(exc).__name__}: {exc}"))}
    costs = [c.cost_usd for _, c in calls if c.cost_usd is not None]
    return Record(
        key=cell.key, model=cell.model, task=cell.task.name, sample_id=sample.id, condition=cell.condition.name,
        family=cell.condition.family, repeat=cell.repeat, paraphrase=cell.paraphrase, target=list(sample.targets),
        messages=_turns(calls[-1][0]) if calls else None,
        calls=[CallRecord(_turns(chat), c.text, c.finish_reason, c.tokens_in, c.tokens_out, c.cached)
               for chat, c in calls] if len(calls) > 1 else None,
        n_calls=len(calls), tokens_in=_total(c.tokens_in for _, c in calls),
        tokens_out=_total(c.tokens_out for _, c in calls), latency_s=round(sum(c.latency_s for _, c in calls), 4),
        cost_usd=sum(costs) if costs and len(costs) == len(calls) else None,
        cached=bool(calls) and all(c.cached for _, c in calls),
        time=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"), **fields)


def _turns(chat: Chat) -> list[ChatTurn]:
    return [ChatTurn(message.role, message.content) for message in chat]


def _total(counts: Any) -> int | None:
    """The sum of token counts, or None when any is unknown."""
    total = 0
    for count in counts:
        if count is None:
            return None
        total += count
    return total
