"""`emoprompt report` and `emoprompt compare`: analyse a run folder, another harness's results or a table."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click

from emoprompt.cli.options import POSITIVE, PROBABILITY, flag, options
from emoprompt.errors import UsageError


@dataclasses.dataclass(frozen=True)
class ColumnFlags:
    """Which columns of another harness's table hold what (`--records FILE`, `--from table`)."""

    item_column: str = flag("--item-column", default="item", show_default=True)
    condition_column: str = flag("--condition-column", default="condition", show_default=True)
    score_column: str = flag("--score-column", default="score", show_default=True)
    task_column: str = flag("--task-column", default="task", show_default=True)
    model_column: str = flag("--model-column", default="model", show_default=True)
    repeat_column: str = flag("--repeat-column", default="repeat", show_default=True)
    parsed_column: str = flag("--parsed-column", default="parsed", show_default=True)

    def column_map(self) -> Any:
        from emoprompt.importers.base import ColumnMap

        return ColumnMap(self.item_column, self.condition_column, self.score_column, self.task_column,
                         self.model_column, self.repeat_column, self.parsed_column)


@dataclasses.dataclass(frozen=True)
class PlanFlags:
    """Changes to the analysis plan a report follows (the run's declared plan otherwise)."""

    control: str | None = flag("--control", help="The comparator (default: the run's declared control; for "
                                                 "--records: placebo*, else the baseline).")
    baseline: str | None = flag("--baseline", help="The unmodified condition (default: the run's; for --records: "
                                                   "'baseline', else the first).")
    alpha: float | None = flag("--alpha", type=PROBABILITY, help="Significance level for every test and interval "
                                                                "(default: the run's declared α, else 0.05).")
    sesoi: float | None = flag("--sesoi", type=POSITIVE, help="Smallest effect of interest in the scores' unit (0.03 "
                                                              "= 3 pp for 0–1 scores; required for scores outside "
                                                              "0–1).")

    def changes(self) -> dict[str, Any]:
        return {"control": self.control, "baseline": self.baseline, "alpha": self.alpha, "sesoi": self.sesoi}


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--from", "importer", metavar="NAME",
              help="Read other harnesses' results with this importer (table, or a registered one) from PATHS, write "
                   "them as a run folder (--out) and report it.")
@click.option("--rename", multiple=True, metavar="OLD=NEW", help="With --from: rename a condition.")
@click.option("--metric", metavar="NAME", help="With --from: the score to read — lm-eval NAME or NAME,FILTER (default: "
                                               "the task's first metric and filter), an inspect scorer (default: the "
                                               "first), promptfoo pass (default) or score.")
@click.option("--reducer", metavar="NAME", help="With --from inspect: how epochs are reduced (mean, median, mode, max, "
                                                "min, at_least_K; default: the log's own).")
@click.option("--conditions-from", "conditions_from", type=click.Choice(["task", "model"]),
              help="With --from: the prompt variants are tasks (lm-eval's usual way) or models/providers.")
@click.option("--pair", "pairs", multiple=True, metavar="A=B|PATTERN",
              help="With --conditions-from: tasks (or models) that are variants of the same items, e.g. "
                   "arith_terse=arith_polite or 'arith_*'.")
@click.option("--records", "records_file", type=click.Path(path_type=Path),
              help="Analyse a CSV/JSONL/Parquet file from another harness instead of a run folder.")
@click.option("--out", type=click.Path(path_type=Path), help="Where to write the report (default: beside the data).")
@options(ColumnFlags, "columns")
@options(PlanFlags, "plan")
@click.option("--dedupe", type=click.Choice(["first", "last", "mean"]),
              help="With --records or --from: merge rows that share (model, task, item, condition, repeat).")
def report(paths: tuple[Path, ...], importer: str | None, rename: tuple[str, ...], metric: str | None,
           reducer: str | None, conditions_from: str | None, pairs: tuple[str, ...], records_file: Path | None,
           out: Path | None, columns: ColumnFlags, plan: PlanFlags, dedupe: str | None) -> None:
    """Write analysis.json, report.md and report.html for a run folder (or for --records FILE, or --from NAME
    PATHS)."""
    from emoprompt.report.runs import report_run

    settings = {"metric": metric, "reducer": reducer, "conditions_from": conditions_from, "pairs": list(pairs)}
    settings = {key: value for key, value in settings.items() if value}
    if importer is not None:
        paths_out = _report_imported(importer, paths, rename, out, columns, plan, settings, dedupe)
    elif records_file is not None:
        from emoprompt.report.runs import report_records

        if paths:
            raise UsageError("give a run folder or --records FILE, not both")
        if settings:
            raise UsageError(f"--{next(iter(settings)).replace('_', '-')} goes with --from NAME PATHS")
        paths_out = report_records(records_file, columns.column_map(), out or records_file.parent, plan.control,
                                   plan.baseline, plan.alpha or 0.05, plan.sesoi, dedupe)
    else:
        if len(paths) != 1:
            raise UsageError("give a run folder or --records FILE (one of them)")
        if dedupe:
            raise UsageError("--dedupe goes with --records or --from; a run folder has one record per cell")
        if settings or rename:
            raise UsageError("--metric, --reducer, --conditions-from, --pair and --rename go with --from NAME PATHS")
        paths_out = report_run(paths[0], out, plan.changes())
    analysis = json.loads(paths_out["analysis"].read_text())
    for paragraph in analysis["headline"]:
        click.echo(paragraph + "\n")
    click.echo(f"Report: {paths_out['html']}\n        {paths_out['markdown']}\n        {paths_out['analysis']}")


