"""The `inspect` importer: inspect_ai eval logs (`.eval` and `.json`), one log per condition.

Logs are read through `inspect_ai.log.read_eval_log` when inspect_ai is installed, otherwise straight from the
documented format (a `.json` log is the EvalLog as JSON; an `.eval` log is a zip of `header.json` and
`samples/*.json`). Items pair by sample id and epoch (the epoch is the repeat); where one id stands for different
content (input and target) in different logs, as ids inspect assigns after `--sample-shuffle` do, items pair by
content instead, with a note. A sample's score is its first scorer's value (`--metric NAME` reads another scorer;
the report names the one read and the others), as inspect's `value_to_float` reads it: C=1, I=0, P=0.5, N=0,
booleans, numbers and numeric strings. Epochs are reduced by the log's own reducer (`--reducer` picks another):
`mean` keeps them as repeats, any other gives one score per sample, as inspect's metrics see it. A sample that
ended in an error is an error row; a log of an eval that did not finish is left out, with a warning.

The condition of a log is, in order: the `emoprompt_condition` of the eval's metadata (set by
`emoprompt.integrations.inspect.evaluate`), the `condition` of an `emoprompt_condition` solver in the log's plan,
a `condition` task argument, else the log file's name.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError
from emoprompt.identity import stable_hash
from emoprompt.importers.base import HarnessAggregate, Imported, ImportOptions
from emoprompt.schema import ErrorInfo, Record

_VALUE_WORDS = {"c": 1.0, "i": 0.0, "p": 0.5, "n": 0.0, "yes": 1.0, "no": 0.0, "true": 1.0, "false": 0.0}


def import_inspect(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """Records of every sample of every inspect_ai log in `paths` (files, or folders of logs)."""
    imported = Imported([], ", ".join(map(str, paths)), options.baseline, options.control)
    files = _log_files(paths)
    for path in files:
        log = read_log(path)
        if log.get("status", "success") != "success":
            error = (log.get("error") or {}).get("message") if isinstance(log.get("error"), dict) else log.get("error")
            imported.warnings.append(f"{path.name} is a log of an eval that did not finish (status "
                                     f"{log.get('status')}{': ' + str(error)[:120] if error else ''}); it was left "
                                     "out.")
            continue
        records, read, aggregate = _log_records(log, path, options)
        imported.records += records
        imported.notes.append(read)
        if aggregate is not None:
            imported.aggregates.append(aggregate)
    if not imported.records:
        left_out = f" ({len(files)} logs of evals that did not finish)" if files and imported.warnings else ""
        raise UsageError(f"no inspect samples in {', '.join(map(str, paths))}{left_out}; give logs of finished evals "
                         "written with samples (not --log-header-only)")
    imported.records = pair_by_content(imported.records, imported.notes)
    return imported


def _log_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".eval", ".json") and p.name != "logs.json")
            if not found:
                raise UsageError(f"{path}: no inspect logs (.eval or .json); give a log file or inspect's log_dir")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"{path} not found; give an inspect log file or folder")
    return files


def read_log(path: Path) -> dict[str, Any]:
    """An inspect log as plain JSON data (the EvalLog's fields)."""
    try:
        from inspect_ai.log import read_eval_log
    except ImportError:
        return _read_documented(path)
    try:
        return read_eval_log(str(path)).model_dump(mode="json", exclude_none=True)
    except Exception as exc:
        raise UsageError(f"{path}: not an inspect log ({str(exc).splitlines()[0][:200]})") from None


def _read_documented(path: Path) -> dict[str, Any]:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                log = json.loads(archive.read("header.json")) if "header.json" in names else {}
                if not log and "_journal/start.json" in names:
                    log = json.loads(archive.read("_journal/start.json"))
                log["samples"] = [json.loads(archive.read(name)) for name in sorted(names)
                                  if name.startswith("samples/") and name.endswith(".json")]
                return dict(log)
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, UnicodeDecodeError, zipfile.BadZipFile):
        raise UsageError(f"{path}: not an inspect log (.eval zip or .json EvalLog)") from None
    if not isinstance(data, dict) or "eval" not in data:
        raise UsageError(f"{path}: not an inspect log (no `eval` section)")
    return data


