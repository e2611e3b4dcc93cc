"""Turn an experiment into concrete cells, each with a key that identifies what the model sees."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoprompt.backends import Backend, BackendOptions, ManagedBackend, resolve_backend
from emoprompt.backends.managed import Budget
from emoprompt.chat import GenerateConfig
from emoprompt.conditions import Condition, parse_conditions, wording_notes
from emoprompt.errors import UsageError
from emoprompt.identity import stable_hash
from emoprompt.runner.experiment import Experiment
from emoprompt.runner.paraphrase_model import generate_paraphrases
from emoprompt.suites.loader import load_suite, pick_demos
from emoprompt.suites.paraphrase import SOURCES, Wording, read_paraphrase_file, task_wordings
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
    paraphrase: str | None = None
    """The wording's id (`p0`: the task as written) when the experiment crosses wordings, else None."""


@dataclass
class RunPlan:
    """An experiment made concrete: its suite, conditions, backends, cells and identity hash."""

    experiment: Experiment
    suite: Suite
    conditions: list[Condition]
    control: str
    backends: dict[str, ManagedBackend]
    cells: list[Cell]
    experiment_hash: str
    notes: list[str] = field(default_factory=list)
    """What a reader should know: merged duplicate conditions, answers that will not be cached."""
    data_dir: Path | None = None
    wordings: dict[str, list[Wording]] = field(default_factory=dict)
    """Per task, its wordings when the experiment crosses them (`paraphrases` > 1)."""

    fingerprints: dict[str, str] = field(default_factory=dict)
    """Per task, `Task.fingerprint()` (it hashes every sample, so it is taken once)."""
    budget: Budget | None = None
    """The spending cap every model of the run shares (`--max-cost`), if any."""
    experiment_cells: frozenset[str] = frozenset()
    """The keys of every cell of the experiment (a plan may run a subset of them: a search's round)."""
    _cacheable: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False)

    def identity(self) -> dict[str, Any]:
        """Everything that defines the run's outputs (hashed into `experiment_hash`)."""
        fingerprints = self.fingerprints or {task.name: task.fingerprint() for task in self.suite.tasks}
        return _identity(self.experiment, self.suite, self.conditions, self.backends, self.wordings, fingerprints)

    def cacheable(self, cell: Cell) -> bool:
        """Whether a cell's answers may come from and go to the response cache (decided once per model and
        condition: a transform's identity is hashed to tell)."""
        key = (cell.model, cell.condition.name)
        known = self._cacheable.get(key)
        if known is None:
            known = self._cacheable[key] = self.backends[cell.model].cacheable and cell.condition.transform.cacheable
        return known


def build_plan(experiment: Experiment, backends: Mapping[str, Backend] | None = None,
               options: BackendOptions | None = None, data_dir: Path | None = None) -> RunPlan:
    """Load the suite, resolve conditions and backends, and lay out every cell in run order.

    `backends` (model name → Backend) replaces resolving the experiment's model strings. `options` (timeouts,
    retries, concurrency) change how requests are made, never their output, so they are not part of the experiment.
    `data_dir` is where benchmark data lives (None: EMOPROMPT_DATA_DIR, else the user cache).
    """
    options = dataclasses.replace(options or BackendOptions(), api_base=experiment.api_base,
                                  engine_args=dict(experiment.engine_args))
    suite = load_suite(experiment.suite, data_dir, experiment.tasks).select(experiment.tasks)
    suite = with_shots(suite, experiment.shots)
    condition_defaults = experiment.condition_defaults()
    conditions, notes = parse_conditions(experiment.conditions, condition_defaults)
    notes += wording_notes(conditions, condition_defaults)
    control = experiment.control_condition(conditions)
    raw = dict(backends) if backends is not None else {
        model: resolve_backend(model, options) for model in dict.fromkeys(experiment.models)}
    missing = [model for model in experiment.models if model not in raw]
    if missing:
        raise UsageError(f"no backend given for model {missing[0]!r}; pass it in backends={{...}}")
    managed = {model: backend if isinstance(backend, ManagedBackend)
               else ManagedBackend(model, backend, options.max_retries, options.backoff_s, options.max_response_chars,
                                   options)
               for model, backend in raw.items() if model in experiment.models}
    budget = None
    if options.max_cost is not None:
        budget = Budget(options.max_cost)
        for backend in managed.values():
            backend.cap_spending(budget, batch=options.batch)
    notes += [f"model {m}: its identity cannot tell versions apart (code without readable source); its answers "
              "are not cached" for m, b in managed.items() if not b.cacheable]
    notes += [f"condition {c.name}: its transform's identity cannot tell versions apart (define identity()); its "
              "answers are not cached" for c in conditions if not c.transform.cacheable]
    samples = {task.name: limited(task, experiment.limit, experiment.seed) for task in suite.tasks}
    experiment, wordings = plan_wordings(experiment, suite, options, notes)
    fingerprints = {task.name: task.fingerprint() for task in suite.tasks}  # hashes every sample: once per task
    identity = _identity(experiment, suite, conditions, managed, wordings, fingerprints)
    cells = list(_cells(experiment, suite, samples, conditions, managed, wordings, fingerprints))
    return RunPlan(experiment, suite, conditions, control, managed, cells, stable_hash(identity), notes, data_dir,
                   wordings, fingerprints, budget, frozenset(cell.key for cell in cells))


