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
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from emoprompt.backends import Backend, ManagedBackend
from emoprompt.chat import Completion, GenerateConfig, Message, Query
from emoprompt.conditions import parse_condition
from emoprompt.decorator import ConditionLike, call_defaults
from emoprompt.errors import UsageError, require
from emoprompt.runner.store import RunStore
from emoprompt.schema import AnalysisPlan, ConditionInfo, ErrorInfo, Manifest, Record
from emoprompt.secrets import truncate
from emoprompt.suites.registry import get_template
from emoprompt.transforms import Transform
from emoprompt.transforms.feedback import HeartSettings

_RAW = get_template("raw")


class EventLoopThread:
    """One event loop in a daemon thread, started on first use: a backend's connection pool or micro-batcher lives
    there, so calls from DSPy's threads share it. `close()` stops the loop and joins the thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, coroutine: Any) -> Any:
        """Run a coroutine on the loop from any other thread and wait for its result."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self.loop.run_forever, name="emoprompt-dspy", daemon=True)
                self._thread.start()
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        """Stop the loop and its thread (idempotent)."""
        if self.loop.is_closed():
            return
        if self._thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            if self._thread is not threading.current_thread():
                self._thread.join(10)
        if not self.loop.is_running():
            self.loop.close()


class TransformEngine:
    """A DSPy 3.4+ engine (`complete(request) -> response`) that routes calls through a transform and a backend.

    An engine that owns its event loop thread stops it on `close()`, at the end of a `with` block, or when the
    engine is garbage-collected (with the `dspy.LM` that holds it), so no thread outlives its LM."""

    def __init__(self, backend: ManagedBackend, transform: Transform, loop: EventLoopThread | None = None) -> None:
        self.backend = backend
        self.transform = transform
        self.calls: list[tuple[Message, ...]] = []
        self._own_loop = loop is None
        self._loop = loop or EventLoopThread()
        if self._own_loop:
            weakref.finalize(self, self._loop.close)

    def __enter__(self) -> TransformEngine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def complete(self, request: Any) -> Any:
        """Answer one DSPy request (from any thread: DSPy's parallel evaluators call from several at once)."""
        return self._loop.run(self._complete(request))

    def close(self) -> None:
        """Stop the engine's event loop thread (when it owns it)."""
        if self._own_loop:
            self._loop.close()

    async def _complete(self, request: Any) -> Any:
        import dspy.lm15 as lm15

        config = GenerateConfig(temperature=request.config.temperature or 0.0,
                                max_tokens=request.config.max_tokens or 1024, top_p=request.config.top_p or 1.0,
                                seed=request.config.seed, stop=tuple(request.config.stop or ()))
        query = _query(request)
        usage = {"in": 0, "out": 0}

        async def generate(next_query: Query, next_config: GenerateConfig) -> Completion:
            chat = _RAW.render(next_query)
            self.calls.append(chat)
            completion = await self.backend.complete(chat, next_config)
            usage["in"] += completion.tokens_in or 0
            usage["out"] += completion.tokens_out or 0
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


def _managed(backend: Backend | ManagedBackend) -> ManagedBackend:
    if isinstance(backend, ManagedBackend):
        return backend
    return ManagedBackend(str(getattr(backend, "name", type(backend).__name__)), backend)


def affect_lm(backend: Backend | ManagedBackend, condition: ConditionLike = (), placement: str = "after_instruction",
              separator: str = "space", heart: HeartSettings | None = None, loop: EventLoopThread | None = None
              ) -> Any:
    """A `dspy.LM` that applies `condition` (the one condition grammar, a Transform, or a list chained) to every
    call, answered by `backend`. Its event loop thread starts on the first call and stops when the LM is
    garbage-collected, or at once with `lm.engine.close()` (or `with lm.engine:`)."""
    require("dspy", "dspy")
    import dspy

    managed = _managed(backend)
    transform = parse_condition(condition, call_defaults(placement, separator, heart)).transform
    return dspy.LM(f"emoprompt/{managed.name}", engine=TransformEngine(managed, transform, loop), cache=False)


