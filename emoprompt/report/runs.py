"""Report a run folder, or records produced elsewhere (CSV, JSONL, Parquet)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from emoprompt.errors import UsageError
from emoprompt.report.render import write_report
from emoprompt.runner.store import iter_records, read_manifest
from emoprompt.stats.analysis import AnalysisSpec, analyze
from emoprompt.stats.frame import COLUMNS, records_frame
from emoprompt.stats.iterations import iteration_analysis
from emoprompt.stats.unpaired import analyze_unpaired


def spec_from_manifest(manifest: dict[str, Any]) -> AnalysisSpec:
    """The analysis plan a run declared before it started."""
    analysis = manifest.get("analysis") or {}
    conditions = manifest.get("conditions") or []
    return AnalysisSpec(
        baseline=analysis.get("baseline", "baseline"), control=manifest.get("control") or "baseline",
        alpha=float(analysis.get("alpha", 0.05)), sesoi=float(analysis.get("sesoi", 0.03)),
        families={c["name"]: c["family"] for c in conditions}, conditions=tuple(c["name"] for c in conditions),
        task_info=(manifest.get("identity") or {}).get("task_info") or {})


def report_run(run_dir: Path, out_dir: Path | None = None) -> dict[str, Path]:
    """Analyse a run folder's records and write its report next to them (or into `out_dir`)."""
    manifest = read_manifest(run_dir)
    if manifest.get("kind") == "ab":
        return _report_ab(run_dir, manifest, out_dir)
    records = list(iter_records(run_dir))
    if not records:
        raise UsageError(f"{run_dir} has no records yet; run it first (emoprompt run --resume {run_dir})")
    spec = spec_from_manifest(manifest)
    analysis = analyze(records_frame(records), spec)
    iterations = iteration_analysis(records, spec.baseline, spec.alpha)
    for model, result in iterations.items():
        analysis["models"].setdefault(model, {})["iterations"] = result
    title = f"emoprompt report: {manifest.get('experiment', {}).get('name', 'run')} ({run_dir.name})"
    return write_report(out_dir or run_dir, analysis, {"manifest": manifest, "title": title})


def _report_ab(run_dir: Path, manifest: dict[str, Any], out_dir: Path | None) -> dict[str, Path]:
    """An A/B folder: outcomes joined to calls (the latest outcome wins), then unpaired tests."""
    import json

    records = list(iter_records(run_dir))
    if not records:
        raise UsageError(f"{run_dir} has no recorded calls yet")
    outcomes_path = run_dir / "outcomes.jsonl"
    outcomes: dict[str, float] = {}
    if outcomes_path.is_file():
        for line in outcomes_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                outcomes[row["call_id"]] = row["score"]
    for record in records:
        if record["call_id"] in outcomes:
            record["score"] = outcomes[record["call_id"]]
    analysis = analyze_unpaired(records_frame(records), spec_from_manifest(manifest))
    title = f"emoprompt A/B report ({run_dir.name})"
    return write_report(out_dir or run_dir, analysis, {"manifest": manifest, "title": title, "unpaired": True})


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


def report_records(path: Path, columns: ColumnMap, out_dir: Path, control: str | None, baseline: str | None,
                   alpha: float, sesoi: float) -> dict[str, Path]:
    """Analyse an external file with the same engine as a run."""
    frame = read_external(path, columns)
    conditions = list(dict.fromkeys(frame["condition"]))
    baseline = baseline or ("baseline" if "baseline" in conditions else conditions[0])
    if baseline not in conditions:
        raise UsageError(f"baseline {baseline!r} is not a condition in {path.name}; choose from {conditions[:10]}")
    control = control or next((c for c in conditions if c.lower().startswith(("placebo", "pl0"))), baseline)
    if control not in conditions:
        raise UsageError(f"control {control!r} is not a condition in {path.name}; choose from {conditions[:10]}")
    families = {c: ("baseline" if c == baseline else "placebo" if c == control and c != baseline else "user")
                for c in conditions}
    spec = AnalysisSpec(baseline=baseline, control=control, alpha=alpha, sesoi=sesoi, families=families,
                        conditions=tuple(conditions))
    analysis = analyze(frame, spec)
    return write_report(out_dir, analysis, {"source": str(path), "title": f"emoprompt report: {path.name}"})
