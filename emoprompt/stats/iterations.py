"""Feedback loops (HEART): accuracy after each attempt, paired against the neutral loop and the single shot."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

from emoprompt.schema import Record
from emoprompt.stats.multiplicity import holm
from emoprompt.stats.paired import paired_difference

NEUTRAL_LOOP = "heart-neutral"


def iteration_analysis(records: Iterable[Record], baseline: str, alpha: float = 0.05) -> dict[str, Any]:
    """Per model: accuracy@k curves, paired contrasts at each k, mean iterations and tokens per item.

    An item that stopped early (its answer was judged correct) keeps its last answer at later k, so @k is the
    accuracy of a loop allowed at most k attempts. Items are averaged over repeats before testing.
    """
    by_model: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        if record.error is None:
            by_model[record.model].append(record)
    result = {}
    for model, rows in by_model.items():
        loops = sorted({r.condition for r in rows if r.attempt_scores})
        if not loops:
            continue
        depth = max(len(r.attempt_scores) for r in rows if r.attempt_scores)
        scores = _scores_at(rows, depth)
        curves = [_curve(condition, rows, scores, depth) for condition in loops]
        found = [_contrast(scores, condition, control, k, alpha)
                 for condition in loops for control in (NEUTRAL_LOOP, baseline)
                 if control != condition and control in scores for k in range(1, depth + 1)]
        contrasts = [c for c in found if c is not None]
        for contrast, p_holm in zip(contrasts, holm([c["p_value"] for c in contrasts]), strict=True):
            contrast["p_holm"] = p_holm
        costs = [_cost(condition, rows) for condition in sorted({r.condition for r in rows})]
        verifiers = sorted({r.verifier for r in rows if r.verifier})
        result[model] = {"max_iters": depth, "verifiers": verifiers, "curves": curves, "contrasts": contrasts,
                         "costs": costs}
    return result


def _scores_at(rows: list[Record], depth: int) -> dict[str, dict[tuple[str, str], list[list[float]]]]:
    """condition → item → per repeat, the score at k = 1..depth (single-shot conditions: constant)."""
    table: dict[str, dict[tuple[str, str], list[list[float]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        attempts = r.attempt_scores or [r.score or 0.0]
        table[r.condition][(r.task, r.sample_id)].append(
            [float(attempts[min(k, len(attempts)) - 1]) for k in range(1, depth + 1)])
    return table


def _item_means(scores: dict[tuple[str, str], list[list[float]]], k: int) -> dict[tuple[str, str], float]:
    return {item: float(np.mean([repeat[k - 1] for repeat in repeats])) for item, repeats in scores.items()}


def _curve(condition: str, rows: list[Record], scores: dict[str, Any], depth: int) -> dict[str, Any]:
    own = [r for r in rows if r.condition == condition]
    return {
        "condition": condition,
        "accuracy_at": [float(np.mean(list(_item_means(scores[condition], k).values()))) for k in range(1, depth + 1)],
        "final": float(np.mean([r.score for r in own])),
        "mean_attempts": float(np.mean([len(r.attempt_scores or ()) for r in own])),
        "verifier": own[0].verifier,
    }


def _contrast(scores: dict[str, Any], condition: str, control: str, k: int, alpha: float) -> dict[str, Any] | None:
    treated, untreated = _item_means(scores[condition], k), _item_means(scores[control], k)
    items = sorted(set(treated) & set(untreated))
    if len(items) < 2:
        return None
    repeats = max(len(v) for v in scores[condition].values())
    result = paired_difference(np.array([treated[i] for i in items]), np.array([untreated[i] for i in items]),
                               repeats, alpha)
    return {"condition": condition, "control": control, "k": k, **result.to_dict()}


def _cost(condition: str, rows: list[Record]) -> dict[str, Any]:
    own = [r for r in rows if r.condition == condition]
    return {"condition": condition, "items": len(own),
            "mean_calls": float(np.mean([r.n_calls for r in own])),
            "mean_tokens_in": float(np.mean([r.tokens_in or 0 for r in own])),
            "mean_tokens_out": float(np.mean([r.tokens_out or 0 for r in own]))}
