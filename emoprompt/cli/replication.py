"""`emoprompt replicate` and `emoprompt select`: published protocols beside the papers, and the best stimulus chosen
honestly."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from emoprompt.cli.options import existing_folder, limit_value, model_names
from emoprompt.errors import UsageError


@click.command()
@click.argument("protocol")
@click.option("--model", multiple=True, help="The model(s) to run the protocol on (default: the embedded model).")
@click.option("--run", "run_dir", type=click.Path(path_type=Path),
              help="A finished run of the protocol: tabulate it beside the paper instead of running.")
@click.option("--limit", callback=lambda ctx, param, value: limit_value(value),
              help="Samples per task (seeded subset), or 'all'; default: the protocol's.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Folder holding benchmark data.")
@click.option("--out", type=click.Path(path_type=Path), help="The run folder (default: results/<run-id>).")
@click.option("--published", is_flag=True,
              help="Run nothing: re-analyse the study's published table (clustered where the study was not) and say "
                   "what its design could detect.")
def replicate(protocol: str, model: tuple[str, ...], run_dir: Path | None, limit: int | str | None,
              data_dir: Path | None, out: Path | None, published: bool) -> None:
    """Run a published protocol (or read a finished run of it) and write replication.md: the paper's aggregation on
    our records beside the paper's numbers, then absolute differences with intervals and an honest best stimulus.
    With --published, re-analyse the study's own published numbers instead."""
    from emoprompt.replication import write_replication
    from emoprompt.runner.experiment import load_experiment, protocol_names

    if published:
        click.echo(_published(protocol))
        return

    if protocol not in protocol_names():
        from emoprompt.errors import unknown_name

        raise unknown_name("protocol", protocol, protocol_names())
    if run_dir is None:
        from emoprompt.api import run

        experiment = load_experiment(Path(protocol))
        changes: dict[str, Any] = {}
        if model:
            changes["models"] = model_names(model)
        if limit is not None:
            changes["limit"] = None if limit == "all" else limit
        existing_folder(data_dir, "--data-dir")
        run_dir = run(replace(experiment, **changes), out, progress=True, data_dir=data_dir).path
    elif not run_dir.is_dir():
        raise UsageError(f"--run {run_dir} is not a run folder; give the folder of a finished run of {protocol}")
    paths = write_replication(run_dir, protocol)
    click.echo(paths["markdown"].read_text(encoding="utf-8"))
    click.echo(f"Replication: {paths['markdown']}\n             {paths['json']}")


def _published(protocol: str) -> str:
    from emoprompt.published import has_table, published_markdown, published_reanalysis
    from emoprompt.replication import reported, reported_protocols

    paper = reported(protocol)
    if not has_table(paper):
        names = [name for name in reported_protocols() if has_table(reported(name))]
        raise UsageError(f"no published table to re-analyse for {protocol!r}; protocols with one: {', '.join(names)}")
    return published_markdown(published_reanalysis(protocol, paper))


@click.command()
@click.argument("run_dir", required=False, type=click.Path(path_type=Path))
@click.option("--policy", type=click.Choice(["overall", "task", "length"]), default="overall", show_default=True,
              help="Choose one stimulus, one per task, or one per input-length band (routing).")
@click.option("--search", type=click.Choice(["halving"]), help="Run a budgeted search instead of reading a run.")
@click.option("--budget", type=int, help="With --search: the most cells to run, the final held-out estimate "
                                         "included.")
@click.option("--experiment", "experiment_file", type=click.Path(path_type=Path),
              help="With --search: the experiment file (its stimuli are the candidates).")
@click.option("--model", help="With --search: the model (default: the experiment's).")
@click.option("--out", type=click.Path(path_type=Path), help="With --search: the run folder.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="With --search: benchmark data.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the item split.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def select(run_dir: Path | None, policy: str, search: str | None, budget: int | None, experiment_file: Path | None,
           model: str | None, out: Path | None, data_dir: Path | None, seed: int, as_json: bool) -> None:
    """Pick the best stimulus honestly: the naive winner (optimistic) beside estimates on items that did not pick
    it; or, with --search halving, spend a budget of cells finding it (successive halving) and estimate it on
    held-out items."""
    if search:
        result = _halving(budget, experiment_file, model, out, data_dir, seed)
        if as_json:
            click.echo(json.dumps(result, indent=2, default=str))
            return
        estimate = result["estimate"]
        for round_ in result["rounds"]:
            ranked = ", ".join(f"{k} {100 * v:+.1f}" for k, v in round_["mean_differences"].items())
            click.echo(f"round {round_['round']}: {round_['items']} items; Δ pp vs {result['control']}: {ranked}")
        shown = f"[{100 * estimate['ci_low']:+.1f}, {100 * estimate['ci_high']:+.1f}]"
        click.echo(f"winner: {result['winner']}; on {result['held_out_items']} held-out items: Δ "
                   f"{100 * estimate['diff']:+.1f} pp {shown} p {estimate['p_value']:.3g}; {result['cells_run']:,} "
                   f"cells run of a budget of {result['budget']:,}")
        return
    if run_dir is None:
        raise UsageError("give a run folder, or --search halving --budget N --experiment FILE")
    paths = _selection_report(run_dir, policy, seed)
    analysis = json.loads(paths["analysis"].read_text(encoding="utf-8"))
    found = {model: result["selection"] for model, result in analysis["models"].items() if result.get("selection")}
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        raise UsageError(f"{run_dir} has fewer than two stimuli besides the control; nothing to choose from")
    from emoprompt.report.tables import selection_table

    for model, selection in found.items():
        table = selection_table(selection, analysis)
        click.echo(f"{model}: {table.title}")
        for row in table.rows:
            click.echo(f"  {row[0][:60]:<60} {row[1][:24]:<24} {row[3]:>24}  p {row[4]}")
    click.echo(f"Report: {paths['html']}")


def _selection_report(folder: Path, policy: str, seed: int) -> dict[str, Path]:
    """The report holding the selection: a run folder's, written again with `policy` and `seed`; or the one that
    `emoprompt report --records` already wrote into `folder` (with the default policy and seed)."""
    from emoprompt.report.runs import report_run

    if (folder / "manifest.json").is_file() or not (folder / "analysis.json").is_file():
        return report_run(folder, changes={"select": policy, "select_seed": seed})
    if policy != "overall" or seed != 0:
        raise UsageError(f"{folder} holds a report of imported records, chosen with --policy overall --seed 0; "
                         "run emoprompt select on a run folder to choose another policy or seed")
    return {"analysis": folder / "analysis.json", "html": folder / "report.html"}


def _halving(budget: int | None, experiment_file: Path | None, model: str | None, out: Path | None,
             data_dir: Path | None, seed: int) -> dict[str, Any]:
    from emoprompt.runner.experiment import Experiment, load_experiment
    from emoprompt.runner.halving import successive_halving
    from emoprompt.runner.run import now

    if budget is None or budget < 1:
        raise UsageError("--search halving needs --budget N (cells)")
    experiment = load_experiment(experiment_file) if experiment_file else Experiment(
        conditions=("PL01", "emotionprompt", "negativeprompt"))
    if model:
        experiment = replace(experiment, models=(model,))
    folder = out or Path("results") / f"search-{now().replace(':', '').replace('-', '')}"
    return successive_halving(experiment, budget, folder, seed=seed, data_dir=data_dir)