def run_program_experiment(program: Any, examples: Sequence[Any], metric: Callable[[Any, Any], Any],
                           backend: Backend | ManagedBackend,
                           conditions: dict[str, ConditionLike] | Sequence[str], run_dir: str | Path,
                           control: str | None = None, task: str = "dspy") -> Path:
    """Run `program` on every example under every condition; score with the DSPy `metric`; write a run folder.

    `conditions`: names in the condition grammar (`["baseline", "PL01", "EP02"]`), or name → condition. The control
    defaults to the first placebo condition (PL01, ...), else the first. A prediction DSPy could not parse is a
    parse failure (score 0, `parsed` false), as in every emoprompt run; any other exception is an error cell. One
    engine per condition, all on one event loop thread that is stopped at the end; the manifest ends `complete`."""
    require("dspy", "dspy")
    import dspy

    managed = _managed(backend)
    run_dir = Path(run_dir)
    specs: dict[str, ConditionLike] = (dict(conditions) if isinstance(conditions, dict)
                                       else {str(name): str(name) for name in conditions})
    if not specs:
        raise UsageError("run_program_experiment needs at least one condition, e.g. ['baseline', 'PL01', 'EP02']")
    names = list(specs)
    defaults = call_defaults()
    parsed = {name: parse_condition(spec, defaults) for name, spec in specs.items()}
    control = control or next((n for n in names if parsed[n].family == "placebo"), names[0])
    loop = EventLoopThread()
    engines = {name: TransformEngine(managed, parsed[name].transform, loop) for name in names}
    lms = {name: dspy.LM(f"emoprompt/{managed.name}", engine=engines[name], cache=False) for name in names}
    baseline = next((n for n in names if parsed[n].family == "baseline"), names[0])
    store = RunStore(run_dir)
    store.open()
    try:
        manifest = Manifest(
            run_id=run_dir.name, kind="dspy", experiment={"name": task, "suite": "dspy"},
            conditions=[ConditionInfo(n, parsed[n].family, parsed[n].transform.identity()) for n in names],
            control=control, analysis=AnalysisPlan(baseline=baseline, control=control),
            identity={"models": {managed.name: managed.identity}},
            started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        store.write_manifest(manifest)
        written = errors = 0
        for index, example in enumerate(examples):
            input_hash = hashlib.sha256(str(example.inputs()).encode()).hexdigest()[:16]
            for name in names:
                record = _example_record(program, example, metric, lms[name], managed.name, task, index, name,
                                         parsed[name].family, input_hash, dspy)
                store.append(record)
                written, errors = written + 1, errors + (record.error is not None)
        store.write_manifest(manifest.replace(status="complete", records=written, errors=errors, cells=written,
                                              finished=dt.datetime.now(dt.UTC).isoformat(timespec="seconds")))
    finally:
        store.close()
        loop.run(managed.close())
        loop.close()
    return run_dir


def _example_record(program: Any, example: Any, metric: Callable[[Any, Any], Any], lm: Any, model: str, task: str,
                    index: int, condition: str, family: str, input_hash: str, dspy: Any) -> Record:
    """One example under one condition; a failed example is an error cell, never a wrong answer."""
    base = Record(key=f"{index}:{condition}", model=model, task=task, sample_id=str(index), condition=condition,
                  family=family, input_hash=input_hash)
    from dspy.utils.exceptions import AdapterParseError

    try:
        with dspy.context(lm=lm):
            prediction = program(**example.inputs())
        value = float(metric(example, prediction))
    except AdapterParseError as exc:  # the model answered, in a form DSPy could not read: a parse failure
        return base.replace(response=truncate(str(getattr(exc, "lm_response", "") or "")), score=0.0, correct=False,
                            parsed=False)
    except Exception as exc:
        return base.replace(error=ErrorInfo(type(exc).__name__, truncate(str(exc))))
    return base.replace(response=str(prediction), score=value, correct=value >= 1.0, parsed=True)
