"""The analysis of a run with one condition, in pure Python: what `emoprompt.stats.analysis.analyze` gives for it,
without pandas, NumPy or SciPy.

With one condition nothing is compared, so the analysis only describes: per condition its cells, errors, accuracy,
parse failures, output length and usage; per task its accuracy; the paper-style average over tasks. Such runs (a
baseline measurement, a model's first look at a suite, a load test) then write their report without the second or
so that importing the analysis stack takes on a small machine. A test keeps `describe` equal to `analyze`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from emoprompt.schema import Record
from emoprompt.stats.scale import Scale
from emoprompt.stats.spec import AnalysisSpec, data_warnings, json_safe, missing_control_warning
from emoprompt.summary import as_number
from emoprompt.usage import usage

if TYPE_CHECKING:
    from emoprompt.runner.plan import RunPlan


def describes(plan: RunPlan) -> bool:
    """Whether `describe` will report this plan's records: one condition in one wording. (A single feedback loop
    is the exception that its records reveal: its report takes the full analysis.)"""
    return len(plan.conditions) == 1 and not plan.wordings


def describe(records: Sequence[Record], spec: AnalysisSpec) -> dict[str, Any] | None:
    """`analyze`'s result for the records of a run with one condition; None for any other records (more than one
    condition or wording, feedback loops, duplicate cells), which need the full analysis."""
    conditions = list(dict.fromkeys(record.condition for record in records))
    if len(conditions) != 1 or (spec.conditions and list(spec.conditions) != conditions):
        return None
    if any(record.attempt_scores for record in records):
        return None
    if len({record.paraphrase for record in records if record.paraphrase is not None}) > 1:
        return None
    if len({(r.model, r.task, r.sample_id, r.condition, r.repeat) for r in records}) != len(records):
        return None
    condition = conditions[0]
    valid = [record for record in records if record.error is None]
    declared = spec.repeats or max(1, len({record.repeat for record in valid}))
    scores = [as_number(record.score) for record in valid]
    treatments = [name for name in conditions if name not in (spec.control, spec.baseline)]
    errors = len(records) - len(valid)
    warnings = data_warnings(errors, spec.control, conditions)
    by_model: dict[str, list[Record]] = {}
    for record in records:
        by_model.setdefault(record.model, []).append(record)
    models = {model: _describe_model(model, rows, condition, spec, warnings) for model, rows in by_model.items()}
    error_kinds = Counter(record.error.kind for record in records if record.error is not None)
    return json_safe({
        "spec": {**asdict(spec), "conditions": conditions, "treatments": treatments, "repeats": declared},
        "data": {"records": len(records), "errors": errors, "models": list(models), "K": declared,
                 "wordings": 1, "repeats_declared": declared,
                 "binary_scores": bool(valid) and all(score in (0.0, 1.0) for score in scores),
                 "scale": Scale.of_values(scores).to_dict(), "confidence": 1 - spec.alpha,
                 "tasks": sorted({record.task for record in records}),
                 "error_kinds": dict(error_kinds.most_common())},
        "warnings": warnings,
        "models": models,
    })


def _describe_model(model: str, rows: list[Record], condition: str, spec: AnalysisSpec, warnings: list[str]
                    ) -> dict[str, Any]:
    item_scores: dict[str, dict[str, list[float]]] = {}
    for record in rows:
        if record.error is None:
            item_scores.setdefault(record.task, {}).setdefault(record.sample_id, []).append(as_number(record.score))
    task_items = {task: [_mean(values) for values in items.values()] for task, items in item_scores.items()}
    tasks = sorted(task_items)
    task_means = {task: _mean(task_items[task]) for task in tasks}
    compared = [task for task in tasks if task_means[task] == task_means[task]] if condition == spec.control else []
    missing = [task for task in tasks if task not in compared]
    if missing and spec.control == condition:
        warnings.append(missing_control_warning(model, spec.control, missing))
    return {
        "conditions": [_condition_row(rows, condition, spec)],
        "confounds": [], "primary": None, "generic": None, "pooled": [], "per_task": [],
        "tasks_compared": compared,
        "heatmap": {task: {condition: task_means[task]} for task in tasks},
        "aggregate": _aggregate([task_means[task] for task in compared], compared, condition, spec),
        "usage": [row.to_dict() for row in usage(rows, [condition])],
        "gate_open": True,
    }


def _condition_row(rows: list[Record], condition: str, spec: AnalysisSpec) -> dict[str, Any]:
    valid = [record for record in rows if record.error is None]
    nan = math.nan
    return {"condition": condition, "family": spec.families.get(condition, ""), "cells": len(rows),
            "errors": len(rows) - len(valid),
            "accuracy": _mean([as_number(record.score) for record in valid]) if valid else nan,
            "parse_failure_rate": sum(record.parsed is False for record in valid) / len(valid) if valid else nan,
            "mean_tokens_out": _mean([as_number(record.tokens_out) for record in valid]) if valid else nan}


def _aggregate(scores: list[float], tasks: list[str], condition: str, spec: AnalysisSpec) -> list[dict[str, Any]]:
    """The paper-style row: the average over tasks of per-task scores (BIG-Bench: normalized scores too); against
    a baseline that did not run, its difference is empty."""
    if not scores:
        return []
    from emoprompt.suites.bigbench import normalized_score

    normalized = [normalized_score(score, float(spec.task_info[task]["random_baseline"]))
                  for task, score in zip(tasks, scores, strict=True)
                  if "random_baseline" in (spec.task_info.get(task) or {})]
    row: dict[str, Any] = {"condition": condition, "tasks": len(scores), "mean_score": math.fsum(scores) / len(scores),
                           "mean_normalized": math.fsum(normalized) / len(normalized) if normalized else None}
    if condition != spec.baseline:
        row["vs_baseline"] = {"diff": None, "ci_low": None, "ci_high": None, "relative": None}
    return [row]


def _mean(values: list[float]) -> float:
    """The mean of the numbers that are not NaN (NaN when there are none), as pandas takes it."""
    present = [value for value in values if value == value]
    return math.fsum(present) / len(present) if present else math.nan
