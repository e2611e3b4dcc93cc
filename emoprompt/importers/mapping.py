"""Where an imported run keeps its prompt variants: harnesses express them as conditions, as separately named tasks
(lm-eval's usual way) or as models/providers (promptfoo labels, model strings that differ only by a provider prefix).
These functions turn each into emoprompt's one shape, conditions of shared items, and say what they did.

`--conditions-from task` makes each task a condition. `--pair` says which tasks are variants of one another:
`--pair arith_terse=arith_polite` (those tasks, the conditions named as the tasks, the shared task named by their
common prefix) or `--pair 'arith_*'` (every task the pattern matches; the condition is the part `*` matched, the
task the pattern without it). Without `--pair` every task is a variant of one task. `--conditions-from model` does
the same with models (promptfoo providers, model strings).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from emoprompt.errors import UsageError
from emoprompt.importers.base import HarnessAggregate, Imported
from emoprompt.schema import Record

SOURCES = ("task", "model")


def conditions_from(imported: Imported, source: str, pairs: Sequence[str]) -> None:
    """Make each task (or model) a condition of a shared task (or model), as `pairs` group them."""
    if source not in SOURCES:
        raise UsageError(f"--conditions-from {source!r}: choose task or model")
    originals = sorted({r.condition for r in imported.records})
    if len(originals) > 1:
        raise UsageError(f"--conditions-from {source} reads one condition's {source}s as conditions, but the records "
                         f"have conditions {', '.join(originals[:4])}; import one of them, or leave the option out")
    names = list(dict.fromkeys(getattr(r, source) for r in imported.records))
    mapping = variant_mapping(names, pairs, source)
    kept = []
    for record in imported.records:
        shared, condition = mapping.get(getattr(record, source), (None, None))
        if shared is not None and condition is not None:
            kept.append(record.replace(condition=condition, **{source: shared}))
    left_out = [n for n in names if n not in mapping]
    imported.records = kept
    imported.aggregates = [_moved(a, mapping, source) for a in imported.aggregates
                           if getattr(a, source) in mapping or (source == "task" and a.task is None)]
    shared_names = sorted({shared for shared, _ in mapping.values()})
    imported.notes.append(f"Conditions are the {source}s: " + "; ".join(
        f"{shared} has {', '.join(c for s, c in mapping.values() if s == shared)}" for shared in shared_names) + ".")
    if left_out:
        imported.warnings.append(f"{len(left_out)} {source}s are in no --pair and were left out: "
                                 f"{', '.join(left_out[:6])}.")


def variant_mapping(names: Sequence[str], pairs: Sequence[str], source: str) -> dict[str, tuple[str, str]]:
    """name → (shared name, condition) for every name some pair (or, with none, the whole list) takes in."""
    mapping: dict[str, tuple[str, str]] = {}
    for spec in pairs or ["=".join(names)]:
        if "*" in spec:
            head, _, tail = spec.partition("*")
            members = {n: n[len(head):len(n) - len(tail)] for n in names
                       if n.startswith(head) and n.endswith(tail) and len(n) > len(head) + len(tail)}
            shared = (head + tail).strip("_-. ") or spec
        else:
            listed = [part for part in spec.split("=") if part]
            missing = [part for part in listed if part not in names]
            if missing or len(listed) < 2:
                problem = f"no {source} {missing[0]!r}" if missing else "give two or more names joined by ="
                raise UsageError(f"--pair {spec!r}: {problem}; the {source}s are {', '.join(names[:8])}")
            members = {n: n for n in listed}
            shared = os.path.commonprefix(listed).strip("_-. ") or "=".join(listed)  # noqa: RUF071 (names, not paths)
        if len(members) < 2:
            raise UsageError(f"--pair {spec!r} matches {len(members)} {source}(s); it needs two or more of "
                             f"{', '.join(names[:8])}")
        for name, condition in members.items():
            mapping[name] = (shared, condition)
    return mapping


def _moved(aggregate: HarnessAggregate, mapping: dict[str, tuple[str, str]], source: str) -> HarnessAggregate:
    shared, condition = mapping.get(getattr(aggregate, source) or "", (getattr(aggregate, source), aggregate.condition))
    return HarnessAggregate(condition, aggregate.value, aggregate.name,
                            shared if source == "model" else aggregate.model,
                            shared if source == "task" else aggregate.task)


def unify_prefixed_models(imported: Imported) -> None:
    """Models that differ only by a provider prefix (`openai/fake` and `fake`), each in conditions the other is not
    in, are one model under the longer name (otherwise nothing would pair), with a note."""
    conditions: dict[str, set[str]] = {}
    for record in imported.records:
        conditions.setdefault(record.model, set()).add(record.condition)
    by_base: dict[str, list[str]] = {}
    for model in conditions:
        by_base.setdefault(model.rsplit("/", 1)[-1], []).append(model)
    renames: dict[str, str] = {}
    for models in by_base.values():
        if len(models) < 2:
            continue
        ran = [c for m in models for c in conditions[m]]
        if len(ran) != len(set(ran)):
            continue  # two of them ran one condition: they are models being compared, not one model
        longest = max(models, key=len)
        renames.update({m: longest for m in models if m != longest})
        imported.notes.append(f"Models {', '.join(sorted(models))} differ only by a provider prefix and ran different "
                              f"conditions; they are read as one model, {longest}.")
    if renames:
        imported.records = [_renamed_model(r, renames) for r in imported.records]
        imported.aggregates = [HarnessAggregate(a.condition, a.value, a.name, renames.get(a.model or "", a.model),
                                                a.task) for a in imported.aggregates]


def _renamed_model(record: Record, renames: dict[str, str]) -> Record:
    return record.replace(model=renames[record.model]) if record.model in renames else record
