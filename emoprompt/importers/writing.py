"""Imported records written as an ordinary run folder (kind `import`), which every command then reads as a run."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from emoprompt.conditions import parse_condition
from emoprompt.errors import UsageError
from emoprompt.importers.base import Imported, ImportOptions
from emoprompt.importers.checks import aggregate_comparisons, settle
from emoprompt.runner.store import RunStore
from emoprompt.schema import AnalysisPlan, ConditionInfo, Manifest


def write_imported_run(imported: Imported, run_dir: Path, importer: str, options: ImportOptions | None = None
                       ) -> Path:
    """Write imported records as an ordinary run folder (kind `import`), with the baseline and control declared,
    after `checks.settle` (the user's mapping and renames in `options`; the harness's aggregates, pairing and
    reused answers checked). What was read and every warning go to the manifest (`metadata.import`), which the
    report shows. The folder appears whole or not at all."""
    if not imported.records:
        raise UsageError(f"the {importer} importer found no records in {imported.source}; check the paths")
    settle(imported, options or ImportOptions(baseline=imported.baseline, control=imported.control))
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise UsageError(f"{run_dir} already exists and is not empty; choose another --out")
    partial = run_dir.with_name(f".{run_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        _write(imported, partial, importer, run_dir.name)
        if run_dir.exists():
            run_dir.rmdir()
        partial.rename(run_dir)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return run_dir


def _write(imported: Imported, run_dir: Path, importer: str, run_id: str) -> None:
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
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        read = {"read": imported.notes, "warnings": imported.warnings,
                "aggregates": aggregate_comparisons(imported)}
        store.write_manifest(Manifest(
            run_id=run_id, kind="import", metadata={"import": read},
            experiment={"name": f"{importer} import", "suite": importer},
            conditions=[ConditionInfo(c, families[c]) for c in conditions], control=control,
            analysis=AnalysisPlan(baseline=baseline, control=control), source=imported.source,
            records=len(imported.records), status="complete", started=now, finished=now))
        for record in imported.records:
            store.append(record.replace(family=families[record.condition]))
    finally:
        store.close()


def _family(condition: str, baseline: str, control: str) -> str:
    """A condition's family: the baseline and the control by role, an emoprompt condition name by its own family,
    anything else `user`."""
    if condition == baseline:
        return "baseline"
    if condition == control:
        return "placebo"
    try:
        family = parse_condition(condition).family
    except UsageError:  # a name outside emoprompt's grammar is simply the harness's own
        return "user"
    return family if family not in ("baseline", "") else "user"
