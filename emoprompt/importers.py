"""Record importers: other harnesses' results as emoprompt records, so the same paired analysis runs on them.

An importer is `importer(paths, options) -> Imported`, registered by name (`emoprompt.register_importer` or the
`emoprompt.importers` entry point group); `emoprompt report --from NAME PATH...` writes what it returns as an
ordinary run folder (kind `import`) and reports it. Built in: `table` (CSV, JSONL or Parquet with item, condition
and score columns).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emoprompt.errors import UsageError
from emoprompt.identity import stable_hash
from emoprompt.schema import AnalysisInfo, ConditionInfo, ErrorInfo, Manifest, Record

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ColumnMap:
    """Which columns of an external file hold what; only item, condition and score are required."""

    item: str = "item"
    condition: str = "condition"
    score: str = "score"
    task: str | None = "task"
    model: str | None = "model"
    repeat: str | None = "repeat"
    parsed: str | None = "parsed"


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
    if columns.repeat and columns.repeat in raw.columns:
        frame["repeat"] = raw[columns.repeat]
    else:
        frame["repeat"] = frame.groupby(["model", "task", "item", "condition"]).cumcount()
    frame["parsed"] = _parsed(raw, columns, path)
    for column in ("tokens_out", "tokens_in", "n_calls", "cost_usd", "cached"):
        frame[column] = raw[column] if column in raw.columns else float("nan")
    return frame[COLUMNS]


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


def _parsed(raw: pd.DataFrame, columns: ColumnMap, path: Path) -> list[bool]:
    """The parsed column as booleans: true/false, 1/0, yes/no (any case); anything else (NaN included) is refused."""
    if not columns.parsed or columns.parsed not in raw.columns:
        return [True] * len(raw)
    values = []
    for row, value in enumerate(raw[columns.parsed]):
        text = str(value).strip().lower()
        if isinstance(value, bool) or text in _TRUE or text in _FALSE:
            values.append(bool(value) if isinstance(value, bool) else text in _TRUE)
            continue
        raise UsageError(f"{path}: column {columns.parsed!r} holds {value!r} in data row {row + 2}; use true/false, "
                         "1/0 or yes/no, or --parsed-column with another column")
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


@dataclass(frozen=True)
class ImportOptions:
    """What an importer may be told: the columns of a table, condition renames, the baseline and the control."""

    columns: ColumnMap = field(default_factory=ColumnMap)
    rename: dict[str, str] = field(default_factory=dict)
    """Condition names as the source has them → as the report should show them."""
    baseline: str | None = None
    control: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    """Anything else a plugin importer understands."""


@dataclass
class Imported:
    """What an importer returns: records in emoprompt's schema, where they came from, and (optionally) which
    condition is the baseline and which the control."""

    records: list[Record]
    source: str
    baseline: str | None = None
    control: str | None = None


def import_table(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """The `table` importer: CSV, JSONL or Parquet files with item, condition and score columns."""
    records: list[Record] = []
    for path in paths:
        frame = read_external(Path(path), options.columns)
        for row in frame.itertuples(index=False):
            records.append(_row_record(row, options.rename))
    return Imported(records, ", ".join(str(p) for p in paths), options.baseline, options.control)


def _row_record(row: Any, rename: dict[str, str]) -> Record:
    condition = rename.get(str(row.condition), str(row.condition))
    repeat = int(row.repeat) if row.repeat == row.repeat else 0
    score = float(row.score)
    identity = {"model": str(row.model), "task": str(row.task), "item": str(row.item), "condition": condition,
                "repeat": repeat}
    return Record(key=stable_hash(identity, 24), model=str(row.model), task=str(row.task), sample_id=str(row.item),
                  condition=condition, repeat=repeat, score=score, correct=score >= 1.0,
                  parsed=bool(row.parsed), error=ErrorInfo(str(row.error), "") if row.error else None)


BUILTIN_IMPORTERS: dict[str, Any] = {"table": import_table}


def write_imported_run(imported: Imported, run_dir: Path, importer: str) -> Path:
    """Write imported records as an ordinary run folder (kind `import`), with the baseline and control declared."""
    from emoprompt.runner.store import RunStore

    if not imported.records:
        raise UsageError(f"the {importer} importer found no records in {imported.source}; check the paths")
    conditions = list(dict.fromkeys(r.condition for r in imported.records))
    baseline = imported.baseline or ("baseline" if "baseline" in conditions else conditions[0])
    control = imported.control or next((c for c in conditions if c.lower().startswith(("placebo", "pl0"))),
                                       baseline)
    for role, name in (("baseline", baseline), ("control", control)):
        if name not in conditions:
            raise UsageError(f"{role} {name!r} is not a condition of the imported records; choose from "
                             f"{', '.join(conditions[:10])}")
    families = {c: "baseline" if c == baseline else "placebo" if c == control else "user" for c in conditions}
    store = RunStore(run_dir)
    store.open()
    try:
        if (run_dir / "records.jsonl").is_file() and (run_dir / "records.jsonl").stat().st_size:
            raise UsageError(f"{run_dir} already holds records; choose another --out")
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        store.write_manifest(Manifest(
            run_id=run_dir.name, kind="import", experiment={"name": f"{importer} import", "suite": importer},
            conditions=[ConditionInfo(c, families[c]) for c in conditions], control=control,
            analysis=AnalysisInfo(baseline=baseline, control=control), source=imported.source,
            records=len(imported.records), status="complete", started=now, finished=now))
        for record in imported.records:
            store.append(record.replace(family=families[record.condition]))
    finally:
        store.close()
    return run_dir
