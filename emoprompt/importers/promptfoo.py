"""The `promptfoo` importer: the JSON that `promptfoo eval -o results.json` writes (prompts × test cases).

Each result is one (prompt, test case, provider): the prompt (its label, else its raw text) is the condition, the
test case (`testIdx`, else the test's vars) is the item, the provider is the model, the config's `description` is
the task (else `promptfoo`), and the score is the result's
`score` (else 1 for success, 0 for failure). A failed assertion is a low score; a provider error (`response.error`,
or `failureReason` 2) is an error row. The layout read is promptfoo's documented output (`results.results[]`, also
accepted one level up).
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
from emoprompt.importers.base import Imported, ImportOptions
from emoprompt.schema import ErrorInfo, Record


def import_promptfoo(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """Records of every result in promptfoo output files."""
    records: list[Record] = []
    for path in map(Path, paths):
        results, task = _results(path)
        for index, result in enumerate(results):
            records.append(_record(result, index, path, task, options.rename))
    if not records:
        raise UsageError(f"no promptfoo results in {', '.join(map(str, paths))}")
    return Imported(records, ", ".join(map(str, paths)), options.baseline, options.control)


def _results(path: Path) -> tuple[list[dict[str, Any]], str]:
    """The results of one output file, and the task they belong to: the config's description, else `promptfoo`."""
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
    return results, str(config.get("description") or "promptfoo")


def _record(result: dict[str, Any], index: int, path: Path, task: str, rename: dict[str, str]) -> Record:
    prompt = result.get("prompt") or {}
    condition = str(prompt.get("label") or prompt.get("raw") or f"prompt {result.get('promptIdx', '?')}")
    condition = rename.get(condition, condition)
    item = str(result.get("testIdx") if result.get("testIdx") is not None else json.dumps(result.get("vars"),
                                                                                         sort_keys=True))
    provider = result.get("provider")
    model = str(provider.get("id") if isinstance(provider, dict) else provider or "provider")
    response: dict[str, Any] = result["response"] if isinstance(result.get("response"), dict) else {}
    error = response.get("error") or (result.get("error") if result.get("failureReason") == 2 else None)
    score = result.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float):
        score = 1.0 if result.get("success") else 0.0
    if not math.isfinite(float(score)):
        raise UsageError(f"{path}: result {index} has a score that is not a finite number ({score!r})")
    output = response.get("output")
    usage: dict[str, Any] = response["tokenUsage"] if isinstance(response.get("tokenUsage"), dict) else {}
    base = Record(key=stable_hash({"model": model, "task": task, "item": item, "condition": condition}, 24),
                  model=model, task=task, sample_id=item, condition=condition,
                  response=output if isinstance(output, str) else None, metadata={"source": str(path)},
                  tokens_in=token_count(usage.get("prompt")), tokens_out=token_count(usage.get("completion")))
    if error:
        return base.replace(error=ErrorInfo("promptfoo_error", str(error)[:300]))
    return base.replace(score=float(score), correct=bool(result.get("success")), parsed=True)