def _log_records(log: dict[str, Any], path: Path, options: ImportOptions
                 ) -> tuple[list[Record], str, HarnessAggregate | None]:
    """One log's records (epochs reduced as the log's reducer says, or `--reducer`), what was read, and inspect's
    own aggregate of the scorer read."""
    spec = log.get("eval") or {}
    model = str(spec.get("model") or "model")
    task = str(spec.get("task") or path.stem).split("/")[-1]
    condition = log_condition(log, path)
    samples = log.get("samples") or []
    scorers = list(dict.fromkeys(name for sample in samples for name in (sample.get("scores") or {})))
    scorer = str(options.settings.get("metric") or (scorers[0] if scorers else ""))
    if scorers and scorer not in scorers:
        raise UsageError(f"{path}: no scorer {scorer!r}; this log has {', '.join(scorers)}")
    epochs = max((int(sample.get("epoch") or 1) for sample in samples), default=1)
    reducer = str(options.settings.get("reducer") or _log_reducer(log, scorer) or "mean")
    records = []
    for sample in samples:
        item, epoch = str(sample.get("id")), int(sample.get("epoch") or 1)
        base = Record(key=stable_hash({"model": model, "task": task, "item": item, "condition": condition,
                                       "repeat": epoch - 1}, 24),
                      model=model, task=task, sample_id=item, condition=condition, repeat=epoch - 1,
                      target=_targets(sample.get("target")), response=_completion(sample),
                      metadata={"source": str(path), "epoch": epoch, "content": _content(sample)}, **_usage(sample))
        error = sample.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else error
            records.append(base.replace(error=ErrorInfo("inspect_error", str(message)[:300])))
            continue
        value = _score_value(sample.get("scores") or {}, scorer, path, item)
        records.append(base.replace(score=value, correct=value >= 1.0, parsed=True))
    if epochs > 1 and reducer != "mean":
        records = reduce_epochs(records, reducer, path)
    others = [s for s in scorers if s != scorer]
    read = (f"inspect ({path.name}, {condition}): scorer {scorer}"
            + (f" (the log also has {', '.join(others)}: --metric NAME reads another)" if others else "")
            + (f"; {epochs} epochs reduced by {reducer}" + (" (kept as repeats)" if reducer == "mean" else "")
               if epochs > 1 else "") + "; items paired by sample id and epoch.")
    return records, read, _aggregate(log, scorer, reducer, condition, model, task)


def _log_reducer(log: dict[str, Any], scorer: str) -> str | None:
    for score in ((log.get("results") or {}).get("scores") or []):
        if score.get("name") == scorer and score.get("reducer"):
            return str(score["reducer"])
    reducers = ((log.get("eval") or {}).get("config") or {}).get("epochs_reducer") or []
    return str(reducers[0]) if reducers else None


def reduce_epochs(records: list[Record], reducer: str, path: Path) -> list[Record]:
    """One record per sample: its epochs' scores reduced as inspect's reducer of that name does (mean, median,
    mode, max, min, at_least_K); error epochs are left out, and a sample with only errors stays one error row."""
    by_item: dict[str, list[Record]] = {}
    for record in records:
        by_item.setdefault(record.sample_id, []).append(record)
    reduced = []
    for item, group in by_item.items():
        values = [r.score for r in group if r.score is not None and r.error is None]
        first = group[0].replace(repeat=0, key=stable_hash({"model": group[0].model, "task": group[0].task,
                                                            "item": item, "condition": group[0].condition,
                                                            "repeat": 0}, 24))
        if not values:
            reduced.append(first)
            continue
        value = _reduce(values, reducer, path)
        reduced.append(first.replace(score=value, correct=value >= 1.0, parsed=True, error=None,
                                     metadata={**(first.metadata or {}), "epochs": len(group), "reducer": reducer}))
    return reduced


def _reduce(values: list[float], reducer: str, path: Path) -> float:
    import statistics

    if reducer == "mean":
        return sum(values) / len(values)
    if reducer == "median":
        return float(statistics.median(values))
    if reducer == "mode":
        return float(statistics.mode(values))
    if reducer == "max":
        return max(values)
    if reducer == "min":
        return min(values)
    if reducer.startswith("at_least_") and reducer.removeprefix("at_least_").isdigit():
        return 1.0 if sum(v >= 1.0 for v in values) >= int(reducer.removeprefix("at_least_")) else 0.0
    raise UsageError(f"{path}: epochs reducer {reducer!r} is not one emoprompt can apply per sample; give --reducer "
                     "mean, median, mode, max, min or at_least_K")


def _aggregate(log: dict[str, Any], scorer: str, reducer: str, condition: str, model: str, task: str
               ) -> HarnessAggregate | None:
    """inspect's own accuracy (or mean) of the scorer read, when the log was reduced the way the records were."""
    for score in ((log.get("results") or {}).get("scores") or []):
        if score.get("name") != scorer or (score.get("reducer") or "mean") != reducer:
            continue
        metrics = score.get("metrics") or {}
        for name in ("accuracy", "mean"):
            value = (metrics.get(name) or {}).get("value")
            if isinstance(value, int | float) and not isinstance(value, bool):
                return HarnessAggregate(condition, float(value), f"{scorer} {name}", model, task)
    return None


