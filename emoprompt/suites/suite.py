"""Suites, tasks and samples."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from emoprompt.chat import Query
from emoprompt.errors import UsageError, unknown_name


@dataclass(frozen=True)
class Sample:
    """One item: an input, its acceptable target(s), its choices for multiple-choice tasks, and the item's own
    rewordings of its input by name (a data set that rewrote each question per condition, as Mind Your Tone's
    per-question tone rewrites; the `rewrite:NAME` condition sends one)."""

    id: str
    input: str
    targets: tuple[str, ...]
    choices: tuple[str, ...] = ()
    rewrites: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Task:
    """A task: samples, the instruction that introduces them, how to render and how to score."""

    name: str
    instruction: str
    samples: tuple[Sample, ...]
    scorer: str = "normalized_exact"
    template: str = "instruction-induction"
    shots: int = 0
    demo_pool: tuple[Sample, ...] = ()
    system: str | None = None
    info: tuple[tuple[str, Any], ...] = ()
    """Facts about the task the analysis may use (BIG-Bench: preferred_score, random_baseline)."""

    def query(self, sample: Sample, demos: tuple[Sample, ...] = ()) -> Query:
        """The structured query for one sample."""
        return Query(
            input=sample.input,
            instruction=self.instruction,
            demos=tuple((d.input, d.targets[0]) for d in demos),
            system=self.system,
            rewrites=sample.rewrites,
        )

    def fingerprint(self) -> str:
        """A hash of everything about the task that reaches the model or the scorer."""
        payload = {
            "name": self.name, "instruction": self.instruction, "scorer": self.scorer,
            "template": self.template, "shots": self.shots, "system": self.system,
            "samples": [[s.id, s.input, list(s.targets), list(s.choices), *([dict(s.rewrites)] if s.rewrites else [])]
                        for s in self.samples],
            "info": [list(pair) for pair in self.info],
            "demo_pool": [[s.id, s.input, list(s.targets)] for s in self.demo_pool],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Suite:
    """A named set of tasks."""

    name: str
    tasks: tuple[Task, ...]
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    default_tasks: tuple[str, ...] = ()
    """Tasks run when none are named (all when empty)."""

    def task(self, name: str) -> Task:
        """A task by name, with a suggestion for unknown names."""
        for task in self.tasks:
            if task.name == name:
                return task
        raise unknown_name(f"task of suite {self.name!r}", name, [t.name for t in self.tasks])

    def select(self, names: list[str] | tuple[str, ...]) -> Suite:
        """The suite restricted to `names` (the default tasks, else all, when empty)."""
        names = names or self.default_tasks
        if not names:
            return self
        return Suite(self.name, tuple(self.task(n) for n in names), self.description, self.metadata)


MAX_INPUT_CHARS = 1_000_000


def check_samples(task_name: str, samples: tuple[Sample, ...]) -> tuple[Sample, ...]:
    """Reject an empty task, duplicate sample ids and inputs too large to be a prompt."""
    if not samples:
        raise UsageError(f"task {task_name!r} has no samples; check its source")
    seen: set[str] = set()
    for sample in samples:
        if len(sample.input) > MAX_INPUT_CHARS:
            raise UsageError(f"task {task_name!r}, sample {sample.id!r} has a {len(sample.input) / 1e6:.1f} MB input; "
                             f"inputs over {MAX_INPUT_CHARS // 1_000_000} MB are refused: shorten or drop it")
        if sample.id in seen:
            raise UsageError(f"task {task_name!r} has duplicate sample id {sample.id!r}; make ids unique")
        if not sample.targets:
            raise UsageError(f"task {task_name!r}, sample {sample.id!r} has no target; add one")
        seen.add(sample.id)
    return samples
