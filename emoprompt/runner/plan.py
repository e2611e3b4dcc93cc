"""Turn an experiment into concrete cells, each with a key that identifies what the model sees."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from emoprompt.backends import Backend, resolve_backend
from emoprompt.errors import UsageError
from emoprompt.runner.experiment import Condition, Experiment, stable_hash
from emoprompt.suites.loader import load_suite, pick_demos
from emoprompt.suites.suite import Sample, Suite, Task


@dataclass(frozen=True)
class Cell:
    """One (model, task, sample, condition, repeat)."""

    key: str
    model: str
    task: Task
    sample: Sample
    demos: tuple[Sample, ...]
    condition: Condition
    repeat: int


@dataclass
class RunPlan:
    """An experiment made concrete: its suite, conditions, backends, cells and identity hash."""

    experiment: Experiment
    suite: Suite
    conditions: list[Condition]
    control: str
    backends: dict[str, Backend]
    cells: list[Cell]
    experiment_hash: str

    def identity(self) -> dict[str, Any]:
        """Everything that defines the run's outputs (hashed into `experiment_hash`)."""
        return _identity(self.experiment, self.suite, self.conditions, self.backends)


def build_plan(experiment: Experiment, backends: dict[str, Backend] | None = None,
               backend_options: dict[str, Any] | None = None) -> RunPlan:
    """Load the suite, resolve conditions and backends, and lay out every cell in run order.

    `backend_options` (timeout_s, max_retries, backoff_s) change how requests are made, never their output,
    so they are not part of the experiment.
    """
    suite = with_shots(load_suite(experiment.suite).select(experiment.tasks), experiment.shots)
    conditions = experiment.resolve_conditions()
    control = experiment.control_condition(conditions)
    if backends is None:
        backends = {m: resolve_backend(m, experiment.api_base, engine_args=experiment.engine_args,
                                       **(backend_options or {}))
                    for m in dict.fromkeys(experiment.models)}
    samples = {task.name: limited(task, experiment.limit, experiment.seed) for task in suite.tasks}
    identity = _identity(experiment, suite, conditions, backends)
    cells = list(_cells(experiment, suite, samples, conditions, backends))
    return RunPlan(experiment, suite, conditions, control, backends, cells, stable_hash(identity))


def with_shots(suite: Suite, shots: int | None) -> Suite:
    """The suite with every task's number of demonstrations set to `shots` (unchanged when None)."""
    if shots is None:
        return suite
    tasks = []
    for task in suite.tasks:
        pool = task.demo_pool or (task.samples if shots else ())
        if shots and len(pool) <= shots:
            raise UsageError(f"task {task.name!r} has {len(pool)} demonstrations; {shots} shots need more")
        tasks.append(dataclasses.replace(task, shots=shots, demo_pool=pool))
    return dataclasses.replace(suite, tasks=tuple(tasks))


def limited(task: Task, limit: int | None, seed: int) -> tuple[Sample, ...]:
    """The task's samples, or a seeded subset of `limit` of them in their original order."""
    if limit is None or limit >= len(task.samples):
        return task.samples
    chosen = set(random.Random(f"limit:{task.name}:{seed}").sample(range(len(task.samples)), limit))
    return tuple(s for i, s in enumerate(task.samples) if i in chosen)


def _identity(experiment: Experiment, suite: Suite, conditions: list[Condition],
              backends: dict[str, Backend]) -> dict[str, Any]:
    return {
        "models": {name: backend.identity() for name, backend in backends.items()},
        "tasks": {t.name: t.fingerprint() for t in suite.tasks},
        "task_info": {t.name: dict(t.info) for t in suite.tasks if t.info},
        "conditions": {c.name: c.transform.identity() for c in conditions},
        "limit": experiment.limit, "repeats": experiment.repeats, "seed": experiment.seed,
        "generation": experiment.generation.identity(),
    }


def _cells(experiment: Experiment, suite: Suite, samples: dict[str, tuple[Sample, ...]],
           conditions: list[Condition], backends: dict[str, Backend]) -> Iterator[Cell]:
    """Cells ordered item by item, with the conditions of each item in a seeded random order.

    Every stretch of time then holds every condition, so drift (an API silently changing, a machine
    slowing down) is not confounded with condition.
    """
    longest = max(len(s) for s in samples.values())
    generation = experiment.generation.identity()
    fingerprints = {task.name: task.fingerprint() for task in suite.tasks}  # hashes every sample: once per task
    identities = {condition.name: condition.transform.identity() for condition in conditions}
    for model in dict.fromkeys(experiment.models):
        model_identity = backends[model].identity()
        for repeat in range(experiment.repeats):
            for index in range(longest):
                for task in suite.tasks:
                    if index >= len(samples[task.name]):
                        continue
                    sample = samples[task.name][index]
                    demos = pick_demos(task, sample.id, experiment.seed)
                    order = list(conditions)
                    random.Random(f"order:{model}:{repeat}:{task.name}:{sample.id}:{experiment.seed}").shuffle(order)
                    for condition in order:
                        key = stable_hash({
                            "model": model_identity, "task": fingerprints[task.name], "sample": sample.id,
                            "demos": [d.id for d in demos], "condition": identities[condition.name],
                            "repeat": repeat, "generation": generation,
                        }, length=24)
                        yield Cell(key, model, task, sample, demos, condition, repeat)
