"""Where a task's samples come from: a built-in generator or a local JSON / JSONL / CSV file."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from emoprompt.datafile import check_keys, expect, inside
from emoprompt.errors import UsageError
from emoprompt.suites.generators import generate_samples
from emoprompt.suites.suite import Sample

SOURCE_KEYS = {"generator", "n", "seed", "file", "format", "fields", "records_key", "instruction_induction",
               "split", "hf", "config"}
DEFAULT_FIELDS = {"id": "id", "input": "input", "target": "target", "choices": "choices"}


def load_source(spec: dict[str, Any], base: Path, where: str, id_prefix: str) -> tuple[Sample, ...]:
    """Samples for one source spec found in a suite file."""
    check_keys(where, spec, SOURCE_KEYS)
    if "generator" in spec:
        n = expect(where, "n", spec.get("n", 100), int)
        seed = expect(where, "seed", spec.get("seed", 0), int)
        if n <= 0:
            raise UsageError(f"{where}: `n` must be positive, not {n}")
        return generate_samples(expect(where, "generator", spec["generator"], str), n, seed, id_prefix)
    if "instruction_induction" in spec:
        from emoprompt.suites.datasets import dataset_dir
        from emoprompt.suites.instruction_induction import load_ii_samples

        task = expect(where, "instruction_induction", spec["instruction_induction"], str)
        split = expect(where, "split", spec.get("split", "execute"), str)
        return load_ii_samples(dataset_dir("instruction_induction"), task, split, id_prefix)
    if "hf" in spec:
        fields = {**DEFAULT_FIELDS, **expect(where, "fields", spec.get("fields", {}), dict)}
        rows = hf_rows(expect(where, "hf", spec["hf"], str), spec.get("config"), spec.get("split", "test"))
        return tuple(row_to_sample(row, fields, i, f"{spec['hf']}:{i}") for i, row in enumerate(rows))
    if "file" in spec:
        path = inside(base, expect(where, "file", spec["file"], str), where)
        fields = {**DEFAULT_FIELDS, **expect(where, "fields", spec.get("fields", {}), dict)}
        rows = read_rows(path, spec.get("format"), spec.get("records_key"))
        return tuple(row_to_sample(row, fields, i, f"{path.name}:{i + 1}") for i, row in enumerate(rows))
    raise UsageError(f"{where}: a source needs `generator` or `file`")


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
            rows = list(csv.DictReader(text.splitlines()))
        else:
            raise UsageError(f"{path}: unknown data format {fmt!r}; use json, jsonl or csv")
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}; fix the file") from None
    except (KeyError, TypeError):
        raise UsageError(f"{path}: no list of records under {records_key!r}; set `records_key`") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UsageError(f"{path}: expected a list of records (objects); set `records_key` if nested")
    return rows


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
