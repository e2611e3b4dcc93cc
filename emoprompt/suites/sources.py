"""Where a task's samples come from: the `source` table of a suite's task, one loader per kind.

Built-in kinds: `generator` (offline built-in tasks), `file` (local JSON / JSONL / CSV), `instruction_induction`,
`bigbench`, `hf` (Hugging Face datasets), and `gpqa`, `mmlu_pro`, `mind_your_tone` (the prompt-tweak studies' data,
emoprompt.suites.study_sets). A plugin adds a kind with `emoprompt.register_suite_source(kind,
loader)`: `loader(spec, context)` gets the whole source table and returns samples (or a TaskSource).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError
from emoprompt.mapping_files import check_keys, expect, inside
from emoprompt.suites.generators import generate_samples
from emoprompt.suites.suite import Sample

DEFAULT_FIELDS = {"id": "id", "input": "input", "target": "target", "choices": "choices"}
MAX_GENERATED = 100_000
"""The most samples a built-in generator makes for one task."""
MAX_CSV_FIELD = 10_000_000


@dataclass(frozen=True)
class SourceContext:
    """Where a source is read: the suite file's folder (relative paths), a label for errors, the prefix of sample
    ids, and the benchmark data folder (`--data-dir`; None: EMOPROMPT_DATA_DIR or the user cache)."""

    base: Path
    where: str
    id_prefix: str
    data_dir: Path | None = None


@dataclass(frozen=True)
class TaskSource:
    """What a source may say besides its samples: the task's own instruction, scorer, template and facts."""

    samples: tuple[Sample, ...]
    instruction: str | None = None
    scorer: str | None = None
    template: str | None = None
    info: tuple[tuple[str, Any], ...] = ()


def _generator(spec: dict[str, Any], context: SourceContext) -> tuple[Sample, ...]:
    where = context.where
    check_keys(where, spec, {"generator", "n", "seed"})
    n = expect(where, "n", spec.get("n", 100), int)
    seed = expect(where, "seed", spec.get("seed", 0), int)
    if not 0 < n <= MAX_GENERATED:
        raise UsageError(f"{where}: `n` must be between 1 and {MAX_GENERATED:,}, not {n}")
    return generate_samples(expect(where, "generator", spec["generator"], str), n, seed, context.id_prefix)


def _instruction_induction(spec: dict[str, Any], context: SourceContext) -> tuple[Sample, ...]:
    from emoprompt.suites.datasets import dataset_dir
    from emoprompt.suites.instruction_induction import load_ii_samples

    where = context.where
    check_keys(where, spec, {"instruction_induction", "split"})
    task = expect(where, "instruction_induction", spec["instruction_induction"], str)
    split = expect(where, "split", spec.get("split", "execute"), str)
    return load_ii_samples(dataset_dir("instruction_induction", data_dir=context.data_dir), task, split,
                           context.id_prefix)


def _bigbench(spec: dict[str, Any], context: SourceContext) -> TaskSource:
    from emoprompt.suites.bigbench import load_bigbench_task
    from emoprompt.suites.datasets import dataset_dir

    check_keys(context.where, spec, {"bigbench"})
    loaded = load_bigbench_task(dataset_dir("bigbench", data_dir=context.data_dir),
                                expect(context.where, "bigbench", spec["bigbench"], str))
    info = (("preferred_score", loaded.preferred_score), ("random_baseline", loaded.random_baseline))
    return TaskSource(loaded.samples, loaded.instruction, loaded.scorer, "bigbench", info)


def _hugging_face(spec: dict[str, Any], context: SourceContext) -> tuple[Sample, ...]:
    where = context.where
    check_keys(where, spec, {"hf", "config", "split", "fields"})
    fields = {**DEFAULT_FIELDS, **expect(where, "fields", spec.get("fields", {}), dict)}
    rows = hf_rows(expect(where, "hf", spec["hf"], str), spec.get("config"), spec.get("split", "test"))
    return tuple(row_to_sample(row, fields, i, f"{spec['hf']}:{i}") for i, row in enumerate(rows))


