"""The `inspect` importer: inspect_ai eval logs (`.eval` and `.json`), one log per condition.

Logs are read through `inspect_ai.log.read_eval_log` when inspect_ai is installed, otherwise straight from the
documented format (a `.json` log is the EvalLog as JSON; an `.eval` log is a zip of `header.json` and
`samples/*.json`). Items pair by sample id and epoch (the epoch is the repeat). A sample's score is its first
scorer's value (`--metric NAME` reads another scorer), as inspect's `value_to_float` reads it:
C=1, I=0, P=0.5, N=0, booleans, numbers and numeric strings. A sample that ended in an error is an error row.

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
from emoprompt.importers.base import Imported, ImportOptions
from emoprompt.schema import ErrorInfo, Record

_VALUE_WORDS = {"c": 1.0, "i": 0.0, "p": 0.5, "n": 0.0, "yes": 1.0, "no": 0.0, "true": 1.0, "false": 0.0}


def import_inspect(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """Records of every sample of every inspect_ai log in `paths` (files, or folders of logs)."""
    records: list[Record] = []
    for path in _log_files(paths):
        log = read_log(path)
        records += _log_records(log, path, options)
    if not records:
        raise UsageError(f"no inspect samples in {', '.join(map(str, paths))}; give logs written with samples "
                         "(not --log-header-only)")
    return Imported(records, ", ".join(map(str, paths)), options.baseline, options.control)


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


def _log_records(log: dict[str, Any], path: Path, options: ImportOptions) -> list[Record]:
    spec = log.get("eval") or {}
    model = str(spec.get("model") or "model")
    task = str(spec.get("task") or path.stem).split("/")[-1]
    condition = log_condition(log, path)
    condition = options.rename.get(condition, condition)
    scorer = options.settings.get("metric")
    records = []
    for sample in log.get("samples") or []:
        item, epoch = str(sample.get("id")), int(sample.get("epoch") or 1)
        base = Record(key=stable_hash({"model": model, "task": task, "item": item, "condition": condition,
                                       "repeat": epoch - 1}, 24),
                      model=model, task=task, sample_id=item, condition=condition, repeat=epoch - 1,
                      target=_targets(sample.get("target")), response=_completion(sample),
                      metadata={"source": str(path), "epoch": epoch}, **_usage(sample))
        error = sample.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else error
            records.append(base.replace(error=ErrorInfo("inspect_error", str(message)[:300])))
            continue
        value = _score_value(sample.get("scores") or {}, scorer, path, item)
        records.append(base.replace(score=value, correct=value >= 1.0, parsed=True))
    return records


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
