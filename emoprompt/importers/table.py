"""The `table` importer: CSV, JSONL or Parquet files with item, condition and score columns (any harness)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emoprompt.errors import UsageError
from emoprompt.identity import stable_hash
from emoprompt.importers.base import ColumnMap, Imported, ImportOptions
from emoprompt.schema import ErrorInfo, Record

if TYPE_CHECKING:
    import pandas as pd


def read_external(path: Path, columns: ColumnMap) -> pd.DataFrame:
    """A tidy frame from a CSV, JSONL or Parquet file of another harness's results."""
    import pandas as pd

    from emoprompt.stats.frame import COLUMNS

    if not path.is_file():
        raise UsageError(f"{path} not found; check the path")
    raw = _read_table(path)
    if raw.empty:
        raise UsageError(f"{path} has no rows (an empty or header-only file); give a file with results")
    for role in ("item", "condition", "score"):
        name = getattr(columns, role)
        if name not in raw.columns:
            raise UsageError(f"{path}: no column {name!r} for the {role}; name it with --{role}-column "
                             f"(columns: {', '.join(map(str, raw.columns[:12]))})")
    frame = pd.DataFrame({
        "model": _optional(raw, columns.model, "model"), "task": _optional(raw, columns.task, "all"),
        "item": raw[columns.item].astype(str), "condition": raw[columns.condition].astype(str),
    })
    frame["error"] = _errors(raw)
    frame["score"] = pd.to_numeric(raw[columns.score], errors="coerce").astype(float)
    bad = frame["error"].isna() & ~frame["score"].map(math.isfinite)
    if bad.any():
        rows = [int(i) + 2 for i in frame.index[bad][:5]]
        example = str(raw[columns.score][bad].iloc[0])
        raise UsageError(f"{path}: column {columns.score!r} holds a score that is not a finite number ({example!r}) "
                         f"in data rows {', '.join(map(str, rows))}; fix or drop them, or mark them in an `error` "
                         "column")
    notes: list[str] = []
    if columns.repeat and columns.repeat in raw.columns:
        frame["repeat"] = raw[columns.repeat]
    else:
        frame["repeat"] = _implicit_repeats(frame, columns, notes)
    frame["parsed"] = _parsed(raw, columns, path, notes)
    for column in ("tokens_out", "tokens_in", "n_calls", "cost_usd", "cached", "paraphrase"):
        frame[column] = raw[column] if column in raw.columns else float("nan")
    result = frame[COLUMNS]
    result.attrs["notes"] = notes
    return result


def _implicit_repeats(frame: pd.DataFrame, columns: ColumnMap, notes: list[str]) -> Any:
    """Repeat numbers for a file without a repeat column. When every (model, task, item, condition) has the same
    number of rows, two or more, the rows are its repeats (said in `notes`); otherwise every row is repeat 0, so
    that a stray second row is a duplicate, refused unless --dedupe says how to merge it."""
    cell = frame.groupby(["model", "task", "item", "condition"], sort=False)
    sizes = cell["score"].transform("size")
    if sizes.nunique() == 1 and int(sizes.iloc[0]) > 1:
        notes.append(f"no {columns.repeat or 'repeat'!r} column: every cell has {int(sizes.iloc[0])} rows, taken as "
                     "its repeats in file order (name the column with --repeat-column)")
        return cell.cumcount()
    return 0


def _read_table(path: Path) -> pd.DataFrame:
    """A CSV, JSONL or Parquet file as a frame; JSONL line by line, so a bad line is named."""
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".jsonl", ".ndjson"):
            return pd.DataFrame(_json_lines(path))
        if suffix == ".parquet":
            return pd.read_parquet(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read it ({str(exc).splitlines()[0]}); check the file") from None
    except ImportError:
        raise UsageError("reading Parquet needs pyarrow; install it with: pip install pyarrow") from None
    raise UsageError(f"{path}: unsupported file type {suffix!r}; use .csv, .jsonl or .parquet")


def _json_lines(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except (ValueError, RecursionError):
                raise UsageError(f"{path}:{number}: not a JSON object; fix or delete that line") from None
            if not isinstance(row, dict):
                raise UsageError(f"{path}:{number}: a row is a JSON object, not {type(row).__name__}; fix or delete "
                                 "that line")
            rows.append(row)
    return rows


_TRUE = {"true", "1", "yes", "y", "t", "1.0"}
_FALSE = {"false", "0", "no", "n", "f", "0.0"}


def _parsed(raw: pd.DataFrame, columns: ColumnMap, path: Path, notes: list[str]) -> list[bool | None]:
    """The parsed column as booleans: true/false, 1/0, yes/no (any case); a blank cell is unknown (named in
    `notes`); anything else is refused with its row."""
    if not columns.parsed or columns.parsed not in raw.columns:
        return [True] * len(raw)
    values: list[bool | None] = []
    blank = []
    for row, value in enumerate(raw[columns.parsed]):
        text = "" if value is None or (isinstance(value, float) and value != value) else str(value).strip().lower()
        if isinstance(value, bool) or text in _TRUE or text in _FALSE:
            values.append(bool(value) if isinstance(value, bool) else text in _TRUE)
            continue
        if not text:
            values.append(None)
            blank.append(row + 2)
            continue
        raise UsageError(f"{path}: column {columns.parsed!r} holds {value!r} in data row {row + 2}; use true/false, "
                         "1/0 or yes/no (or leave it blank for unknown), or --parsed-column with another column")
    if blank:
        shown = ", ".join(map(str, blank[:5])) + (" …" if len(blank) > 5 else "")
        notes.append(f"{path.name}: {len(blank)} rows have a blank {columns.parsed!r} cell (data rows {shown}); "
                     "their parse status is unknown and left out of the parse-failure rates")
    return values


def _errors(raw: pd.DataFrame) -> list[str | None]:
    """The error column (rows with a non-empty value are error rows, left out of the statistics), if any."""
    if "error" not in raw.columns:
        return [None] * len(raw)
    return [None if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""
            else str(value) for value in raw["error"]]


def _optional(raw: pd.DataFrame, column: str | None, default: str) -> Any:
    if column and column in raw.columns:
        return raw[column].astype(str)
    return default


def import_table(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """The `table` importer: CSV, JSONL or Parquet files with item, condition and score columns."""
    records: list[Record] = []
    for path in paths:
        frame = read_external(Path(path), options.columns)
        for row in frame.itertuples(index=False):
            records.append(_row_record(row))
    return Imported(records, ", ".join(str(p) for p in paths), options.baseline, options.control)


def _row_record(row: Any) -> Record:
    condition = str(row.condition)
    repeat = int(row.repeat) if row.repeat == row.repeat else 0
    score = float(row.score)
    identity = {"model": str(row.model), "task": str(row.task), "item": str(row.item), "condition": condition,
                "repeat": repeat}
    return Record(key=stable_hash(identity, 24), model=str(row.model), task=str(row.task), sample_id=str(row.item),
                  condition=condition, repeat=repeat, score=score, correct=score >= 1.0,
                  parsed=None if row.parsed is None or row.parsed != row.parsed else bool(row.parsed),
                  error=ErrorInfo(str(row.error), "") if row.error else None)
