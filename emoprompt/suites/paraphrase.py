"""Wording as a design factor: K rewordings of each task's instruction and prompt format (`--paraphrases K`).

Wording `p0` is the task as written. Wordings p1…p(K−1) come from the experiment's `paraphrase_source`:

- `bank+format` (default): the shipped bank's rewordings of the instruction (suites/paraphrases.toml, written for
  this project) each with a format variant (`emoprompt.suites.formats`); a task the bank does not cover gets
  format variants only, with a note;
- `bank`: the bank's rewordings only; `format`: format variants only (the instruction as written);
- a path to your own file (TOML, YAML or JSON: `{task: [instruction, ...]}`), used in order;
- `model:<model string>`: rewordings written by that model once, kept verbatim in the experiment (and so in the
  manifest), so a resumed or repeated run uses the same texts.

Every stimulus is applied to each wording in the same way (it attaches to whichever instruction the wording has).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError
from emoprompt.mapping_files import MAPPING_SUFFIXES
from emoprompt.suites.suite import Task

MAX_PARAPHRASES = 50
SOURCES = ("bank+format", "bank", "format")


@dataclass(frozen=True)
class Wording:
    """One wording of a task: its id (`p0` is the task as written), instruction and template spec."""

    id: str
    instruction: str
    template: str
    source: str

    def apply(self, task: Task) -> Task:
        """The task as this wording asks it (same name, samples and scorer)."""
        return dataclasses.replace(task, instruction=self.instruction, template=self.template)

    def identity(self) -> dict[str, str]:
        """What reaches the model (part of the cell key)."""
        return {"id": self.id, "instruction": self.instruction, "template": self.template}


def check_source(source: str) -> str:
    """A paraphrase source as given, or one line naming the choices."""
    if source in SOURCES or source.startswith("model:") or source.endswith(MAPPING_SUFFIXES):
        return source
    raise UsageError(f"paraphrase source {source!r} is not one of {', '.join(SOURCES)}, a .toml/.yaml/.json file "
                     "of {task: [instruction, ...]} or model:<model>")


def task_wordings(task: Task, count: int, source: str, seed: int, texts: Mapping[str, Sequence[str]] | None = None,
                  notes: list[str] | None = None) -> list[Wording]:
    """The `count` wordings of `task` (p0 first). `texts`: the instructions of a file or a model, by task."""
    from emoprompt.suites.formats import has_labels, variant_spec
    from emoprompt.suites.registry import get_template

    original = Wording("p0", task.instruction, task.template, "original")
    if count == 1:
        return [original]
    rewordings = _rewordings(task, source, texts, notes)
    formats = source in ("bank+format", "format") and has_labels(get_template(task.template))
    if source == "format" and not formats:
        raise UsageError(f"task {task.name!r}: its template has no field labels for format variants to change; "
                         "use paraphrase_source = 'bank' or your own file")
    if not formats and len(rewordings) < count - 1:
        raise UsageError(f"task {task.name!r} has {len(rewordings)} rewordings for {count - 1} paraphrases; ask "
                         f"for --paraphrases {len(rewordings) + 1} or fewer, or add format variants "
                         "(paraphrase_source = 'bank+format')")
    wordings = [original]
    for index in range(1, count):
        text = rewordings[(index - 1) % len(rewordings)] if rewordings else task.instruction
        template = variant_spec(task.template, seed, index) if formats else task.template
        kind = "+".join(part for part, used in (("text", bool(rewordings)), ("format", formats)) if used)
        wordings.append(Wording(f"p{index}", text, template, kind))
    return wordings


def _rewordings(task: Task, source: str, texts: Mapping[str, Sequence[str]] | None, notes: list[str] | None
                ) -> list[str]:
    if source == "format":
        return []
    if source.startswith("model:") or source not in SOURCES:
        given = list((texts or {}).get(task.name, ()))
        if not given:
            raise UsageError(f"task {task.name!r} has no paraphrases in {source}; add a list for it")
        return given
    entry = bank().get(task.name)
    if entry is None or entry[0] != task.instruction:
        if source == "bank":
            raise UsageError(f"task {task.name!r}: the shipped bank has no paraphrases of its instruction; use "
                             "paraphrase_source = 'format' or your own file")
        if notes is not None:
            notes.append(f"task {task.name}: no shipped paraphrases of its instruction; its wordings differ in "
                         "format only")
        return []
    return list(entry[1])


def bank() -> dict[str, tuple[str, tuple[str, ...]]]:
    """The shipped paraphrase bank: task name → (the instruction it rewords, its rewordings)."""
    from emoprompt.mapping_files import read_mapping
    from emoprompt.package_data import shipped_dir

    data = read_mapping(shipped_dir("suites") / "paraphrases.toml")
    return {name: (str(entry["original"]), tuple(str(p) for p in entry["paraphrases"]))
            for name, entry in data["task"].items()}


def read_paraphrase_file(path: Path) -> dict[str, list[str]]:
    """A user's paraphrase file: `{task: [instruction, ...]}` (TOML, YAML or JSON)."""
    from emoprompt.mapping_files import read_mapping

    data: Any = read_mapping(path)
    if not isinstance(data, dict) or not all(isinstance(v, list) and v and all(isinstance(t, str) and t.strip()
                                                                                for t in v) for v in data.values()):
        raise UsageError(f"{path}: a paraphrase file maps each task name to a list of instruction texts, e.g. "
                         'sum = ["Add the two numbers.", ...]')
    return {str(task): [str(t) for t in texts] for task, texts in data.items()}
