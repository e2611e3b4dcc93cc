"""The `lm-eval` importer: lm-evaluation-harness `--output_path DIR --log_samples` folders, one run per condition.

Each folder holds `results_<date>.json` and `samples_<task>_<date>.jsonl` files (possibly one level down, in a
folder named after the model). Items pair by (task, `doc_id`), the task being the samples file's exact task name;
groups are read as their subtasks, never as tasks of their own. A sample's score is the task's own per-sample
metric on one filter, as lm-eval reports it under `metric,filter`: by default the first of the samples' `metrics`
(the task's `metric_list`) on the task's first filter; `--metric NAME` or `--metric NAME,FILTER` reads another. The
condition is the `condition` model argument of runs made with `python -m emoprompt.integrations.lm_eval`, else the
folder's name (or, with `--conditions-from task`, the task: see `emoprompt.importers.mapping`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError
from emoprompt.identity import stable_hash
from emoprompt.importers.base import HarnessAggregate, Imported, ImportOptions
from emoprompt.schema import Record

_SAMPLES_NAME = re.compile(r"samples_(?P<task>.+)_(?P<stamp>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.jsonl")


def import_lm_eval(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """Records of every sample of every task of every lm-eval output folder in `paths`."""
    metric, chosen_filter = _chosen(options.settings.get("metric"))
    imported = Imported([], ", ".join(map(str, paths)), options.baseline, options.control)
    read: dict[str, tuple[str, str, list[str]]] = {}
    groups: dict[str, list[str]] = {}
    for folder in map(Path, paths):
        results = sorted(folder.rglob("results_*.json"))
        if not results:
            raise UsageError(f"{folder}: no lm-eval results_*.json; give the --output_path of an lm-eval run made "
                             "with --log_samples")
        summary = _read_json(results[-1])
        condition = _condition(summary, folder)
        model = str(summary.get("model_name") or (summary.get("config") or {}).get("model") or "model")
        stamp = results[-1].stem.removeprefix("results_")
        samples = _samples_files(results[-1].parent, stamp)
        run_groups = _groups(summary)
        groups.update(run_groups)
        for task in summary.get("results") or {}:
            if task in run_groups:
                continue  # a group's aggregate: its subtasks are read instead
            if task not in samples:
                continue  # a run without --log_samples for this task
            records, used = _task_records(samples[task], task, model, condition, metric, chosen_filter)
            imported.records += records
            read[task] = used
            harness = ((summary.get("results") or {}).get(task) or {}).get(f"{used[0]},{used[1]}")
            if isinstance(harness, int | float) and not isinstance(harness, bool):
                imported.aggregates.append(HarnessAggregate(condition, float(harness), f"{used[0]},{used[1]}",
                                                            model, task))
    if not imported.records:
        raise UsageError(f"no lm-eval samples in {', '.join(map(str, paths))}; run lm-eval with --log_samples")
    imported.notes += _read_notes(read, groups)
    return imported


def _chosen(option: Any) -> tuple[str | None, str | None]:
    """`--metric NAME` or `--metric NAME,FILTER`."""
    if not option:
        return None, None
    name, _, chosen_filter = str(option).partition(",")
    return name.strip() or None, chosen_filter.strip() or None


def _samples_files(folder: Path, stamp: str) -> dict[str, Path]:
    """Task → its samples file in `folder`, by the file name's exact task (the results file's own stamp first)."""
    found: dict[str, Path] = {}
    for path in sorted(folder.glob("samples_*.jsonl")):
        match = _SAMPLES_NAME.fullmatch(path.name)
        if match is None:
            continue
        task = match["task"]
        if task not in found or match["stamp"] == stamp:
            found[task] = path
    return found


def _groups(summary: dict[str, Any]) -> dict[str, list[str]]:
    subtasks = summary.get("group_subtasks") or {}
    groups = {str(name): [str(t) for t in tasks] for name, tasks in subtasks.items() if tasks}
    for name in summary.get("groups") or {}:
        groups.setdefault(str(name), [])
    return groups


def _condition(summary: dict[str, Any], folder: Path) -> str:
    arguments = (summary.get("config") or {}).get("model_args")
    if isinstance(arguments, str):
        arguments = dict(part.split("=", 1) for part in arguments.split(",") if "=" in part)
    if isinstance(arguments, dict) and arguments.get("condition"):
        return str(arguments["condition"])
    return folder.name


def _task_records(path: Path, task: str, model: str, condition: str, chosen_metric: str | None,
                  chosen_filter: str | None) -> tuple[list[Record], tuple[str, str, list[str]]]:
    """The records of one samples file on one (metric, filter), and which (metric, filter, every filter) it read."""
    samples = _samples(path)
    filters = list(dict.fromkeys(str(s.get("filter") or "none") for s in samples.values()))
    use_filter = chosen_filter or filters[0]
    if use_filter not in filters:
        raise UsageError(f"{path}: task {task} has no filter {use_filter!r}; it has {', '.join(filters)} "
                         f"(--metric METRIC,FILTER)")
    records = []
    for number, sample in samples.items():
        if str(sample.get("filter") or "none") != use_filter:
            continue
        metric = chosen_metric or (sample.get("metrics") or [None])[0]
        value = sample.get(metric) if metric else None
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, int | float) or not math.isfinite(value):
            numeric = [m for m in (sample.get("metrics") or []) if isinstance(sample.get(m), int | float)]
            raise UsageError(f"{path}:{number}: sample {sample.get('doc_id')} has no numeric {metric!r}; per-sample "
                             f"metrics here: {', '.join(numeric) or 'none'} (--metric NAME,FILTER)")
        item = str(sample.get("doc_id"))
        response = sample.get("filtered_resps")
        raw = sample.get("resps")
        records.append(Record(
            key=stable_hash({"model": model, "task": task, "item": item, "condition": condition}, 24),
            model=model, task=task, sample_id=item, condition=condition, score=float(value),
            correct=float(value) >= 1.0, parsed=True,
            response=_first_text(raw) if raw is not None else _first_text(response),
            target=[str(sample.get("target"))],
            metadata={"metric": metric, "filter": use_filter, "filtered": _first_text(response), "source": str(path),
                      "doc_hash": sample.get("doc_hash")}))
    metric_used = str((records[0].metadata or {})["metric"]) if records else str(chosen_metric)
    return records, (metric_used, use_filter, filters)


def _samples(path: Path) -> dict[int, dict[str, Any]]:
    samples = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                samples[number] = json.loads(line)
            except ValueError:
                raise UsageError(f"{path}:{number}: not a JSON sample; fix or delete that line") from None
    if not samples:
        raise UsageError(f"{path} holds no samples; rerun lm-eval with --log_samples")
    return samples


def _first_text(value: Any) -> str | None:
    while isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def _read_notes(read: dict[str, tuple[str, str, list[str]]], groups: dict[str, list[str]]) -> list[str]:
    """What was read, in words: the metric and filter of each task (and the other filters there were), the pairing
    key, the groups read as their subtasks."""
    by_choice: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    for task, (metric, used_filter, filters) in read.items():
        others = tuple(f for f in filters if f != used_filter)
        by_choice.setdefault((metric, used_filter, others), []).append(task)
    notes = []
    for (metric, used_filter, others), tasks in by_choice.items():
        also = (f" (the logs also have filter {', '.join(others)}: --metric {metric},{others[0]} reads it)"
                if others else "")
        notes.append(f"lm-eval: metric {metric} on filter {used_filter} for {', '.join(sorted(tasks))}{also}.")
    notes.append("Items are paired by lm-eval's (task, doc_id).")
    for group, subtasks in groups.items():
        notes.append(f"lm-eval group {group} is read as its subtasks ({', '.join(subtasks) or 'none logged'}), "
                     "not as a task of its own.")
    return notes


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"{path} is not JSON; give the folder of an lm-eval run") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not an lm-eval results file")
    return data
