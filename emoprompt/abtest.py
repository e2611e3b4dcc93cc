"""A/B tests of prompt conditions on an application's real traffic.

Each call is assigned a condition (seeded: balanced, weighted, or sticky per user key), the transform is applied,
and the condition, a hash of the input, the output and the latency are recorded to a run folder in the records
format. Outcomes arrive with the call (`scorer=`) or later (`emoprompt.record_outcome(call_id, score)`).
Each record is appended and flushed before the call returns (microseconds), so SIGTERM, `os._exit` or a crash of
the service loses none; a failing recorder logs one warning and lets the call proceed. `emoprompt ab status
RUN_DIR` may be asked at any time (anytime-valid confidence sequences, so looking every day does not inflate
false alarms); `emoprompt report RUN_DIR` writes the report.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import itertools
import json
import logging
import math
import os
import random
import threading
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from emoprompt.conditions import parse_condition
from emoprompt.decorator import (
    ConditionLike,
    PromptSlot,
    call_defaults,
    response_text,
    transform_call,
    wrap_function,
)
from emoprompt.errors import UsageError
from emoprompt.runner.store import MANIFEST, RECORDS, cut_torn_tail
from emoprompt.safe_files import open_private, private_dir, scrub, write_json_atomic
from emoprompt.schema import AnalysisPlan, ConditionInfo, ErrorInfo, Manifest, Record
from emoprompt.secrets import truncate

OUTCOMES = "outcomes.jsonl"
ASSIGNMENTS = ("balanced", "weighted", "sticky")
log = logging.getLogger("emoprompt")
_current_call: contextvars.ContextVar[str | None] = contextvars.ContextVar("emoprompt_call_id", default=None)
_open_tests: weakref.WeakValueDictionary[str, ABTest] = weakref.WeakValueDictionary()
"""Live tests by id, so `record_outcome(call_id, score)` finds the folder a call was recorded in."""


class _Recorder:
    """Appends JSON lines synchronously, each flushed to the operating system before the call returns, so a record
    survives whatever stops the service next — SIGTERM, `os._exit`, a crash (a few microseconds a call:
    benchmarks/ab_recording.py). Failures become one warning, never an exception; a torn last line left by a
    killed process is cut before the first append."""

    def __init__(self, folder: Path, warned: bool = False) -> None:
        self.folder = folder
        self._warned = warned
        """Set once the one warning has been given (also when the test could not open its folder)."""
        self._files: dict[str, Any] = {}
        self._lock = threading.Lock()
        _live_recorders.add(self)

    def put(self, file_name: str, row: dict[str, Any]) -> None:
        """Append `row` to `file_name` in the folder, now."""
        try:
            line = scrub(json.dumps(row, ensure_ascii=False, default=str)) + "\n"
            with self._lock:
                handle = self._files.get(file_name)
                if handle is None:
                    path = self.folder / file_name
                    cut_torn_tail(path)
                    handle = self._files[file_name] = open_private(path)
                handle.write(line)
                handle.flush()
        except Exception as exc:  # recording must never break the application
            if not self._warned:
                log.warning("emoprompt A/B recording to %s failed (%s); calls continue unrecorded",
                            self.folder, exc)
                self._warned = True

    def close(self) -> None:
        """Close the files (everything is written already)."""
        with self._lock:
            for handle in self._files.values():
                with contextlib.suppress(OSError):
                    handle.close()
            self._files.clear()
        _live_recorders.discard(self)

    def _after_fork(self) -> None:
        """In a forked child: a fresh lock (the parent's may have been held), the same appended files."""
        self._lock = threading.Lock()


_live_recorders: weakref.WeakSet[_Recorder] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for recorder in list(_live_recorders):
        recorder._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


class ABTest:
    """Decorator and context manager that assigns, applies and records prompt conditions per call."""

    def __init__(self, conditions: dict[str, ConditionLike] | Sequence[str], run_dir: str | Path,
                 assignment: str = "balanced", weights: Sequence[float] | None = None,
                 user_key: str | Callable[..., Any] | None = None, seed: int = 0,
                 scorer: Callable[[str], float] | None = None, prompt: str | None = None,
                 placement: str = "after_instruction", separator: str = "space", model: str = "app",
                 sequential: bool = True, alpha: float = 0.05, delta: float = 0.02, n_planned: int = 10_000) -> None:
        specs = dict(conditions) if isinstance(conditions, dict) else {name: name for name in conditions}
        if len(specs) < 2:
            raise UsageError("an A/B test needs at least two conditions, e.g. {'baseline': [], 'EP02': 'EP02'}")
        if assignment not in ASSIGNMENTS:
            raise UsageError(f"assignment must be one of {', '.join(ASSIGNMENTS)}, not {assignment!r}")
        if assignment == "weighted" and (weights is None or len(weights) != len(specs) or min(weights) < 0):
            raise UsageError("weighted assignment needs one non-negative weight per condition")
        if assignment == "sticky" and user_key is None:
            raise UsageError("sticky assignment needs user_key (an argument name or a function of the call)")
        self.names = list(specs)
        defaults = call_defaults(placement, separator)
        self.conditions = {name: parse_condition(spec, defaults) for name, spec in specs.items()}
        self.assignment, self.weights, self.user_key, self.seed = assignment, weights, user_key, seed
        self.scorer, self.prompt, self.model = scorer, prompt, model
        if not 0 < alpha < 1 or delta <= 0 or n_planned < 1:
            raise UsageError("alpha must be in (0, 1), delta positive and n_planned 1 or more")
        share = dict(zip(self.names, weights, strict=True)) if assignment == "weighted" and weights else \
            dict.fromkeys(self.names, 1.0)
        self.sequential_design = {"enabled": sequential, "alpha": alpha, "delta": delta, "n_planned": n_planned,
                                  "weights": share}
        """How `emoprompt ab status` reads this test: anytime-valid sequences at `alpha`, equivalence within
        ±`delta`, tightest near `n_planned` outcomes, and the design's expected shares."""
        self.run_dir = Path(run_dir)
        self.id = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._counter = itertools.count()
        self._block: list[str] = []
        self._rng = random.Random(seed)
        self._recorder: _Recorder | None = None
        self._open()

    def _open(self) -> None:
        warned = False
        try:
            private_dir(self.run_dir)
            if not (self.run_dir / MANIFEST).is_file():
                manifest = Manifest(
                    run_id=self.run_dir.name, kind="ab",
                    experiment={"name": f"ab-{self.run_dir.name}", "suite": "application traffic"},
                    conditions=[ConditionInfo(name, "baseline" if i == 0 else self.conditions[name].family,
                                              self.conditions[name].transform.identity())
                                for i, name in enumerate(self.names)],
                    control=self.names[0], analysis=AnalysisPlan(baseline=self.names[0], control=self.names[0]),
                    assignment=self.assignment, seed=self.seed, metadata={"sequential": self.sequential_design},
                    started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
                write_json_atomic(self.run_dir / MANIFEST, manifest.to_dict())
        except OSError as exc:
            log.warning("emoprompt A/B cannot write to %s (%s); calls continue unrecorded", self.run_dir, exc)
            warned = True
        self._recorder = _Recorder(self.run_dir, warned)
        _open_tests[self.id] = self

    def assign(self, user: Any = None) -> str:
        """The condition for the next call (seeded; thread-safe)."""
        if self.assignment == "sticky":
            digest = hashlib.sha256(f"{self.seed}:{user}".encode()).digest()
            return self.names[int.from_bytes(digest[:8], "big") % len(self.names)]
        with self._lock:
            if self.assignment == "weighted":
                assert self.weights is not None
                return self._rng.choices(self.names, weights=self.weights)[0]
            if not self._block:  # balanced: a seeded shuffle of every condition, block after block
                self._block = list(self.names)
                self._rng.shuffle(self._block)
            return self._block.pop()

    def _user(self, slot: PromptSlot, args: tuple, kwargs: dict[str, Any]) -> Any:
        if callable(self.user_key):
            return self.user_key(*args, **kwargs)
        if self.user_key is None:
            return None
        bound = slot.signature.bind_partial(*args, **kwargs)
        return bound.arguments.get(self.user_key, kwargs.get(self.user_key))

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Use as a decorator: every call of `function` takes part in the test."""
        slot = PromptSlot(function, self.prompt)

        async def around(prompt: Any, call: Callable[[Any], Awaitable[Any]], prepared: tuple[str, str]) -> Any:
            condition, call_id = prepared
            started = time.perf_counter()
            try:
                response = await transform_call(self.conditions[condition].transform, prompt, call)
            except Exception as exc:
                self._finish(call_id, condition, prompt, None, started, exc)
                raise
            self._finish(call_id, condition, prompt, response, started, None)
            return response

        return wrap_function(function, slot, around, lambda args, kwargs: self._begin(slot, args, kwargs))

    def _begin(self, slot: PromptSlot, args: tuple, kwargs: dict[str, Any]) -> tuple[str, str]:
        condition = self.assign(self._user(slot, args, kwargs))
        call_id = f"{self.id}-{next(self._counter)}-{uuid.uuid4().hex[:8]}"
        _current_call.set(call_id)
        return condition, call_id

    def _finish(self, call_id: str, condition: str, prompt: Any, response: Any, started: float,
                error: Exception | None) -> None:
        try:
            text = readable_text(response)
            score = float(self.scorer(text)) if self.scorer and text is not None else None
            if score is not None and not math.isfinite(score):
                raise ValueError(f"the scorer returned {score}, not a finite number")
            record = Record(
                key=call_id, call_id=call_id, model=self.model, task="app", sample_id=call_id,
                input_hash=hashlib.sha256(repr(prompt).encode("utf-8", "surrogatepass")).hexdigest()[:16],
                condition=condition, family=self.conditions[condition].family, response=text, score=score,
                correct=None if score is None else score >= 1.0, parsed=None if text is None else True,
                error=None if error is None else ErrorInfo(type(error).__name__, truncate(str(error))),
                latency_s=round(time.perf_counter() - started, 4),
                time=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"))
            assert self._recorder is not None
            self._recorder.put(RECORDS, record.to_dict())
        except Exception as exc:  # scoring or recording must never break the call
            log.warning("emoprompt A/B could not record call %s (%s)", call_id, exc)

    def record_outcome(self, call_id: str, score: float) -> None:
        """Attach an outcome (a finite score) to a recorded call."""
        value = float(score)
        if not math.isfinite(value):
            raise UsageError(f"an outcome must be a finite number, not {score!r}")
        assert self._recorder is not None
        self._recorder.put(OUTCOMES, {"call_id": call_id, "score": value,
                                      "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")})

    def close(self) -> None:
        """Write everything still queued."""
        if self._recorder is not None:
            self._recorder.close()

    def __enter__(self) -> ABTest:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def readable_text(response: Any) -> str | None:
    """The text of a response when it has one (a string, an OpenAI/litellm response), else None: a call whose
    return value is not text is still recorded."""
    if response is None:
        return None
    try:
        return response_text(response)
    except (TypeError, KeyError, IndexError, AttributeError):
        return None


def ab(conditions: dict[str, ConditionLike] | Sequence[str], run_dir: str | Path, **options: Any) -> ABTest:
    """An A/B test of prompt conditions (see ABTest): `@emoprompt.ab({...}, "results/ab")` or `with ... as test:`."""
    return ABTest(conditions, run_dir, **options)


def current_call_id() -> str | None:
    """The id of the most recent A/B call in this thread or task."""
    return _current_call.get()


def record_outcome(call_id: str, score: float) -> None:
    """Attach an outcome to an A/B call recorded by a live test in this process."""
    test = _open_tests.get(call_id.split("-", 1)[0])
    if test is None:
        log.warning("emoprompt: no open A/B test for call %s; outcome dropped", call_id)
        return
    test.record_outcome(call_id, score)


def read_outcomes(run_dir: Path) -> dict[str, float]:
    """Outcomes by call id (the latest one wins); a bad line stops with one line naming the file and line."""
    path = run_dir / OUTCOMES
    outcomes: dict[str, float] = {}
    if not path.is_file():
        return outcomes
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                break
            try:
                row = json.loads(raw)
                call_id, score = row["call_id"], float(row["score"])
                if not isinstance(call_id, str) or not math.isfinite(score):
                    raise ValueError
            except (ValueError, TypeError, KeyError, RecursionError):
                raise UsageError(f"{path}:{number}: not an outcome ({{call_id, score}}); fix or delete that line"
                                 ) from None
            outcomes[call_id] = score
    return outcomes
