"""inspect_ai under emoprompt conditions: a solver that applies any condition, and a helper that evaluates one task
under several conditions and writes the emoprompt report.

    from emoprompt.integrations.inspect import emoprompt_condition, evaluate

    Task(dataset=..., solver=[system_message(...), emoprompt_condition("EP02")], scorer=match())

    run = evaluate(my_task(), ["baseline", "PL01", "EP02", "heart"], model="openai/gpt-4o-mini")
    print(run.headline)

`emoprompt_condition(condition)` takes the place of `generate()`: it reads the conversation so far, applies the
condition (the one grammar: `EP02`, `EP02@system`, `PL01+EP02`, `heart`, ...) and calls the model through
inspect's own `generate` — once, or once per attempt of a feedback loop, whose oracle verifier is the sample's
target (override with `check`). The log's plan names the condition, so `emoprompt report --from inspect` knows it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError, require


def emoprompt_condition(condition: str = "baseline", placement: str = "after_instruction", separator: str = "space",
                        check: Callable[[str, list[str]], bool] | None = None) -> Any:
    """An inspect solver that answers under an emoprompt condition (use it instead of `generate()`).

    `check(answer, targets)` judges an attempt for feedback loops' oracle verifier; by default an answer is right
    when it equals a target after normalisation (case, spaces, punctuation at the ends).
    """
    require("inspect_ai", "inspect")
    from inspect_ai.solver import solver

    @solver(name="emoprompt_condition")
    def make(condition: str = condition, placement: str = placement, separator: str = separator) -> Any:
        return _ConditionSolver(condition, placement, separator, check or _normalized_match)

    return make(condition=condition, placement=placement, separator=separator)


class _ConditionSolver:
    """The solve function of `emoprompt_condition`."""

    def __init__(self, condition: str, placement: str, separator: str,
                 check: Callable[[str, list[str]], bool]) -> None:
        from emoprompt.conditions import parse_condition
        from emoprompt.decorator import call_defaults

        self.with_oracle = parse_condition(condition, call_defaults(placement, separator, has_oracle=True))
        self.without_oracle = parse_condition(condition, call_defaults(placement, separator, has_oracle=False))
        self.check = check

    async def __call__(self, state: Any, generate: Any) -> Any:
        from emoprompt.chat import Completion, GenerateConfig, Oracle
        from emoprompt.decorator import query_from_prompt

        targets = list(state.target.target) if state.target else []
        spec = self.with_oracle if targets else self.without_oracle
        query = query_from_prompt([{"role": m.role, "content": m.text} for m in state.messages])
        if targets:
            query = query.replace(oracle=Oracle(lambda text: self.check(text, targets)))
        start = GenerateConfig()
        finals: list[tuple[Completion, list[Any], Any]] = []

        async def call(query: Any, config: GenerateConfig) -> Completion:
            state.messages = _inspect_messages(query)
            changed = {"temperature": config.temperature} if config.temperature != start.temperature else {}
            answered = await generate(state, **changed)
            usage = answered.output.usage
            completion = Completion(answered.output.completion, str(answered.output.stop_reason or "stop"),
                                    usage.input_tokens if usage else None, usage.output_tokens if usage else None,
                                    served_model=answered.output.model or None)
            finals.append((completion, list(answered.messages), answered.output))
            return completion

        final = await spec.transform(query, start, call)
        chosen = next(((m, o) for c, m, o in reversed(finals) if c is final or c == final.replace(loop=None)), None)
        if chosen is not None:
            state.messages, state.output = chosen
        else:  # a vote chose among attempts: its text is the answer
            state.output.completion = final.text
        loop = final.loop
        state.metadata["emoprompt"] = {"condition": spec.name, "calls": len(finals),
                                       "attempts": list(loop.attempts) if loop else None,
                                       "feedback": list(loop.feedback) if loop else None}
        return state


def _inspect_messages(query: Any) -> list[Any]:
    from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser

    from emoprompt.suites.registry import get_template

    kinds = {"system": ChatMessageSystem, "user": ChatMessageUser, "assistant": ChatMessageAssistant}
    return [kinds[m.role](content=m.content) for m in get_template("raw").render(query)]


def _normalized_match(answer: str, targets: list[str]) -> bool:
    from emoprompt.suites.scorers import normalize

    return normalize(answer) in {normalize(t) for t in targets}


@dataclasses.dataclass
class InspectRun:
    """What `evaluate` wrote: inspect's logs, the emoprompt run folder made from them, and its report."""

    logs: list[Path]
    run_dir: Path
    report: dict[str, Path]
    headline: list[str]


