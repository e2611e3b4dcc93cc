"""Imported records written as an ordinary run folder (kind `import`), which every command then reads as a run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from emoprompt.conditions import parse_condition
from emoprompt.errors import UsageError
from emoprompt.importers.base import Imported
from emoprompt.runner.store import RunStore
from emoprompt.schema import AnalysisPlan, ConditionInfo, Manifest


def write_imported_run(imported: Imported, run_dir: Path, importer: str) -> Path:
    """Write imported records as an ordinary run folder (kind `import`), with the baseline and control declared."""
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
            analysis=AnalysisPlan(baseline=baseline, control=control), source=imported.source,
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
    try:
        family = parse_condition(condition).family
    except UsageError:  # a name outside emoprompt's grammar is simply the harness's own
        return "user"
    return family if family not in ("baseline", "") else "user"
