"""Record importers: other harnesses' results as emoprompt records, so the same paired analysis runs on them.

An importer is `importer(paths, options) -> Imported`, registered by name (`emoprompt.register_importer` or the
`emoprompt.importers` entry point group); `emoprompt report --from NAME PATH...` writes what it returns as an
ordinary run folder (kind `import`) and reports it. Built in: `table` (CSV, JSONL or Parquet with item, condition
and score columns), `lm-eval` (`--log_samples` output folders), `inspect` (inspect_ai logs) and `promptfoo`
(`promptfoo eval -o results.json`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError
from emoprompt.schema import AnalysisInfo, ConditionInfo, Manifest, Record


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


def _table(paths: Any, options: ImportOptions) -> Imported:
    from emoprompt.importers.table import import_table

    return import_table(paths, options)


def _lm_eval(paths: Any, options: ImportOptions) -> Imported:
    from emoprompt.importers.lm_eval import import_lm_eval

    return import_lm_eval(paths, options)


def _inspect(paths: Any, options: ImportOptions) -> Imported:
    from emoprompt.importers.inspect_logs import import_inspect

    return import_inspect(paths, options)


def _promptfoo(paths: Any, options: ImportOptions) -> Imported:
    from emoprompt.importers.promptfoo import import_promptfoo

    return import_promptfoo(paths, options)


BUILTIN_IMPORTERS: dict[str, Any] = {"table": _table, "lm-eval": _lm_eval, "inspect": _inspect,
                                     "promptfoo": _promptfoo}


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
    conditions = list(dict.fromkeys([baseline, control, *conditions]))  # the report's order: baseline, control, rest
    families = {c: _family(c, baseline, control) for c in conditions}
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


def _family(condition: str, baseline: str, control: str) -> str:
    """A condition's family: the baseline and the control by role, an emoprompt condition name by its own family,
    anything else `user`."""
    if condition == baseline:
        return "baseline"
    if condition == control:
        return "placebo"
    from emoprompt.conditions import parse_condition

    try:
        family = parse_condition(condition).family
    except UsageError:  # a name outside emoprompt's grammar is simply the harness's own
        return "user"
    return family if family not in ("baseline", "") else "user"


def read_external(path: Path, columns: ColumnMap) -> Any:
    """A tidy frame from a CSV, JSONL or Parquet file of another harness's results (see `importers.table`)."""
    from emoprompt.importers.table import read_external as read

    return read(path, columns)
