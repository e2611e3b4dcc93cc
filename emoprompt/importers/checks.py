"""What every import goes through before it is written: the user's mapping of variants and renames, then checks that
the records say what the harness said — its own aggregates reproduced, items that pair, answers that were not
reused between conditions — each named in the report rather than left silent."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from emoprompt.errors import UsageError
from emoprompt.importers.base import HarnessAggregate, Imported, ImportOptions
from emoprompt.importers.mapping import conditions_from, unify_prefixed_models

SAME_AGGREGATE = 1e-6
REUSED_MIN_ITEMS = 10
"""Identical responses under two conditions on at least this many shared items (all of them) are flagged."""


def settle(imported: Imported, options: ImportOptions) -> Imported:
    """Apply `--conditions-from`/`--pair`, provider-prefix model names and `--rename`; then check the harness's
    aggregates, the pairing and reused answers, adding notes and warnings. Raises when nothing pairs."""
    source = options.settings.get("conditions_from")
    if source:
        conditions_from(imported, str(source), list(options.settings.get("pairs") or ()))
    elif options.settings.get("pairs"):
        raise UsageError("--pair goes with --conditions-from task (or model)")
    unify_prefixed_models(imported)
    rename_conditions(imported, options.rename)
    imported.notes.append(aggregate_note(imported))
    check_pairing(imported)
    flag_reused_answers(imported)
    imported.notes = [n for n in imported.notes if n]
    return imported


def rename_conditions(imported: Imported, renames: dict[str, str]) -> None:
    """`--rename OLD=NEW`; an OLD that is no condition (and whose NEW is none either) is refused, naming them."""
    conditions = set(r.condition for r in imported.records)
    for old, new in renames.items():
        if old not in conditions and new not in conditions:
            raise UsageError(f"--rename {old}={new}: no condition {old!r}; the conditions are "
                             f"{', '.join(sorted(conditions)[:10])}")
    if renames:
        imported.records = [r.replace(condition=renames[r.condition]) if r.condition in renames else r
                            for r in imported.records]
        imported.aggregates = [HarnessAggregate(renames.get(a.condition, a.condition), a.value, a.name, a.model,
                                                a.task) for a in imported.aggregates]
        for role in ("baseline", "control"):
            name = getattr(imported, role)
            if name in renames:
                setattr(imported, role, renames[name])


def aggregate_comparisons(imported: Imported) -> list[dict[str, Any]]:
    """Each harness aggregate beside the mean of the imported scores it summarises."""
    scores: dict[tuple[str, str | None, str | None], list[float]] = defaultdict(list)
    for record in imported.records:
        if record.score is None or record.error is not None:
            continue
        for model in (record.model, None):
            for task in (record.task, None):
                scores[(record.condition, model, task)].append(record.score)
    rows = []
    for aggregate in imported.aggregates:
        values = scores.get((aggregate.condition, aggregate.model, aggregate.task))
        ours = sum(values) / len(values) if values else None
        rows.append({"condition": aggregate.condition, "model": aggregate.model, "task": aggregate.task,
                     "name": aggregate.name, "harness": aggregate.value, "emoprompt": ours,
                     "equal": ours is not None and math.isclose(ours, aggregate.value, abs_tol=SAME_AGGREGATE)})
    return rows


def aggregate_note(imported: Imported) -> str:
    """The harness's aggregates beside emoprompt's, in words; each mismatch also becomes a warning naming both."""
    rows = aggregate_comparisons(imported)
    if not rows:
        return ""
    for row in rows:
        if not row["equal"]:
            where = " ".join(str(row[k]) for k in ("model", "task") if row[k])
            ours = "no scores" if row["emoprompt"] is None else f"{row['emoprompt']:.6g}"
            imported.warnings.append(f"The harness's own {row['name']} for {row['condition']}"
                                     f"{' on ' + where if where else ''} is {row['harness']:.6g}, but the imported "
                                     f"scores average {ours}: they do not describe the same thing.")
    several_models = len({r["model"] for r in rows}) > 1
    shown = "; ".join(f"{r['condition']}{' ' + r['task'] if r['task'] else ''}"
                      f"{' (' + str(r['model']) + ')' if several_models else ''}: {r['harness']:.4g} vs "
                      f"{'–' if r['emoprompt'] is None else format(r['emoprompt'], '.4g')}" for r in rows[:8])
    more = f"; and {len(rows) - 8} more" if len(rows) > 8 else ""
    equal = sum(r["equal"] for r in rows)
    return (f"The harness's own aggregates beside the imported scores' means ({rows[0]['name']}; harness vs "
            f"emoprompt): {shown}{more} — {equal} of {len(rows)} equal.")


def check_pairing(imported: Imported) -> None:
    """Items present in some conditions only are counted and named; when no item is in two conditions of one model
    and task the import is refused, with examples of each side's keys."""
    keys: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for record in imported.records:
        keys[record.condition].add((record.model, record.task, record.sample_id))
    if len(keys) < 2:
        return
    everything = set().union(*keys.values())
    shared = [k for k in everything if sum(k in held for held in keys.values()) >= 2]
    if not shared:
        sides = "; ".join(f"{c}: {', '.join(_key_text(k) for k in sorted(held)[:2])}" for c, held in keys.items())
        raise UsageError(f"nothing pairs: no (model, task, item) is in two conditions ({sides}); map the variants "
                         "with --conditions-from task --pair A=B, rename models, or import matching runs")
    for condition, held in keys.items():
        missing = sorted(everything - held)
        if missing:
            imported.warnings.append(f"{condition} lacks {len(missing)} of {len(everything)} (model, task, item) "
                                     f"keys the other conditions have (e.g. {', '.join(map(_key_text, missing[:3]))});"
                                     " those items are compared only where present.")


def _key_text(key: tuple[str, str, str]) -> str:
    model, task, item = key
    return f"{model}/{task}/{item}"


def flag_reused_answers(imported: Imported) -> None:
    """Two conditions that gave the very same response on every shared item (at least REUSED_MIN_ITEMS) look like
    answers reused from a cache shared between them, not generated under each condition."""
    responses: dict[tuple[str, str], dict[tuple[str, str, int], str]] = defaultdict(dict)
    for record in imported.records:
        if record.response is not None and record.error is None:
            responses[(record.model, record.condition)][(record.task, record.sample_id, record.repeat)] = \
                record.response
    by_model: dict[str, list[str]] = defaultdict(list)
    for model, condition in responses:
        by_model[model].append(condition)
    for model, conditions in by_model.items():
        for index, first in enumerate(conditions):
            for second in conditions[index + 1:]:
                a, b = responses[(model, first)], responses[(model, second)]
                shared = set(a) & set(b)
                if len(shared) >= REUSED_MIN_ITEMS and all(a[k] == b[k] for k in shared):
                    imported.warnings.append(
                        f"{first} and {second} gave identical responses on all {len(shared)} shared items of "
                        f"{model}: answers reused from a cache shared between conditions (such as lm-eval's "
                        "--use_cache) look like this, and no comparison of them means anything; rerun without the "
                        "shared cache (python -m emoprompt.integrations.lm_eval keeps one per condition).")
