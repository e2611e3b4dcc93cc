"""The Python entry points: run an experiment, read a run back.

    result = emoprompt.run(emoprompt.Experiment(conditions=["baseline", "PL01", MyTransform()]), out="results/x")
    result.summary                 # one row per model × condition: accuracy, Δ against baseline and control
    result.records                 # one row per cell
    result.report["html"]          # the report
    emoprompt.load_run("results/x")    # the same, read back from the folder
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emoprompt.backends import Backend, BackendOptions
from emoprompt.runner.experiment import Experiment, load_experiment
from emoprompt.runner.store import read_manifest, read_records
from emoprompt.schema import Manifest, Record

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Run:
    """A run folder: its manifest, its records as a frame (one row per cell), the per-condition summary as a frame,
    and the report's files. `counters` says what the last invocation did (None when read back)."""

    path: Path
    manifest: Manifest
    records: pd.DataFrame
    summary: pd.DataFrame
    report: dict[str, Path] = field(default_factory=dict)
    counters: Any = None

    @property
    def record_objects(self) -> list[Record]:
        """The records as typed objects."""
        return read_records(self.path)


def run(experiment: Experiment | str | Path, out: str | Path | None = None, *,
        backends: Mapping[str, Backend] | None = None, cache: bool = True, concurrency: int | None = None,
        retry_errors: bool = False, report: bool = True, progress: bool = False, data_dir: str | Path | None = None,
        timeout_s: float = 60.0, max_retries: int = 5, backoff_s: float = 1.0,
        options: BackendOptions | None = None) -> Run:
    """Run `experiment` (an Experiment, or an experiment file) into the folder `out` and report it.

    A folder that already holds the same experiment is continued (only missing cells run; `retry_errors` runs
    error cells again; a Batch API run goes on as one). `backends` maps model names to your own Backend objects;
    otherwise model strings are resolved (built-in prefixes, registered ones, plugins, litellm). `data_dir` holds
    benchmark data. `options` (a BackendOptions) replaces the timeout, retry and concurrency arguments and adds the
    rest: `batch=True`, endpoint pools' limits and affinity, `executor="ray"`.
    """
    import dataclasses

    from emoprompt.runner.plan import build_plan
    from emoprompt.runner.run import default_run_dir
    from emoprompt.runner.run import run as run_plan

    if not isinstance(experiment, Experiment):
        experiment = load_experiment(Path(experiment))
    options = options or BackendOptions(timeout_s=timeout_s, max_retries=max_retries, backoff_s=backoff_s,
                                        concurrency=concurrency)
    if out is not None and (Path(out) / "manifest.json").is_file():
        from emoprompt.runner.store import read_manifest

        if read_manifest(Path(out)).batches:
            options = dataclasses.replace(options, batch=True)
    plan = build_plan(experiment, backends, options, Path(data_dir) if data_dir is not None else None)
    run_dir = Path(out) if out is not None else default_run_dir(plan)
    result = run_plan(plan, run_dir, use_cache=cache, concurrency=concurrency, progress=progress,
                      retry_errors=retry_errors)
    paths: dict[str, Path] = {}
    if report:
        from emoprompt.report.runs import report_run

        paths = report_run(run_dir)
    loaded = load_run(run_dir)
    loaded.report = paths or loaded.report
    loaded.counters = result.counters
    return loaded


def load_run(path: str | Path) -> Run:
    """A run folder read back: manifest, records frame, summary frame and the report files present."""
    import pandas as pd

    run_dir = Path(path)
    manifest = read_manifest(run_dir)
    records = records_table(read_records(run_dir))
    summary = pd.DataFrame([_summary_row(row) for row in manifest.summary or []])
    reports = {kind: run_dir / name for kind, name in (("html", "report.html"), ("markdown", "report.md"),
                                                        ("analysis", "analysis.json")) if (run_dir / name).is_file()}
    return Run(run_dir, manifest, records, summary, reports)


def records_table(records: list[Record]) -> pd.DataFrame:
    """Records as a frame: one row per cell, every schema field a column, the error split into kind and message."""
    import pandas as pd

    rows = []
    for record in records:
        row = record.to_dict()
        error = row.pop("error")
        row["error_kind"] = error["kind"] if error else None
        row["error_message"] = error["message"] if error else None
        rows.append(row)
    columns = [*(name for name in Record.__dataclass_fields__ if name != "error"), "error_kind", "error_message"]
    return pd.DataFrame(rows, columns=columns)


def _summary_row(row: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in row.items() if k not in ("vs_baseline", "vs_control")}
    for side in ("vs_baseline", "vs_control"):
        contrast = row.get(side) or {}
        for key in ("diff", "ci_low", "ci_high"):
            flat[f"{side}_{key}"] = contrast.get(key)
        flat[f"{side}_p_value"] = contrast.get("p", contrast.get("p_value"))
    return flat