def _file(spec: dict[str, Any], context: SourceContext) -> tuple[Sample, ...]:
    where = context.where
    check_keys(where, spec, {"file", "format", "fields", "records_key"})
    path = inside(context.base, expect(where, "file", spec["file"], str), where)
    fields = {**DEFAULT_FIELDS, **expect(where, "fields", spec.get("fields", {}), dict)}
    rows = read_rows(path, spec.get("format"), spec.get("records_key"))
    return tuple(row_to_sample(row, fields, i, f"{path.name}:{i + 1}") for i, row in enumerate(rows))


BUILTIN_SOURCES: dict[str, Any] = {
    "generator": _generator, "file": _file, "instruction_induction": _instruction_induction, "bigbench": _bigbench,
    "hf": _hugging_face,
}
"""The general kinds; the registry adds the studies' (emoprompt.suites.study_sets.STUDY_SOURCES)."""


def read_rows(path: Path, fmt: str | None, records_key: str | None) -> list[dict[str, Any]]:
    """Rows of a JSON (a list, or a dict holding one under `records_key`), JSONL or CSV file."""
    if not path.is_file():
        raise UsageError(f"data file {path} not found; check the suite's `file` path")
    fmt = fmt or path.suffix.lstrip(".").lower()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text; save the file as UTF-8") from None
    try:
        if fmt == "jsonl":
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        elif fmt == "json":
            data = json.loads(text)
            rows = data[records_key] if records_key else data
        elif fmt == "csv":
            rows = _csv_rows(path, text)
        else:
            raise UsageError(f"{path}: unknown data format {fmt!r}; use json, jsonl or csv")
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}; fix the file") from None
    except RecursionError:
        raise UsageError(f"{path}: JSON nested too deeply to be a data file; fix the file") from None
    except ValueError as exc:  # 5,000-digit numbers and the like
        raise UsageError(f"{path}: {str(exc).splitlines()[0]}; fix the file") from None
    except (KeyError, TypeError):
        raise UsageError(f"{path}: no list of records under {records_key!r}; set `records_key`") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UsageError(f"{path}: expected a list of records (objects); set `records_key` if nested")
    return rows


def _csv_rows(path: Path, text: str) -> list[dict[str, Any]]:
    limit = csv.field_size_limit()
    csv.field_size_limit(min(MAX_CSV_FIELD, sys.maxsize))
    try:
        return list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise UsageError(f"{path}: malformed CSV ({exc}); fields over {MAX_CSV_FIELD:,} characters are refused"
                         ) from None
    finally:
        csv.field_size_limit(limit)


def row_to_sample(row: dict[str, Any], fields: dict[str, str], index: int, where: str) -> Sample:
    """Map one record to a Sample with the suite's field names."""
    if fields["input"] not in row:
        raise UsageError(f"{where}: no field {fields['input']!r}; map it with `fields.input`")
    if fields["target"] not in row:
        raise UsageError(f"{where}: no field {fields['target']!r}; map it with `fields.target`")
    target = row[fields["target"]]
    targets = tuple(str(t) for t in target) if isinstance(target, list) else (str(target),)
    choices = row.get(fields["choices"]) or ()
    if isinstance(choices, str):
        choices = [c.strip() for c in choices.split("|")]
    sample_id = str(row.get(fields["id"], index))
    return Sample(sample_id, str(row[fields["input"]]), targets, tuple(str(c) for c in choices))


def hf_rows(dataset: str, config: str | None, split: str) -> list[dict[str, Any]]:
    """Rows of a Hugging Face dataset: a hub id (needs network), or a folder saved with `save_to_disk`."""
    from emoprompt.errors import require

    require("datasets", "datasets")
    import datasets

    try:
        if Path(dataset).is_dir() and (Path(dataset) / "dataset_info.json").is_file():
            loaded: Any = datasets.load_from_disk(dataset)
            if isinstance(loaded, datasets.DatasetDict):
                loaded = loaded[split]
        else:
            loaded = datasets.load_dataset(dataset, config, split=split)
    except KeyError:
        raise UsageError(f"dataset {dataset!r} has no split {split!r}; set `split`") from None
    except Exception as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"cannot load Hugging Face dataset {dataset!r} ({message}); check the id, config and "
                         "network, or save it locally with save_to_disk and give the folder") from None
    return [dict(row) for row in loaded]
