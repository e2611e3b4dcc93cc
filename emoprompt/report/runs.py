"""Report a run folder, or records produced elsewhere (CSV, JSONL, Parquet)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from emoprompt.errors import UsageError
from emoprompt.report.render import write_report
from emoprompt.runner.store import read_manifest, read_records
from emoprompt.schema import AnalysisPlan, Manifest, Record
from emoprompt.stats.spec import json_safe

if TYPE_CHECKING:
    from emoprompt.importers.base import ColumnMap
    from emoprompt.stats.result import Analysis


def plan_of_run(manifest: Manifest, changes: dict[str, Any] | None = None) -> AnalysisPlan:
    """The analysis plan a run declared before it started, with the facts of its design, and what `report` was told
    to change (`changes`: alpha, control, baseline, sesoi, select; None keeps the run's)."""
    declared = manifest.analysis
    repeats = manifest.experiment.get("repeats") if manifest.kind == "experiment" else None
    select = declared.select or (manifest.experiment.get("analysis") or {}).get("select")
    plan = AnalysisPlan(
        baseline=declared.baseline, control=manifest.control or declared.control or "baseline",
        alpha=declared.alpha, sesoi=declared.sesoi, select=select,
        families={c.name: c.family for c in manifest.conditions}, conditions=list(manifest.condition_names),
        task_info=manifest.identity.get("task_info") or {}, repeats=repeats if isinstance(repeats, int) else None)
    return plan.changed(**(changes or {}))


def report_run(run_dir: Path, out_dir: Path | None = None, changes: dict[str, Any] | None = None,
               records: list[Record] | None = None) -> dict[str, Path]:
    """Analyse a run folder's records and write its report next to them (or into `out_dir`); `changes` to the run's
    analysis plan as `plan_of_run` takes them; `records`, when given, are that folder's records already read."""
    manifest = read_manifest(run_dir)
    if manifest.kind == "ab":
        return _report_ab(run_dir, manifest, out_dir, changes)
    records = read_records(run_dir) if records is None else records
    if not records:
        raise UsageError(f"{run_dir} has no records yet; run it first (emoprompt run --resume {run_dir})")
    spec = plan_of_run(manifest, changes)
    analysis = _analyze_run(records, spec)
    title = f"emoprompt report: {manifest.experiment.get('name', 'run')} ({run_dir.name})"
    return write_report(out_dir or run_dir, analysis, {"manifest": manifest.to_dict(), "title": title})


def _analyze_run(records: list[Record], spec: AnalysisPlan) -> dict[str, Any]:
    """The full analysis of a run's records: contrasts, the honest "best stimulus" estimates, feedback loops."""
    from emoprompt.stats.analysis import analyze
    from emoprompt.stats.frame import records_frame
    from emoprompt.stats.iterations import iteration_analysis

    frame = records_frame(records)
    analysis = analyze(frame, spec)
    _add_selections(analysis, frame, spec)
    for model, result in iteration_analysis(records, spec.baseline, spec.alpha).items():
        if model in analysis.models:
            analysis.models[model].iterations = result
    return analysis.to_dict()


def _add_selections(analysis: Analysis, frame: Any, spec: AnalysisPlan) -> None:
    """The honest "best stimulus" section of every model with two or more stimuli."""
    from emoprompt.stats.selection import selection_by_model

    for model, result in selection_by_model(frame, spec.comparator, spec.families, analysis.data.K, spec.alpha,
                                            spec.select or "overall", seed=spec.select_seed).items():
        analysis.models[model].selection = json_safe(result)


def _report_ab(run_dir: Path, manifest: Manifest, out_dir: Path | None, changes: dict[str, Any] | None
               ) -> dict[str, Path]:
    """An A/B folder: outcomes joined to calls (the latest outcome wins), then unpaired tests."""
    from emoprompt.abtest import read_outcomes
    from emoprompt.stats.frame import records_frame
    from emoprompt.stats.unpaired import analyze_unpaired

    records = read_records(run_dir)
    if not records:
        raise UsageError(f"{run_dir} has no recorded calls yet")
    outcomes = read_outcomes(run_dir)
    records = [r.replace(score=outcomes[r.call_id]) if r.call_id in outcomes else r for r in records]
    plan = plan_of_run(manifest, changes)
    analysis = analyze_unpaired(records_frame(records), plan)
    from emoprompt.ab_status import ab_status, design

    if design(run_dir)["enabled"]:
        analysis["sequential"] = ab_status(run_dir, (changes or {}).get("alpha")).to_dict()
    title = f"emoprompt A/B report ({run_dir.name})"
    return write_report(out_dir or run_dir, analysis, {"manifest": manifest.to_dict(), "title": title,
                                                       "unpaired": True})


def report_records(path: Path, columns: ColumnMap, out_dir: Path, control: str | None, baseline: str | None,
                   alpha: float, sesoi: float | None, dedupe_policy: str | None = None) -> dict[str, Path]:
    """Analyse an external file with the same engine as a run. Scores outside 0–1 are analysed in their own
    points, and then the smallest effect of interest must be given in those points."""
    from emoprompt.importers.table import read_external
    from emoprompt.stats.analysis import analyze
    from emoprompt.stats.frame import dedupe
    from emoprompt.stats.scale import Scale

    frame = dedupe(read_external(path, columns), dedupe_policy)
    scale = Scale.of(frame.loc[frame["error"].isna(), "score"])
    if sesoi is None:
        if not scale.proportions:
            raise UsageError(f"{path}: scores range from {scale.low:g} to {scale.high:g}, not 0–1; give the smallest "
                             "effect of interest in those points with --sesoi (for example --sesoi 0.5)")
        sesoi = 0.03
    conditions = frame["condition"].unique().tolist()
    baseline = baseline or ("baseline" if "baseline" in conditions else conditions[0])
    if baseline not in conditions:
        raise UsageError(f"baseline {baseline!r} is not a condition in {path.name}; choose from {conditions[:10]}")
    control = control or next((c for c in conditions if c.lower().startswith(("placebo", "pl0"))), baseline)
    if control not in conditions:
        raise UsageError(f"control {control!r} is not a condition in {path.name}; choose from {conditions[:10]}")
    families = {c: ("baseline" if c == baseline else "placebo" if c == control and c != baseline else "user")
                for c in conditions}
    spec = AnalysisPlan(baseline=baseline, control=control, alpha=alpha, sesoi=sesoi, families=families,
                        conditions=list(conditions))
    typed = analyze(frame, spec)
    _add_selections(typed, frame, spec)
    typed.warnings.extend(frame.attrs.get("notes") or [])
    return write_report(out_dir, typed.to_dict(), {"source": str(path), "title": f"emoprompt report: {path.name}"})


def pilot_components_of(run_dir: Path) -> Any:
    """The variance components of a finished pilot run folder (`emoprompt plan --pilot`)."""
    from emoprompt.stats.allocation import pilot_components
    from emoprompt.stats.frame import records_frame

    return pilot_components(records_frame(read_records(run_dir)), plan_of_run(read_manifest(run_dir)), run_dir)
