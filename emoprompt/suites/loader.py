"""Load a suite definition file (data only) by name or path."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError, unknown_name
from emoprompt.mapping_files import check_keys, expect, read_mapping
from emoprompt.package_data import shipped_dir
from emoprompt.suites.registry import get_template, load_source, scorers
from emoprompt.suites.sources import SourceContext
from emoprompt.suites.suite import Suite, Task, check_samples

SUITE_KEYS = {"name", "description", "template", "scorer", "shots", "system", "task", "discover", "default_tasks"}
TASK_KEYS = {"name", "instruction", "scorer", "template", "shots", "system", "source", "demo_source"}
_SUFFIXES = (".toml", ".yaml", ".yml")


def builtin_suite_names() -> list[str]:
    """Names of the suites shipped in `suites/`."""
    return sorted(p.stem for p in shipped_dir("suites").iterdir() if p.suffix in _SUFFIXES)


def suite_path(name_or_path: str) -> Path:
    """The file for a shipped suite name, or the given path."""
    path = Path(name_or_path)
    if path.suffix in _SUFFIXES:
        if not path.is_file():
            raise UsageError(f"suite file {path} not found; check the path")
        return path
    for suffix in _SUFFIXES:
        candidate = shipped_dir("suites") / f"{name_or_path}{suffix}"
        if candidate.is_file():
            return candidate
    raise unknown_name("suite", name_or_path, builtin_suite_names(),
                       hint="Give a shipped suite name or the path of a .toml/.yaml suite file.")


def load_suite(name_or_path: str, data_dir: Path | None = None, tasks: Sequence[str] | None = None) -> Suite:
    """Read, validate and materialise a suite; benchmark data is looked for in `data_dir` (None:
    EMOPROMPT_DATA_DIR, else the user cache). `tasks` loads only those tasks' data (empty: the suite's default
    tasks, else all; None: all), so a run of one benchmark never needs another's files."""
    path = suite_path(name_or_path)
    data = read_mapping(path)
    check_keys(path.name, data, SUITE_KEYS)
    tasks_data = data.get("task", [])
    if "discover" in data:
        tasks_data = [*tasks_data, *_discovered(expect(path.name, "discover", data["discover"], str), data_dir)]
    if not isinstance(tasks_data, list) or not tasks_data:
        raise UsageError(f"{path}: the suite has no [[task]] entries; add at least one")
    defaults = [str(t) for t in expect(path.name, "default_tasks", data.get("default_tasks", []), list)]
    name = expect(path.name, "name", data.get("name", path.stem), str)
    wanted = _wanted_tasks(name, tasks, defaults, tasks_data)
    loaded = tuple(_task(entry, data, path, i, data_dir) for i, entry in enumerate(tasks_data)
                   if wanted is None or (isinstance(entry, dict) and entry.get("name") in wanted))
    names = [t.name for t in loaded]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(f"{path}: task {duplicates[0]!r} is defined twice; rename one")
    present = [t for t in defaults if t in names]
    metadata = {"path": str(path), "missing_default_tasks": [t for t in defaults if t not in names]}
    return Suite(name, loaded, str(data.get("description", "")), metadata, tuple(present))


def _wanted_tasks(suite: str, tasks: Sequence[str] | None, defaults: list[str], entries: list[Any]
                  ) -> set[str] | None:
    """The task names whose data to load (None: every task)."""
    if tasks is None or (not tasks and not defaults):
        return None
    if not tasks:
        return set(defaults)
    declared = [entry.get("name") for entry in entries if isinstance(entry, dict)]
    for name in tasks:
        if name not in declared:
            raise unknown_name(f"task of suite {suite!r}", name, [str(n) for n in declared])
    return set(tasks)


def _discovered(kind: str, data_dir: Path | None) -> list[dict[str, Any]]:
    """Task entries for every task of a data set found on disk (BIG-Bench: every folder with a task.json)."""
    if kind != "bigbench":
        raise unknown_name("discover kind", kind, ["bigbench"])
    from emoprompt.suites.bigbench import discover
    from emoprompt.suites.datasets import dataset_dir

    found = discover(dataset_dir("bigbench", data_dir=data_dir))
    return [{"name": name.replace("/", ":"), "source": {"bigbench": name}} for name in found]


def _task(entry: Any, suite: dict[str, Any], path: Path, index: int, data_dir: Path | None) -> Task:
    where = f"{path.name} task #{index + 1}"
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: expected a table of keys")
    check_keys(where, entry, TASK_KEYS)
    name = expect(where, "name", entry.get("name"), str)
    where = f"{path.name} task {name!r}"
    if "source" not in entry:
        raise UsageError(f"{where}: no `source`; give a generator or a file")
    source = load_source(expect(where, "source", entry["source"], dict),
                         SourceContext(path.parent, where, f"{name}-", data_dir))

    def setting(key: str, default: Any, kind: type) -> Any:
        return expect(where, key, entry.get(key, suite.get(key, default)), kind)

    scorer = entry.get("scorer") or source.scorer or setting("scorer", "normalized_exact", str)
    template = source.template or setting("template", "instruction-induction", str)
    scorers.get(expect(where, "scorer", scorer, str))
    get_template(template)
    shots = setting("shots", 0, int)
    if shots < 0:
        raise UsageError(f"{where}: `shots` must be 0 or more, not {shots}")
    samples = check_samples(name, source.samples)
    demo_pool: tuple = ()
    if "demo_source" in entry:
        demo_pool = load_source(expect(where, "demo_source", entry["demo_source"], dict),
                                SourceContext(path.parent, where, f"{name}-demo-", data_dir)).samples
    elif shots:
        demo_pool = samples
    if shots and len(demo_pool) <= shots:
        raise UsageError(f"{where}: {shots} shots need more than {len(demo_pool)} demonstrations")
    system = entry.get("system", suite.get("system"))
    instruction = entry.get("instruction", source.instruction if source.instruction is not None
                            else suite.get("instruction", ""))
    if instruction and "{instruction}" not in get_template(template).body:
        raise UsageError(f"{where}: template {template!r} has no {{instruction}}, so the task's instruction (and a "
                         "stimulus placed after it) would never reach the model; add {instruction} to the template "
                         "or drop the instruction")
    return Task(name, expect(where, "instruction", instruction, str), samples, scorer, template, shots, demo_pool,
                expect(where, "system", system, str) if system is not None else None, source.info)


def pick_demos(task: Task, sample_id: str, seed: int) -> tuple:
    """The few-shot demonstrations for one sample: seeded, never the sample itself."""
    if not task.shots:
        return ()
    rng = random.Random(f"{task.name}:{sample_id}:{seed}")
    pool = [d for d in task.demo_pool if d.id != sample_id]
    return tuple(rng.sample(pool, task.shots))