def pair_by_content(records: list[Record], notes: list[str]) -> list[Record]:
    """Records whose sample id means different content (input and target) in different logs — ids inspect
    assigned after shuffling — re-paired by content, with a note; refused when content does not identify a
    sample."""
    content: dict[tuple[str, str, str], set[str]] = {}
    for record in records:
        content.setdefault((record.model, record.task, record.sample_id), set()).add(
            str((record.metadata or {}).get("content")))
    clashes = [key for key, seen in content.items() if len(seen) > 1]
    if not clashes:
        return records
    per_log: dict[tuple[str, str, str, int], set[str]] = {}
    for record in records:
        log_key = (record.model, record.task, record.condition, record.repeat)
        per_log.setdefault(log_key, set())
        fingerprint = str((record.metadata or {}).get("content"))
        if fingerprint in per_log[log_key]:
            raise UsageError(f"sample ids mean different inputs or targets in different logs ({len(clashes)} ids, "
                             f"e.g. {clashes[0][2]} of task {clashes[0][1]}), and two samples share one input and "
                             "target, so they cannot be paired by content either; give the samples explicit ids")
        per_log[log_key].add(fingerprint)
    names: dict[tuple[str, str, str], str] = {}
    for record in records:
        names.setdefault((record.model, record.task, str((record.metadata or {}).get("content"))), record.sample_id)
    notes.append(f"{len(clashes)} sample ids stood for different inputs or targets in different logs (ids inspect "
                 "assigns after --sample-shuffle); items are paired by their input and target instead.")
    repaired = []
    for record in records:
        item = names[(record.model, record.task, str((record.metadata or {}).get("content")))]
        repaired.append(record.replace(sample_id=item, key=stable_hash(
            {"model": record.model, "task": record.task, "item": item, "condition": record.condition,
             "repeat": record.repeat}, 24)))
    return repaired


def _content(sample: dict[str, Any]) -> str:
    return stable_hash({"input": sample.get("input"), "target": sample.get("target")}, 16)


def log_condition(log: dict[str, Any], path: Path) -> str:
    """The emoprompt condition an inspect log ran under (see the module docstring for the order)."""
    spec = log.get("eval") or {}
    if (spec.get("metadata") or {}).get("emoprompt_condition"):
        return str(spec["metadata"]["emoprompt_condition"])
    for step in ((log.get("plan") or {}).get("steps") or []):
        if str(step.get("solver", "")).split("/")[-1] == "emoprompt_condition":
            return str((step.get("params") or {}).get("condition") or "baseline")
    if (spec.get("task_args") or {}).get("condition"):
        return str(spec["task_args"]["condition"])
    return path.stem


def _score_value(scores: dict[str, Any], scorer: str | None, path: Path, item: str) -> float:
    if not scores:
        raise UsageError(f"{path}: sample {item} has no score; run the eval with a scorer (or inspect score)")
    name = scorer or next(iter(scores))
    if name not in scores:
        raise UsageError(f"{path}: no scorer {name!r}; this log has {', '.join(scores)}")
    value = scores[name].get("value") if isinstance(scores[name], dict) else scores[name]
    number = value_to_float(value)
    if number is None:
        raise UsageError(f"{path}: sample {item}'s {name} score {value!r} is not one number; choose a scorer with "
                         "a scalar value")
    return number


def value_to_float(value: Any) -> float | None:
    """A score value as a number, as inspect's `value_to_float` reads it; None when it is not one scalar."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _VALUE_WORDS:
            return _VALUE_WORDS[text]
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _usage(sample: dict[str, Any]) -> dict[str, Any]:
    usage = [u for u in (sample.get("model_usage") or {}).values() if isinstance(u, dict)]
    if not usage:
        return {}
    return {"tokens_in": sum(int(u.get("input_tokens") or 0) for u in usage),
            "tokens_out": sum(int(u.get("output_tokens") or 0) for u in usage)}


def _targets(target: Any) -> list[str] | None:
    if target is None:
        return None
    return [str(t) for t in target] if isinstance(target, list) else [str(target)]


def _completion(sample: dict[str, Any]) -> str | None:
    output = sample.get("output") or {}
    if isinstance(output.get("completion"), str):
        return str(output["completion"])
    choices = output.get("choices") or []
    content = (choices[0].get("message") or {}).get("content") if choices else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return None
