"""Record importers: other harnesses' results as emoprompt records, so the same paired analysis runs on them.

An importer is `importer(paths, options) -> Imported`, registered by name (`emoprompt.register_importer` or the
`emoprompt.importers` entry point group); `emoprompt report --from NAME PATH...` writes what it returns as an
ordinary run folder (kind `import`) and reports it. Built in: `table` (CSV, JSONL or Parquet with item, condition
and score columns).
"""

from __future__ import annotations

import datetime as dt
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
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            raw = pd.read_csv(path)
        elif suffix in (".jsonl", ".ndjson"):
            raw = pd.read_json(path, lines=True)
        elif suffix == ".parquet":
            raw = pd.read_parquet(path)
        else:
            raise UsageError(f"{path}: unsupported file type {suffix!r}; use .csv, .jsonl or .parquet")
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read it ({str(exc).splitlines()[0]}); check the file") from None
    except ImportError:
        raise UsageError("reading Parquet needs pyarrow; install it with: pip install pyarrow") from None
    for role in ("item", "condition", "score"):
        name = getattr(columns, role)
        if name not in raw.columns:
            raise UsageError(f"{path}: no column {name!r} for the {role}; name it with --{role}-column "
                             f"(columns: {', '.join(map(str, raw.columns[:12]))})")
    frame = pd.DataFrame({
        "model": _optional(raw, columns.model, "model"), "task": _optional(raw, columns.task, "all"),
        "item": raw[columns.item].astype(str), "condition": raw[columns.condition].astype(str),
    })
    frame["score"] = pd.to_numeric(raw[columns.score], errors="coerce")
    if frame["score"].isna().any():
        bad = raw[columns.score][frame["score"].isna()].iloc[0]
        raise UsageError(f"{path}: column {columns.score!r} holds a non-numeric score ({bad!r}); fix or drop it")
    if columns.repeat and columns.repeat in raw.columns:
        frame["repeat"] = raw[columns.repeat]
    else:
        frame["repeat"] = frame.groupby(["model", "task", "item", "condition"]).cumcount()
    frame["parsed"] = raw[columns.parsed].astype(bool) if columns.parsed and columns.parsed in raw.columns else True
    frame["error"] = None
    for column in ("tokens_out", "tokens_in", "n_calls", "cost_usd", "cached"):
        frame[column] = raw[column] if column in raw.columns else float("nan")
    return frame[COLUMNS]


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
