"""DSPy: run any DSPy program under a prompt condition, on any emoprompt backend, and experiment over programs.

`affect_lm(backend, transform)` is a `dspy.LM` whose engine applies the transform to every LM call the program
makes and answers with the backend (no litellm in between). `run_program_experiment` runs a program over examples
under several conditions, scores each prediction with a DSPy metric, and writes an ordinary emoprompt run folder
that `emoprompt report` analyses (paired: every condition sees the same examples).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from emoprompt.backends import Backend
from emoprompt.chat import Completion, GenerateConfig, Message, Query
from emoprompt.decorator import TransformSpec, resolve_transform
from emoprompt.errors import require
from emoprompt.runner.store import RunStore
from emoprompt.suites.templates import get_template
from emoprompt.transforms import Transform

_RAW = get_template("raw")


class TransformEngine:
    """A DSPy 3.4+ engine (`complete(request) -> response`) that routes calls through a transform and a backend."""

    def __init__(self, backend: Backend, transform: Transform) -> None:
        self.backend = backend
        self.transform = transform
        self.calls: list[tuple[Message, ...]] = []
        self._started: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()

    def complete(self, request: Any) -> Any:
        """Answer one DSPy request (from any thread: DSPy's parallel evaluators call from several at once)."""
        return asyncio.run_coroutine_threadsafe(self._complete(request), self._background_loop()).result()

    def _background_loop(self) -> asyncio.AbstractEventLoop:
        """One event loop per engine, in a daemon thread: the backend's connection pool or micro-batcher lives
        there, so calls from DSPy's threads share it (and the hf backend batches them)."""
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="emoprompt-dspy", daemon=True).start()
                self._loop = loop
            return self._loop

    async def _complete(self, request: Any) -> Any:
        import dspy.lm15 as lm15

        if self._started is None:
            self._started = asyncio.ensure_future(self.backend.start())
        await self._started
        config = GenerateConfig(temperature=request.config.temperature or 0.0,
                                max_tokens=request.config.max_tokens or 1024, top_p=request.config.top_p or 1.0,
                                seed=request.config.seed, stop=tuple(request.config.stop or ()))
        query = _query(request)
        usage = {"in": 0, "out": 0}

        async def generate(next_query: Query, next_config: GenerateConfig) -> Completion:
            chat = _RAW.render(next_query)
            self.calls.append(chat)
            completion = await self.backend.complete(chat, next_config)
            usage["in"] += completion.tokens_in
            usage["out"] += completion.tokens_out
            return completion

        final = await self.transform(query, config, generate)
        return lm15.Response(id=None, model=request.model, message=lm15.Message.assistant(final.text),
                             finish_reason="stop", usage=lm15.Usage(input_tokens=usage["in"],
                                                                    output_tokens=usage["out"]))


def _query(request: Any) -> Query:
    """The DSPy request as a query whose last user message is the input the stimulus attaches to."""
    messages = [Message(_role(m.role), "".join(getattr(p, "text", "") for p in m.parts)) for m in request.messages]
    system = request.system if isinstance(request.system, str) else (
        "".join(getattr(p, "text", "") for p in request.system) if request.system else None)
    last_user = max(i for i, m in enumerate(messages) if m.role == "user")
    return Query(input=messages[last_user].content, system=system or None, history=tuple(messages[:last_user]),
                 turns=tuple(messages[last_user + 1:]))


def _role(role: Any) -> Any:
    text = str(getattr(role, "value", role))
    return {"developer": "system"}.get(text, text)


def affect_lm(backend: Backend, transform: TransformSpec = (), placement: str = "end", separator: str = "space"
              ) -> Any:
    """A `dspy.LM` that applies `transform` (a stimulus id, Transform or list) to every call, answered by `backend`."""
    require("dspy", "dspy")
    import dspy

    resolved = resolve_transform(list(transform) if isinstance(transform, list | tuple) else transform,
                                 placement, separator)
    return dspy.LM(f"emoprompt/{backend.name}", engine=TransformEngine(backend, resolved), cache=False)


def run_program_experiment(program: Any, examples: Sequence[Any], metric: Callable[[Any, Any], Any],
                           backend: Backend, conditions: dict[str, TransformSpec], run_dir: Path,
                           control: str | None = None, task: str = "dspy") -> Path:
    """Run `program` on every example under every condition; score with the DSPy `metric`; write a run folder."""
    require("dspy", "dspy")
    import dspy

    names = list(conditions)
    store = RunStore(run_dir)
    store.open()
    try:
        store.write_manifest({
            "format": 1, "kind": "dspy", "run_id": run_dir.name, "experiment": {"name": task, "suite": "dspy"},
            "conditions": [{"name": n, "family": "baseline" if not conditions[n] else "user"} for n in names],
            "control": control or names[0], "analysis": {"baseline": names[0], "alpha": 0.05, "sesoi": 0.03},
            "identity": {"models": {backend.name: backend.identity()}},
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "status": "running"})
        for index, example in enumerate(examples):
            for name in names:
                lm = affect_lm(backend, conditions[name])
                record: dict[str, Any] = {"key": f"{index}:{name}", "model": backend.name, "task": task,
                                          "sample_id": str(index), "condition": name, "family": "user", "repeat": 0}
                try:
                    with dspy.context(lm=lm):
                        prediction = program(**example.inputs())
                    value = float(metric(example, prediction))
                    record.update(response=str(prediction), score=value, correct=value >= 1.0, parsed=True, error=None)
                except Exception as exc:  # a failed example is an error cell, never a wrong answer
                    record.update(response=None, score=None, correct=None, parsed=None,
                                  error={"kind": type(exc).__name__, "message": str(exc)[:300]})
                record["input_hash"] = hashlib.sha256(str(example.inputs()).encode()).hexdigest()[:16]
                store.append(record)
    finally:
        store.close()
    return run_dir
