"""The `lm-eval` importer: lm-evaluation-harness `--output_path DIR --log_samples` folders, one run per condition.

Each folder holds `results_<date>.json` and `samples_<task>_<date>.jsonl` files (possibly one level down, in a
folder named after the model). Items pair by task and `doc_id`; a sample's score is the task's own per-sample
metric — the first of its `metrics` (the task's `metric_list`; `--metric NAME` reads another), on the first
filter. The condition is the
`condition` model argument of runs made with `python -m emoprompt.integrations.lm_eval`, else the folder's name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError
from emoprompt.identity import stable_hash
from emoprompt.importers.base import Imported, ImportOptions
from emoprompt.schema import Record


def import_lm_eval(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """Records of every sample of every task of every lm-eval output folder in `paths`."""
    records: list[Record] = []
    for folder in map(Path, paths):
        results = sorted(folder.rglob("results_*.json"))
        if not results:
            raise UsageError(f"{folder}: no lm-eval results_*.json; give the --output_path of an lm-eval run made "
                             "with --log_samples")
        summary = _read_json(results[-1])
        condition = _condition(summary, folder)
        condition = options.rename.get(condition, condition)
        model = str(summary.get("model_name") or (summary.get("config") or {}).get("model") or "model")
        stamp = results[-1].stem.removeprefix("results_")
        for task in (summary.get("results") or {}):
            samples = [p for p in results[-1].parent.glob(f"samples_{task}_*.jsonl") if p.stem.endswith(stamp)]
            if not samples:
                samples = sorted(results[-1].parent.glob(f"samples_{task}_*.jsonl"))[-1:]
            if not samples:
                continue  # a group's aggregate row, or a run without --log_samples
            records += _task_records(samples[0], task, model, condition, options.settings.get("metric"))
    if not records:
        raise UsageError(f"no lm-eval samples in {', '.join(map(str, paths))}; run lm-eval with --log_samples")
    return Imported(records, ", ".join(map(str, paths)), options.baseline, options.control)


def _condition(summary: dict[str, Any], folder: Path) -> str:
    arguments = (summary.get("config") or {}).get("model_args")
    if isinstance(arguments, str):
        arguments = dict(part.split("=", 1) for part in arguments.split(",") if "=" in part)
    if isinstance(arguments, dict) and arguments.get("condition"):
        return str(arguments["condition"])
    return folder.name


def _task_records(path: Path, task: str, model: str, condition: str, chosen: str | None) -> list[Record]:
    records, first_filter = [], None
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                sample = json.loads(line)
            except ValueError:
                raise UsageError(f"{path}:{number}: not a JSON sample; fix or delete that line") from None
            first_filter = first_filter or sample.get("filter")
            if sample.get("filter") != first_filter:
                continue
            metric = chosen or (sample.get("metrics") or [None])[0]
            value = sample.get(metric) if metric else None
            if isinstance(value, bool):
                value = float(value)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise UsageError(f"{path}:{number}: sample {sample.get('doc_id')} has no numeric {metric!r}; this "
                                 "task's metric is not a per-sample score")
            item = str(sample.get("doc_id"))
            response = sample.get("filtered_resps")
            records.append(Record(
                key=stable_hash({"model": model, "task": task, "item": item, "condition": condition}, 24),
                model=model, task=task, sample_id=item, condition=condition, score=float(value),
                correct=float(value) >= 1.0, parsed=True,
                response=str(response[0]) if isinstance(response, list) and response else None,
                target=[str(sample.get("target"))], metadata={"metric": metric, "filter": first_filter,
                                                                "source": str(path)}))
    return records


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"{path} is not JSON; give the folder of an lm-eval run") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not an lm-eval results file")
    return data
