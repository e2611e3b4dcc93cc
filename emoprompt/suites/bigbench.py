"""BIG-Bench JSON tasks (`<task>/task.json`, subtasks in subfolders), rendered with the task's own prefixes."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError
from emoprompt.suites.suite import Sample

PAPER_TASKS = (
    "causal_judgment", "disambiguation_qa", "dyck_languages", "epistemic_reasoning",
    "gender_inclusive_sentences_german", "implicatures", "linguistics_puzzles", "logical_fallacy_detection",
    "movie_recommendation", "navigate", "object_counting", "operators", "presuppositions_as_nli",
    "question_selection", "ruin_names", "snarks", "sports_understanding", "tense", "winowhy", "word_sorting",
    "word_unscrambling",
)
"""The 21 tasks of EmotionPrompt/NegativePrompt (NegativePrompt's data/bigbench folder, REFERENCE.md §1.5)."""


@dataclass(frozen=True)
class BigBenchTask:
    """One BIG-Bench task as emoprompt uses it."""

    name: str
    instruction: str
    samples: tuple[Sample, ...]
    preferred_score: str
    random_baseline: float
    """The preferred metric's expected score under uniform random guessing (0 for exact_str_match)."""

    @property
    def scorer(self) -> str:
        """The emoprompt scorer for the task's preferred metric."""
        return "choice_text" if self.preferred_score == "multiple_choice_grade" else "bigbench_exact"


def discover(folder: Path) -> list[str]:
    """Every task folder (and `task/subtask` folder) under `folder` that holds a task.json."""
    names = []
    for path in sorted(folder.rglob("task.json")):
        relative = path.parent.relative_to(folder).as_posix()
        if relative != ".":
            names.append(relative)
    return names


def load_bigbench_task(folder: Path, name: str) -> BigBenchTask:
    """Read `<folder>/<name>/task.json`."""
    path = folder / name / "task.json"
    if not path.is_file():
        raise UsageError(f"no BIG-Bench task {name!r} in {folder} (no {path.name}); check --task and --data-dir")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UsageError(f"{path} is not valid JSON; check the file") from None
    examples = data.get("examples")
    if not isinstance(examples, list) or not examples:
        raise UsageError(f"{path} has no examples (a task with only subtasks? give task/subtask)")
    preferred = data.get("preferred_score") or (data.get("metrics") or ["exact_str_match"])[0]
    input_prefix = data.get("example_input_prefix", "\nQ: ")
    output_prefix = data.get("example_output_prefix", "\nA: ")
    choice_prefix = data.get("choice_prefix", "\n  choice: ")
    append_choices = data.get("append_choices_to_input", True)
    samples, baselines = [], []
    for index, example in enumerate(examples):
        scores = _target_scores(example.get("target_scores"), path, index)
        choices = tuple(scores) if scores else ()
        if scores and preferred == "multiple_choice_grade":
            best = max(scores.values())
            targets = tuple(c for c, s in scores.items() if s == best and s > 0)
            baselines.append(sum(scores.values()) / len(scores))
        else:
            target = example.get("target", [])
            targets = tuple(str(t) for t in (target if isinstance(target, list) else [target]))
        text = input_prefix + str(example["input"])
        if choices and append_choices:
            text += "".join(choice_prefix + c for c in choices)
        samples.append(Sample(str(example.get("_id", index)), text + output_prefix, targets, choices))
    random_baseline = sum(baselines) / len(baselines) if baselines else 0.0
    return BigBenchTask(name.replace("/", ":"), str(data.get("task_prefix", "")), tuple(samples), preferred,
                        random_baseline)


def _target_scores(raw: Any, path: Path, index: int) -> dict[str, float] | None:
    """target_scores as a dict; some task files store it as the text of a dict literal."""
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            raw = ast.literal_eval(raw)  # literals only: never executes anything
        except (ValueError, SyntaxError):
            raise UsageError(f"{path}: example {index} has unreadable target_scores") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: example {index} target_scores is not a mapping")
    return {str(k): float(v) for k, v in raw.items()}


def normalized_score(raw: float, random_baseline: float) -> float:
    """BIG-Bench's normalized preferred score: 0 = random guessing, 100 = perfect."""
    if random_baseline >= 1:
        return float("nan")
    return 100 * (raw - random_baseline) / (1 - random_baseline)
