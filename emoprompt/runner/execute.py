"""Run the cells of a plan concurrently, through the cache, writing one record per cell as it finishes."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from emoprompt.backends import Backend
from emoprompt.chat import Chat, Completion, GenerateConfig, Query, chat_to_dicts
from emoprompt.errors import EmopromptError, RequestError
from emoprompt.runner.cache import ResponseCache, cache_key
from emoprompt.runner.plan import Cell, RunPlan
from emoprompt.runner.store import RunStore, iter_records
from emoprompt.suites.scorers import get_scorer
from emoprompt.suites.templates import get_template


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


async def execute(plan: RunPlan, store: RunStore, cache: ResponseCache | None,
                  concurrency: int | None = None, progress: bool = True) -> RunCounters:
    """Run every cell of `plan` that has no record in the store yet."""
    counters = RunCounters()
    done = {record["key"] for record in iter_records(store.run_dir)}
    todo = [cell for cell in plan.cells if cell.key not in done]
    counters.already_done = len(plan.cells) - len(todo)
    if not todo:
        return counters
    needed = {cell.model for cell in todo}
    starts = LazyStarts()
    if cache is None:
        for model in needed:
            await starts.ensure(model, plan.backends[model])
    identities = {model: plan.backends[model].identity() for model in needed}  # once, not per cell
    limit = concurrency or min(plan.backends[m].default_concurrency for m in needed)
    bar = _progress_bar(len(plan.cells), counters.already_done, progress)
    queue: asyncio.Queue[Cell] = asyncio.Queue()
    for cell in todo:
        queue.put_nowait(cell)
    started = time.perf_counter()

    async def worker() -> None:
        while True:
            try:
                cell = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            record = await run_cell(cell, plan.backends[cell.model], cache, plan.experiment.generation, counters,
                                    starts, identities[cell.model])
            store.append(record)
            counters.ran += 1
            if record["error"]:
                counters.errors += 1
                kind = record["error"]["kind"]
                counters.error_kinds[kind] = counters.error_kinds.get(kind, 0) + 1
            if bar is not None:
                bar.update(1)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, min(limit, len(todo))))]
    gc.freeze()  # the plan's many long-lived objects need no garbage-collector passes while cells run
    try:
        await asyncio.gather(*workers)
    finally:
        gc.unfreeze()
        for task in workers:
            task.cancel()
        counters.wall_s = time.perf_counter() - started
        if bar is not None:
            bar.close()
    return counters


def _progress_bar(total: int, initial: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="cell", file=sys.stderr, mininterval=0.5,
                dynamic_ncols=True, desc="emoprompt")


async def run_cell(cell: Cell, backend: Backend, cache: ResponseCache | None, config: GenerateConfig,
                   counters: RunCounters, starts: LazyStarts, identity: dict[str, Any]) -> dict[str, Any]:
    """Run one cell through its condition's transform and score it; failures become error records.

    `identity` is the backend's `identity()`, computed once per run by the caller (it may read package metadata).
    """
    template = get_template(cell.task.template)
    calls: list[tuple[Chat, Completion]] = []

    async def generate(query: Query, call_config: GenerateConfig) -> Completion:
        chat = template.render(query)
        key = cache_key(identity, chat, call_config, cell.repeat) if cache else ""
        completion = cache.get(key) if cache else None
        if completion is None:
            counters.model_calls += 1
            await starts.ensure(cell.model, backend)
            completion = await backend.complete(chat, call_config)
            if cache:
                cache.put(key, completion)
        else:
            counters.cache_hits += 1
        calls.append((chat, completion))
        return completion

    record: dict[str, Any] = {
        "key": cell.key, "model": cell.model, "task": cell.task.name, "sample_id": cell.sample.id,
        "condition": cell.condition.name, "family": cell.condition.family, "repeat": cell.repeat,
        "target": list(cell.sample.targets),
    }
    scorer = get_scorer(cell.task.scorer)
    query = cell.task.query(cell.sample, cell.demos).replace(check=lambda text: scorer(text, cell.sample).correct)
    try:
        final = await cell.condition.transform(query, config, generate)
        score = scorer(final.text, cell.sample)
        record.update(response=final.text, finish_reason=final.finish_reason, answer=score.answer,
                      score=score.value, correct=score.correct, parsed=score.parsed, error=None)
        if "attempts" in final.extra:
            record.update(attempt_scores=[scorer(text, cell.sample).value for text in final.extra["attempts"]],
                          feedback=final.extra["feedback"], verifier=final.extra["verifier"])
    except EmopromptError:
        raise
    except RequestError as exc:
        record.update(response=None, finish_reason=None, answer=None, score=None, correct=None, parsed=None,
                      error={"kind": exc.kind, "message": redact(exc.message)})
    except Exception as exc:  # a bug in a transform or scorer must not kill the run; it is recorded
        record.update(response=None, finish_reason=None, answer=None, score=None, correct=None, parsed=None,
                      error={"kind": "exception", "message": redact(f"{type(exc).__name__}: {exc}")})
    record["messages"] = chat_to_dicts(calls[-1][0]) if calls else None
    if len(calls) > 1:
        record["calls"] = [{"messages": chat_to_dicts(chat), "response": c.text, "finish_reason": c.finish_reason,
                            "tokens_in": c.tokens_in, "tokens_out": c.tokens_out, "cached": c.cached}
                           for chat, c in calls]
    costs = [c.cost_usd for _, c in calls if c.cost_usd is not None]
    record.update(
        n_calls=len(calls),
        tokens_in=sum(c.tokens_in for _, c in calls),
        tokens_out=sum(c.tokens_out for _, c in calls),
        latency_s=round(sum(c.latency_s for _, c in calls), 4),
        cost_usd=sum(costs) if costs else None,
        cached=bool(calls) and all(c.cached for _, c in calls),
        time=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
    )
    return record


class LazyStarts:
    """Starts each backend on its first cache miss, once per run: a fully cached rerun never loads a model."""

    def __init__(self) -> None:
        self._starts: dict[str, asyncio.Task[None]] = {}

    async def ensure(self, name: str, backend: Backend) -> None:
        """Wait until `backend` has started (starting it if nobody has)."""
        if name not in self._starts:
            self._starts[name] = asyncio.ensure_future(backend.start())
        await self._starts[name]


_SECRET_NAME = re.compile(r"(API_KEY|_TOKEN|_SECRET)$")


def redact(text: str) -> str:
    """Remove the values of secret-looking environment variables and bearer tokens from a message."""
    for name, value in os.environ.items():
        if _SECRET_NAME.search(name) and len(value) >= 8:
            text = text.replace(value, "[redacted]")
    return re.sub(r"(?i)(bearer\s+|sk-)[A-Za-z0-9_\-.]{8,}", r"\1[redacted]", text)
