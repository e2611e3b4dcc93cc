"""The `promptfoo` importer: the JSON that `promptfoo eval -o results.json` writes (prompts × test cases × providers).

Each result is one (prompt, test case, provider, repeat). The prompt (its label, else its template as written, not
the text rendered for one test) is the condition. The test case (its vars and description, as promptfoo defines
it) is the item, so the copies that `--repeat N` makes, each with a new `testIdx`, are repeats of one item, not new
items. The provider (its label, else its id) is the model; the config's `description` is the task (else
`promptfoo`). The score is promptfoo's pass rate by default (1 for a passed test case, 0 for a failed one;
`--metric pass`), or with `--metric score` the result's graded score (the mean of its assertions' scores,
promptfoo's "score" column), or with `--metric NAME` one of its named scores. A provider error (`response.error`, or
`failureReason` 2) is an error row. Per prompt and provider, promptfoo's own pass count or total score is checked
against the imported rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emoprompt.chat import token_count
from emoprompt.errors import UsageError
from emoprompt.identity import stable_hash
from emoprompt.importers.base import HarnessAggregate, Imported, ImportOptions
from emoprompt.schema import ErrorInfo, Record

METRICS = ("pass", "score")


def import_promptfoo(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """Records of every result in promptfoo output files."""
    metric = str(options.settings.get("metric") or "pass")
    imported = Imported([], ", ".join(map(str, paths)), options.baseline, options.control)
    for path in map(Path, paths):
        data, results, task = _results(path)
        items: dict[str, str] = {}
        repeats: dict[tuple[str, str, str], int] = {}
        templates = _templates(data)
        for index, result in enumerate(results):
            record = _record(result, index, path, task, metric, items, templates)
            cell = (record.model, record.condition, record.sample_id)
            repeats[cell] = repeats.get(cell, -1) + 1
            imported.records.append(record.replace(
                repeat=repeats[cell], key=stable_hash({"model": record.model, "task": task, "item": record.sample_id,
                                                       "condition": record.condition, "repeat": repeats[cell]}, 24)))
        imported.aggregates += _aggregates(data, task, metric)
        copies = max(repeats.values(), default=0) + 1
        imported.notes.append(
            f"promptfoo ({path.name}): {'pass rate (1 passed, 0 failed)' if metric == 'pass' else metric} per test "
            f"case; items are test cases (vars and description), {len(items)} of them"
            + (f", each run {copies} times (repeats)" if copies > 1 else "") + "; conditions are prompt labels, models "
            "provider labels (else ids).")
    if not imported.records:
        raise UsageError(f"no promptfoo results in {', '.join(map(str, paths))}")
    return imported


def _results(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """The output file's data, its results, and the task they belong to: the config's description, else
    `promptfoo`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        raise UsageError(f"{path}: not a promptfoo JSON output; write one with promptfoo eval -o results.json"
                         ) from None
    results = data.get("results") if isinstance(data, dict) else None
    if isinstance(results, dict):
        results = results.get("results")
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise UsageError(f"{path}: no list of results (results.results); is it promptfoo's JSON output?")
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    return data, results, str(config.get("description") or "promptfoo")


def _item(result: dict[str, Any], items: dict[str, str]) -> str:
    """The test case's item id: the `testIdx` of its first result, shared by its repeats."""
    case: dict[str, Any] = result["testCase"] if isinstance(result.get("testCase"), dict) else {}
    content = json.dumps({"vars": case.get("vars", result.get("vars")), "description": case.get("description")},
                         sort_keys=True, default=str)
    first = result.get("testIdx")
    return items.setdefault(content, str(first) if first is not None else str(len(items)))


def _templates(data: dict[str, Any]) -> dict[int, str]:
    """promptIdx → the prompt as written (its label, else its template), from the output's `prompts` list."""
    results: dict[str, Any] = data["results"] if isinstance(data.get("results"), dict) else {}
    return {index: str(prompt.get("label") or prompt.get("raw")) for index, prompt in
            enumerate(results.get("prompts") or []) if isinstance(prompt, dict) and (prompt.get("label") or
                                                                                     prompt.get("raw"))}


def _record(result: dict[str, Any], index: int, path: Path, task: str, metric: str, items: dict[str, str],
            templates: dict[int, str]) -> Record:
    prompt = result.get("prompt") or {}
    condition = str(prompt.get("label") or templates.get(result.get("promptIdx"))  # type: ignore[arg-type]
                    or prompt.get("raw") or f"prompt {result.get('promptIdx', '?')}")
    item = _item(result, items)
    provider = result.get("provider")
    if isinstance(provider, dict):
        model = str(provider.get("label") or provider.get("id") or "provider")
    else:
        model = str(provider or "provider")
    response: dict[str, Any] = result["response"] if isinstance(result.get("response"), dict) else {}
    error = response.get("error") or (result.get("error") if result.get("failureReason") == 2 else None)
    output = response.get("output")
    usage: dict[str, Any] = response["tokenUsage"] if isinstance(response.get("tokenUsage"), dict) else {}
    base = Record(key="", model=model, task=task, sample_id=item, condition=condition,
                  response=output if isinstance(output, str) else None,
                  metadata={"source": str(path), "testIdx": result.get("testIdx"), "metric": metric},
                  tokens_in=token_count(usage.get("prompt")), tokens_out=token_count(usage.get("completion")))
    if error:
        return base.replace(error=ErrorInfo("promptfoo_error", str(error)[:300]))
    score = _score(result, metric, path, index)
    return base.replace(score=score, correct=bool(result.get("success")), parsed=True)


def _score(result: dict[str, Any], metric: str, path: Path, index: int) -> float:
    if metric == "pass":
        return 1.0 if result.get("success") else 0.0
    if metric == "score":
        value = result.get("score")
    else:
        named: dict[str, Any] = result["namedScores"] if isinstance(result.get("namedScores"), dict) else {}
        if metric not in named:
            raise UsageError(f"{path}: --metric {metric!r} is not pass, score or a named score of promptfoo's "
                             f"results (named here: {', '.join(named) or 'none'})")
        value = named[metric]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise UsageError(f"{path}: result {index} has a {metric} that is not a finite number ({value!r})")
    return float(value)


def _aggregates(data: dict[str, Any], task: str, metric: str) -> list[HarnessAggregate]:
    """promptfoo's own summary per prompt and provider: the pass rate, or the mean score, over tests that ran."""
    results: dict[str, Any] = data["results"] if isinstance(data.get("results"), dict) else {}
    aggregates = []
    for prompt in results.get("prompts") or []:
        metrics = prompt.get("metrics") if isinstance(prompt, dict) else None
        if not isinstance(metrics, dict) or metric not in METRICS:
            continue
        ran = int(metrics.get("testPassCount") or 0) + int(metrics.get("testFailCount") or 0)
        if not ran:
            continue
        total = metrics.get("testPassCount") if metric == "pass" else metrics.get("score")
        if not isinstance(total, int | float):
            continue
        condition = str(prompt.get("label") or prompt.get("raw"))
        name = "pass rate (testPassCount / tests)" if metric == "pass" else "mean score (score / tests)"
        aggregates.append(HarnessAggregate(condition, float(total) / ran, name, str(prompt.get("provider")), task))
    return aggregates