def plan_wordings(experiment: Experiment, suite: Suite, options: BackendOptions, notes: list[str]
                  ) -> tuple[Experiment, dict[str, list[Wording]]]:
    """Each task's wordings (none when `paraphrases` is 1); rewordings a model writes are generated once and kept
    in the returned experiment."""
    if experiment.paraphrases == 1:
        return experiment, {}
    source, texts = experiment.paraphrase_source, experiment.paraphrase_texts
    if source.startswith("model:") and not texts:
        texts = generate_paraphrases(source.removeprefix("model:"), suite.tasks, experiment.paraphrases - 1,
                                     options)
        experiment = dataclasses.replace(experiment, paraphrase_texts=texts)
    elif source not in SOURCES and not source.startswith("model:"):
        texts = read_paraphrase_file(Path(source))
    return experiment, {task.name: task_wordings(task, experiment.paraphrases, source, experiment.seed, texts, notes)
                        for task in suite.tasks}


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


def repeat_config(config: GenerateConfig, repeat: int) -> GenerateConfig:
    """The generation settings of one repeat: with a seed, each repeat draws with its own seed derived from it
    (repeat 0 keeps the seed as given), so K repeats are K reproducible, distinct draws."""
    if config.seed is None or repeat == 0:
        return config
    derived = int(stable_hash({"seed": config.seed, "repeat": repeat}, length=8), 16) & 0x7FFFFFFF
    return dataclasses.replace(config, seed=derived)


def _identity(experiment: Experiment, suite: Suite, conditions: list[Condition],
              backends: Mapping[str, ManagedBackend], wordings: Mapping[str, list[Wording]],
              fingerprints: Mapping[str, str]) -> dict[str, Any]:
    crossed = {"wordings": {task: [w.identity() for w in ws] for task, ws in wordings.items()}} if wordings else {}
    return {**crossed,
        "models": {name: backend.identity for name, backend in backends.items()},
        "tasks": {t.name: fingerprints[t.name] for t in suite.tasks},
        "task_info": {t.name: dict(t.info) for t in suite.tasks if t.info},
        "conditions": {c.name: c.transform.identity() for c in conditions},
        "limit": experiment.limit, "repeats": experiment.repeats, "seed": experiment.seed,
        "generation": experiment.generation.identity(),
    }


def _cells(experiment: Experiment, suite: Suite, samples: dict[str, tuple[Sample, ...]],
           conditions: list[Condition], backends: Mapping[str, ManagedBackend],
           wordings: Mapping[str, list[Wording]], fingerprints: Mapping[str, str]) -> Iterator[Cell]:
    """Cells ordered item by item, with the conditions (and wordings) of each item in a seeded random order.

    Every stretch of time then holds every condition, so drift (an API silently changing, a machine
    slowing down) is not confounded with condition.
    """
    longest = max(len(s) for s in samples.values())
    generation = experiment.generation.identity()
    identities = {condition.name: condition.transform.identity() for condition in conditions}
    variants = {task.name: [(w.id, w.identity(), w.apply(task)) for w in wordings[task.name]]
                if wordings else [(None, None, task)] for task in suite.tasks}
    for model in dict.fromkeys(experiment.models):
        model_identity = backends[model].identity
        for repeat in range(experiment.repeats):
            for index in range(longest):
                for task in suite.tasks:
                    if index >= len(samples[task.name]):
                        continue
                    sample = samples[task.name][index]
                    demos = pick_demos(task, sample.id, experiment.seed)
                    order = [(condition, variant) for variant in variants[task.name] for condition in conditions]
                    if len(order) > 1:
                        random.Random(f"order:{model}:{repeat}:{task.name}:{sample.id}:{experiment.seed}"
                                      ).shuffle(order)
                    for condition, (wording, wording_identity, asked) in order:
                        cell_identity = {
                            "model": model_identity, "task": fingerprints[task.name], "sample": sample.id,
                            "demos": [d.id for d in demos], "condition": identities[condition.name],
                            "repeat": repeat, "generation": generation,
                        }
                        if wording is not None:
                            cell_identity["wording"] = wording_identity
                        yield Cell(stable_hash(cell_identity, length=24), model, asked, sample, demos, condition,
                                   repeat, wording)
