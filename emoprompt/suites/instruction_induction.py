"""Instruction Induction (Honovich et al. 2022) samples, built as NegativePrompt's released code builds them.

REFERENCE.md §2.4: cause_and_effect shows both sentences in a seeded random order and the cause is gold;
common_concept joins the items with ", " without the last item (as the released loader does) and every
`all_common_concepts` entry is gold; rhymes accept `other_rhymes`; translations accept
`possible_translations`; word_in_context also accepts `possible_outputs`. Other tasks use input/output.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError
from emoprompt.suites.suite import Sample


def load_ii_samples(folder: Path, task: str, split: str, id_prefix: str) -> tuple[Sample, ...]:
    """Samples of one task from `<folder>/raw/<split>/<task>.json` (split: execute = test, induce = demos)."""
    if split not in ("execute", "induce"):
        raise UsageError(f"Instruction Induction split must be execute or induce, not {split!r}")
    path = folder / "raw" / split / f"{task}.json"
    if not path.is_file():
        raise UsageError(f"no Instruction Induction file {path}; check the task name and --data-dir")
    try:
        examples = json.loads(path.read_text(encoding="utf-8"))["examples"]
    except (json.JSONDecodeError, KeyError, UnicodeDecodeError):
        raise UsageError(f"{path} is not an Instruction Induction file (no 'examples'); check --data-dir") from None
    return tuple(_sample(task, key, example, f"{id_prefix}{key}") for key, example in examples.items())


def _sample(task: str, key: str, example: dict[str, Any], sample_id: str) -> Sample:
    if task == "cause_and_effect":
        cause, effect = example["cause"], example["effect"]
        first, second = (cause, effect) if random.Random(f"{task}:{key}").random() < 0.5 else (effect, cause)
        return Sample(sample_id, f"Sentence 1: {first} Sentence 2: {second}", (cause,))
    if task == "common_concept":
        items = example["items"]
        return Sample(sample_id, ", ".join(items[:-1]), _unique([example["concept"], *example["all_common_concepts"]]))
    output = str(example["output"])
    extra: list[str] = []
    if task == "rhymes":
        extra = example.get("other_rhymes", [])
    elif task.startswith("translation_"):
        extra = example.get("possible_translations", [])
    elif task == "word_in_context":
        extra = example.get("possible_outputs", [])
    return Sample(sample_id, str(example["input"]), _unique([output, *map(str, extra)]))


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))