def _report_imported(importer: str, paths: tuple[Path, ...], rename: tuple[str, ...], out: Path | None,
                     columns: ColumnFlags, plan: PlanFlags, settings: dict[str, Any], dedupe: str | None
                     ) -> dict[str, Path]:
    from emoprompt.importers.base import ImportOptions
    from emoprompt.importers.registry import importers
    from emoprompt.importers.writing import write_imported_run
    from emoprompt.report.runs import report_run

    read = importers.get(importer)
    if not paths:
        raise UsageError(f"--from {importer} needs the paths to read, e.g. emoprompt report --from {importer} FILE")
    renames = {}
    for pair in rename:
        old, equals, new = pair.rpartition("=")  # the last `=`: a prompt text may hold one, a new name should not
        if not equals or not old or not new:
            raise UsageError(f"--rename {pair!r} is not OLD=NEW")
        renames[old] = new
    options = ImportOptions(columns.column_map(), renames, plan.baseline, plan.control, settings)
    imported = read(list(paths), options)
    if dedupe:
        imported.records = _dedupe_records(imported.records, dedupe)
    run_dir = out or paths[0].with_name(f"{paths[0].stem}-emoprompt")
    existed = run_dir.exists()
    write_imported_run(imported, run_dir, importer, options)
    click.echo(f"emoprompt: {len(imported.records)} records imported → {run_dir}", err=True)
    for line in [*imported.notes, *imported.warnings]:
        click.echo(f"emoprompt: {line}", err=True)
    try:
        return report_run(run_dir, changes={**plan.changes(), "control": None, "baseline": None})
    except BaseException:
        if not existed:  # a failed import leaves nothing behind, so the same command can be retried
            import shutil

            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _dedupe_records(records: list[Any], policy: str) -> list[Any]:
    """Imported records sharing one cell merged by `policy` (first, last, or the mean score)."""
    groups: dict[tuple, list[Any]] = {}
    for record in records:
        groups.setdefault((record.model, record.task, record.sample_id, record.condition, record.repeat),
                          []).append(record)
    merged = []
    for group in groups.values():
        if policy == "mean":
            scores = [r.score for r in group if r.score is not None]
            merged.append(group[0].replace(score=sum(scores) / len(scores) if scores else None))
        else:
            merged.append(group[0] if policy == "first" else group[-1])
    return merged


@click.command()
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(run_a: Path, run_b: Path, as_json: bool) -> None:
    """Paired comparison RUN_B − RUN_A on the cells both runs share."""
    from emoprompt.report.formatting import interval, p_text, pp
    from emoprompt.runner.store import iter_records, read_manifest
    from emoprompt.stats.compare import compare_frames, run_differences
    from emoprompt.stats.frame import records_frame

    manifests = [read_manifest(folder) for folder in (run_a, run_b)]
    result = compare_frames(records_frame(iter_records(run_a)), records_frame(iter_records(run_b)))
    result["differences"] = run_differences(*manifests)
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
        return
    click.echo(f"A = {run_a}, B = {run_b}. What differs:")
    for line in result["differences"] or ["nothing in the models, settings, versions or dates"]:
        click.echo(f"  {line}")
    click.echo(f"{result['shared_cells']} shared cells ({result['only_first']} only in A, "
               f"{result['only_second']} only in B). Δ = B − A in percentage points.")
    for row in result["conditions"]:
        click.echo(f"  {row['condition']:<14} A {100 * row['mean_control']:5.1f}%"
                   f"  B {100 * row['mean_treatment']:5.1f}%"
                   f"  Δ {pp(row['diff'])} {interval(row['ci_low'], row['ci_high'])}  p {p_text(row['p_value'])}"
                   f"  p Holm {p_text(row['p_holm'])}")
    overall = result["overall"]
    if overall:
        click.echo(f"  {'all':<14} Δ {pp(overall['diff'])} {interval(overall['ci_low'], overall['ci_high'])}"
                   f"  p {p_text(overall['p_value'])} (paired t over items, conditions averaged)")