def evaluate(task: Any, conditions: Sequence[str], model: str, out: str | Path = "results/inspect",
             model_base_url: str | None = None, before: Sequence[Any] = (), placement: str = "after_instruction",
             separator: str = "space", baseline: str | None = None, control: str | None = None,
             **eval_options: Any) -> InspectRun:
    """Evaluate one inspect task under each condition (one log each, in `out/logs`), import the logs as an
    emoprompt run folder (`out/run`) and write its report.

    The task's solver is replaced by `[*before, emoprompt_condition(c)]`; its dataset, scorer, epochs and config
    stay. `eval_options` go to `inspect_ai.eval` (`limit`, `epochs`, `max_connections`, `model_args`, ...). An
    `openai/...` model with a base URL (`model_base_url` or OPENAI_BASE_URL) uses chat completions
    (`responses_api=False`), which OpenAI-compatible servers answer. inspect's refusals to start (a missing API key)
    are raised as one-line errors rather than left silent.
    """
    require("inspect_ai", "inspect")
    import copy

    from inspect_ai import eval as inspect_eval
    from inspect_ai import task_with

    from emoprompt.conditions import parse_conditions
    from emoprompt.decorator import call_defaults
    from emoprompt.importers.base import ImportOptions
    from emoprompt.importers.inspect_logs import import_inspect
    from emoprompt.importers.writing import write_imported_run
    from emoprompt.report.runs import report_run

    if not conditions:
        raise UsageError("evaluate needs at least one condition, e.g. ['baseline', 'EP02']")
    parsed, notes = parse_conditions(list(conditions), call_defaults(placement, separator))
    for note in notes:
        warnings.warn(note, stacklevel=2)
    names = [condition.name for condition in parsed]
    out = Path(out)
    run_dir = out / "run"
    if run_dir.exists() and any(run_dir.iterdir()):
        raise UsageError(f"{run_dir} already holds a run; choose another out folder")
    tasks = [task_with(copy.copy(task), solver=[*before, emoprompt_condition(name, placement, separator)],
                       metadata={**(task.metadata or {}), "emoprompt_condition": name})
             for name in names]
    eval_options.setdefault("display", "none")
    if model.startswith("openai/") and (model_base_url or os.environ.get("OPENAI_BASE_URL")):
        # OpenAI-compatible servers (vLLM, gateways, loopback) answer chat completions, not /v1/responses
        eval_options["model_args"] = {"responses_api": False, **(eval_options.get("model_args") or {})}
    try:
        logs = inspect_eval(tasks, model=model, model_base_url=model_base_url, log_dir=str(out / "logs"),
                            **eval_options)
    except Exception as exc:  # inspect's own refusals (a missing API key, a bad model) print nothing under display=none
        if type(exc).__name__ != "PrerequisiteError":
            raise
        message = re.sub(r"\[/?[a-z ]+\]", "", str(exc)).replace("\n", " ").strip()
        raise UsageError(f"inspect_ai refused to start: {message} (for a local server any key will do, e.g. "
                         "OPENAI_API_KEY=EMPTY)") from None
    failed = [log for log in logs if log.status != "success"]
    if failed:
        error = failed[0].error.message if failed[0].error else failed[0].status
        raise UsageError(f"inspect did not finish {len(failed)} of {len(logs)} evals ({error}); see {out / 'logs'}")
    paths = [Path(log.location) for log in logs]
    imported = import_inspect(paths, ImportOptions(baseline=baseline, control=control))
    write_imported_run(imported, run_dir, "inspect")
    report = report_run(run_dir)
    headline = json.loads(report["analysis"].read_text())["headline"]
    return InspectRun(paths, run_dir, report, headline)
