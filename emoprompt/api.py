"""The Python entry points: run or resume an experiment, read a run back. The command line is a shell over these.

    result = emoprompt.run(emoprompt.Experiment(conditions=["baseline", "PL01", MyTransform()]), out="results/x")
    result.summary                 # one row per model × condition: accuracy, Δ against baseline and control
    result.records                 # one row per cell
    result.report["html"]          # the report
    emoprompt.resume("results/x")  # continue it after a crash, a kill or a closed laptop
    emoprompt.load_run("results/x")    # the same, read back from the folder
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emoprompt.backends import Backend, BackendOptions
from emoprompt.errors import UsageError
from emoprompt.report.summary import ConditionSummary, summary_dicts, summary_of_analysis
from emoprompt.runner.experiment import Experiment, load_experiment
from emoprompt.runner.store import read_manifest, read_records
from emoprompt.schema import Manifest, Record
from emoprompt.stats.scale import Scale
from emoprompt.usage import Usage

if TYPE_CHECKING:
    import pandas as pd

    from emoprompt.runner.execute import RunCounters
    from emoprompt.runner.plan import RunPlan

Announce = Callable[["RunPlan", Path], None]
"""Called once a run's plan is built and its folder chosen, before any cell runs (the command line prints what is
about to run)."""


@dataclass
class Run:
    """A run folder: its manifest, its records as a frame (one row per cell), the per-condition summary, and the
    report's files. `counters`, `plan`, `usage` and `notes` say what the last invocation did (None or empty when
    read back); `analysis` is the report's analysis when one was written or read."""

    path: Path
    manifest: Manifest
    report: dict[str, Path] = field(default_factory=dict)
    counters: RunCounters | None = None
    conditions: list[ConditionSummary] = field(default_factory=list)
    """The summary as typed rows (what the terminal prints)."""
    usage: list[Usage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    analysis: dict[str, Any] | None = None
    plan: RunPlan | None = None
    scale: Scale = field(default_factory=Scale)
    """How the scores read: percentage points for 0–1 scores, else points (from the scores themselves)."""
    error_kinds: dict[str, int] = field(default_factory=dict)
    """Error cells of the whole folder by kind, most frequent first."""

    @functools.cached_property
    def records(self) -> pd.DataFrame:
        """One row per cell: every record field a column, the error split into kind and message."""
        return records_table(read_records(self.path))

    @functools.cached_property
    def summary(self) -> pd.DataFrame:
        """One row per model × condition (the manifest's summary, differences flattened into columns)."""
        import pandas as pd

        return pd.DataFrame([_summary_row(row) for row in self.manifest.summary or []])

    @property
    def record_objects(self) -> list[Record]:
        """The records as typed objects."""
        return read_records(self.path)


def run(experiment: Experiment | str | Path, out: str | Path | None = None, *,
        backends: Mapping[str, Backend] | None = None, cache: bool = True, concurrency: int | None = None,
        retry_errors: bool = False, report: bool = True, progress: bool = False, data_dir: str | Path | None = None,
        timeout_s: float = 60.0, max_retries: int = 5, backoff_s: float = 1.0,
        options: BackendOptions | None = None, repair: bool = False, argv: list[str] | None = None,
        announce: Announce | None = None) -> Run:
    """Run `experiment` (an Experiment, or an experiment file) into the folder `out` and report it.

    A folder that already holds the same experiment is continued (only missing cells run; `retry_errors` runs
    error cells again; `repair` first sets aside lines of records.jsonl that are not valid records; a Batch API
    run goes on as one). `backends` maps model names to your own Backend objects; otherwise model strings are
    resolved (built-in prefixes, registered ones, plugins, litellm). `data_dir` holds benchmark data. `options` (a
    BackendOptions) replaces the timeout, retry and concurrency arguments and adds the rest: `batch=True`, endpoint
    pools' limits and affinity, `executor="ray"`. The report is written when cells ran or it is missing; `report=
    False` writes none and imports nothing of the analysis stack.
    """
    if not isinstance(experiment, Experiment):
        experiment = load_experiment(Path(experiment))
    options = options or BackendOptions(timeout_s=timeout_s, max_retries=max_retries, backoff_s=backoff_s,
                                        concurrency=concurrency)
    if out is not None and (Path(out) / "manifest.json").is_file() and read_manifest(Path(out)).batches:
        options = dataclasses.replace(options, batch=True)  # a Batch API run goes on as one: polled, not re-sent
    return _run(experiment, Path(out) if out is not None else None, backends, options, cache, retry_errors, report,
                progress, Path(data_dir) if data_dir is not None else None, repair, argv, announce)


def resume(path: str | Path, *, api_base: str | tuple[str, ...] | None = None,
           backends: Mapping[str, Backend] | None = None, cache: bool = True, retry_errors: bool = False,
           repair: bool = False, report: bool = True, progress: bool = False, data_dir: str | Path | None = None,
           options: BackendOptions | None = None, argv: list[str] | None = None,
           announce: Announce | None = None, settings: Mapping[str, Any] | None = None) -> Run:
    """Continue the run in `path` as it was started: its experiment, data folder, way of sending (a Batch API run
    polls its batches) and the settings that change what a cell records (timeout, retries, backoff, the longest
    answer kept), except those `settings` changes. `api_base` is needed only where the run's endpoint carried
    credentials, which are never saved: it must be that endpoint with them (or, for a pool, the pool's replicas,
    which may differ)."""
    from emoprompt.backends.base import RECORD_SETTINGS
    from emoprompt.runner.run import experiment_of

    run_dir = Path(path)
    experiment = _with_endpoint(experiment_of(run_dir), api_base)
    stored = read_manifest(run_dir)
    options = options or BackendOptions()
    kept = {name: value for name, value in (stored.settings or {}).items() if name in RECORD_SETTINGS}
    options = dataclasses.replace(options, **{**kept, **dict(settings or {})})
    if stored.batches:
        options = dataclasses.replace(options, batch=True)
    if data_dir is None and stored.data_dir:
        data_dir = stored.data_dir
    return _run(experiment, run_dir, backends, options, cache, retry_errors, report, progress,
                Path(data_dir) if data_dir is not None else None, repair, argv, announce)


def _with_endpoint(experiment: Experiment, api_base: str | tuple[str, ...] | None) -> Experiment:
    """The resumed experiment with the endpoint given again: the same URL with its credentials, or other replicas
    of a pool; anything else is refused (a resumed run continues as it was)."""
    from emoprompt.secrets import REDACTED, redact_url

    stored = experiment.api_base
    if api_base is None:
        if isinstance(stored, str) and REDACTED in stored:
            raise UsageError(f"this run's endpoint {stored} carried credentials, which are never saved; resume with "
                             "--api-base and the full URL")
        return experiment
    if isinstance(stored, tuple):
        if isinstance(api_base, str):
            raise UsageError("this run used an endpoint pool; give its replicas again with --pool or --api-base")
        return dataclasses.replace(experiment, api_base=api_base)
    if isinstance(api_base, tuple):
        raise UsageError("--pool on --resume replaces the replicas of a pool run; this run has one endpoint")
    if stored is None or redact_url(api_base) != stored:
        raise UsageError(f"--api-base differs from this run's endpoint {stored}; a resumed run continues as it was "
                         "(give the same URL, with its credentials)")
    return dataclasses.replace(experiment, api_base=api_base)


def _run(experiment: Experiment, out: Path | None, backends: Mapping[str, Backend] | None, options: BackendOptions,
         cache: bool, retry_errors: bool, report: bool, progress: bool, data_dir: Path | None, repair: bool,
         argv: list[str] | None, announce: Announce | None) -> Run:
    from emoprompt.runner.plan import build_plan
    from emoprompt.runner.run import default_run_dir
    from emoprompt.runner.run import run as run_plan

    options = dataclasses.replace(options, rpm=options.rpm or experiment.rpm, tpm=options.tpm or experiment.tpm)
    plan = build_plan(experiment, backends, options, data_dir.resolve() if data_dir is not None else None)
    run_dir = out or default_run_dir(plan)
    if announce is not None:
        announce(plan, run_dir)
    if report:
        _import_in_background("emoprompt.stats.analysis")
    from emoprompt.backends.base import record_settings

    result = run_plan(plan, run_dir, use_cache=cache, concurrency=options.concurrency, progress=progress,
                      retry_errors=retry_errors, argv=argv, repair=repair, settings=record_settings(options),
                      grace_s=options.stop_grace_s)
    finished = Run(run_dir, result.manifest, counters=result.counters, usage=result.usage, notes=result.notes,
                   plan=plan)
    answered = [cell for _, cell, _ in result.digests if not cell[3]]
    for _, cell, _ in result.digests:
        if cell[3]:
            finished.error_kinds[cell[3]] = finished.error_kinds.get(cell[3], 0) + 1
    finished.error_kinds = dict(sorted(finished.error_kinds.items(), key=lambda item: -item[1]))
    finished.scale = Scale.of_values(cell[1] for cell in answered)
    if report and answered:
        finished.report, finished.analysis = _report(run_dir, cells_ran=result.counters.ran > 0)
        finished.conditions = summary_of_analysis(finished.analysis)
    else:
        from emoprompt.report.summary import summary_of_cells

        finished.conditions = summary_of_cells([(model, cell) for model, cell, _ in result.digests],
                                               [c.name for c in plan.conditions])
    from emoprompt.runner.store import RunStore

    finished.manifest = read_manifest(run_dir).replace(summary=summary_dicts(finished.conditions))
    RunStore(run_dir).write_manifest(finished.manifest)
    return finished


def _import_in_background(module: str) -> None:
    """Import `module` (the analysis stack: pandas takes about half a second) on a thread while the run's requests
    are in flight, so the report after the last cell does not wait for it."""
    import importlib
    import threading

    threading.Thread(target=importlib.import_module, args=(module,), name="emoprompt-imports", daemon=True).start()


def _report(run_dir: Path, cells_ran: bool) -> tuple[dict[str, Path], dict[str, Any]]:
    """The run's report, written when cells ran in this invocation or when it is missing or broken; else the one
    already there, read back."""
    from emoprompt.report.render import report_is_complete
    from emoprompt.report.runs import report_run

    if cells_ran or not report_is_complete(run_dir):
        paths = report_run(run_dir)
    else:
        paths = {kind: run_dir / name for kind, name in (("html", "report.html"), ("markdown", "report.md"),
                                                          ("analysis", "analysis.json"))}
    return paths, json.loads(paths["analysis"].read_text(encoding="utf-8"))


def load_run(path: str | Path) -> Run:
    """A run folder read back: manifest, records frame, summary frame and the report files present."""
    run_dir = Path(path)
    manifest = read_manifest(run_dir)
    reports = {kind: run_dir / name for kind, name in (("html", "report.html"), ("markdown", "report.md"),
                                                        ("analysis", "analysis.json")) if (run_dir / name).is_file()}
    conditions = [ConditionSummary.from_dict(row) for row in manifest.summary or []]
    usage = [Usage.from_dict(row) for row in manifest.usage or []]
    return Run(run_dir, manifest, reports, conditions=conditions, usage=usage)


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
