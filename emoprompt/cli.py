"""emoprompt: prompt-level affect experiments on language models.

\b
Quick start (embedded model, built-in suite, offline):
  emoprompt run                       baseline, a placebo, EmotionPrompt and NegativePrompt stimuli
  emoprompt run --condition baseline --condition PL01 --condition emotionprompt --limit 50
  emoprompt run --model openai/gpt-4o-mini --task sum --repeats 3 --temperature 0.7
  emoprompt run --resume results/<run-id>      continue an interrupted run
  emoprompt stimuli list                       the stimulus library
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from emoprompt.errors import EmopromptError, UsageError


class _Group(click.Group):
    """Turns emoprompt's own errors into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EmopromptError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, help=__doc__)
@click.version_option(package_name="emoprompt")
def cli() -> None:
    """emoprompt command group."""


def _limit(value: str | None) -> int | str | None:
    if value is None:
        return None
    if value == "all":
        return "all"
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"--limit takes a number of samples per task or 'all', not {value!r}") from None


_EXPERIMENT_FLAGS = ("model", "api_base", "suite", "task", "condition", "placement", "separator", "limit",
                     "repeats", "temperature", "max_tokens", "seed", "stimuli", "control", "experiment")


@cli.command()
@click.argument("experiment", required=False, type=click.Path(path_type=Path))
@click.option("--model", multiple=True, help="hf/smollm2 (default), hf/<folder>, provider/model via litellm.")
@click.option("--api-base", help="Base URL of an OpenAI-compatible server (vLLM, llama.cpp, ...).")
@click.option("--suite", help="A shipped suite name or a suite file (default: builtin).")
@click.option("--task", multiple=True, help="Run only these tasks (repeatable).")
@click.option("--condition", multiple=True,
              help="baseline, a stimulus id (EP02, NP01, PL01, EP06:figure), a family (emotionprompt, "
                   "negativeprompt, placebo, control), optionally @placement (EP02@system). Repeatable.")
@click.option("--placement", help="after_instruction (default), end, start or system.")
@click.option("--separator", help="space (default), newline or none (NegativePrompt's released code).")
@click.option("--limit", help="Samples per task (seeded subset), or 'all'. Default: 25.")
@click.option("--repeats", type=int, help="Repeats per cell (K). Default: 1.")
@click.option("--temperature", type=float, help="Default: 0 (greedy).")
@click.option("--max-tokens", type=int, help="Default: 24.")
@click.option("--seed", type=int, help="Seed for sample subsets, demonstrations and condition order.")
@click.option("--stimuli", multiple=True, type=click.Path(path_type=Path), help="Your own stimulus file(s).")
@click.option("--control", help="Comparator for stimuli (default: the first placebo, else baseline).")
@click.option("--concurrency", type=int, help="Requests in flight (default: the backend's own).")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder (default: results/<run-id>).")
@click.option("--resume", type=click.Path(path_type=Path), help="Continue the run in this folder.")
@click.option("--retry-errors", is_flag=True, help="With --resume: run error cells again.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the response cache.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_context
def run(ctx: click.Context, **options: Any) -> None:
    """Run an experiment (flags override the EXPERIMENT file) and print the per-condition summary."""
    from emoprompt.runner.experiment import Experiment, load_experiment
    from emoprompt.runner.plan import build_plan
    from emoprompt.runner.run import default_run_dir, experiment_of
    from emoprompt.runner.run import run as run_plan
    from emoprompt.summary import format_summary

    if options["concurrency"] is not None and options["concurrency"] < 1:
        raise UsageError(f"--concurrency must be 1 or more, not {options['concurrency']}")
    if options["resume"] is not None:
        given = [name for name in _EXPERIMENT_FLAGS
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
        if given:
            raise UsageError(f"--resume continues a run as it was; drop --{given[0].replace('_', '-')}")
        run_dir = options["resume"]
        experiment = experiment_of(run_dir)
    else:
        if options["retry_errors"]:
            raise UsageError("--retry-errors goes with --resume RUN_DIR")
        base = load_experiment(options["experiment"]) if options["experiment"] else Experiment()
        experiment = _override(base, options)
        run_dir = options["out"]
    plan = build_plan(experiment)
    run_dir = run_dir or default_run_dir(plan)
    click.echo(f"emoprompt: {len(plan.cells)} cells ({len(plan.conditions)} conditions × "
               f"{len(plan.suite.tasks)} tasks × {experiment.repeats} repeats × {len(plan.backends)} models) "
               f"→ {run_dir}", err=True)
    try:
        result = run_plan(plan, run_dir, use_cache=not options["no_cache"], concurrency=options["concurrency"],
                          progress=not options["no_progress"], retry_errors=options["retry_errors"],
                          argv=sys.argv[1:])
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted; every finished cell is saved. Continue with: emoprompt run --resume {run_dir}",
                   err=True)
        ctx.exit(130)
    counters = result.counters
    click.echo(format_summary(result.summary, experiment.analysis.baseline, plan.control))
    click.echo(f"\n{counters.ran} cells run ({counters.cache_hits} cache hits, {counters.model_calls} model calls, "
               f"{counters.errors} errors) in {counters.wall_s:.1f} s; {counters.already_done} were done before.")
    if counters.errors or any(r.errors for r in result.summary):
        click.echo("Error cells are left out of the statistics; rerun them with "
                   f"`emoprompt run --resume {run_dir} --retry-errors`.")
    click.echo(f"Records: {run_dir / 'records.jsonl'}")


def _override(base: Any, options: dict[str, Any]) -> Any:
    from dataclasses import replace

    from emoprompt.chat import GenerateConfig
    from emoprompt.runner.experiment import AnalysisPlan

    changes: dict[str, Any] = {}
    for flag, field in (("model", "models"), ("task", "tasks"), ("condition", "conditions"),
                        ("stimuli", "stimuli_files")):
        if options[flag]:
            changes[field] = tuple(str(v) for v in options[flag])
    for flag in ("api_base", "suite", "placement", "separator", "repeats", "seed"):
        if options[flag] is not None:
            changes[flag] = options[flag]
    limit = _limit(options["limit"])
    if limit is not None:
        changes["limit"] = None if limit == "all" else limit
    generation: GenerateConfig = base.generation
    if options["temperature"] is not None:
        generation = replace(generation, temperature=options["temperature"])
    if options["max_tokens"] is not None:
        generation = replace(generation, max_tokens=options["max_tokens"])
    if options["seed"] is not None and generation.temperature > 0:
        generation = replace(generation, seed=options["seed"])
    changes["generation"] = generation
    if options["control"]:
        changes["analysis"] = AnalysisPlan(**{**base.analysis.__dict__, "control": options["control"]})
    return replace(base, **changes)


@cli.group()
def stimuli() -> None:
    """The stimulus library: EmotionPrompt, NegativePrompt, placebos and controls."""


@stimuli.command("list")
@click.option("--family", help="Only this family.")
@click.option("--file", "files", multiple=True, type=click.Path(path_type=Path), help="Add your own file(s).")
def stimuli_list(family: str | None, files: tuple[Path, ...]) -> None:
    """One line per stimulus: id, family, theories, text."""
    from emoprompt.errors import unknown_name
    from emoprompt.stimuli import FAMILIES, load_library

    if family and family not in FAMILIES:
        raise unknown_name("stimulus family", family, FAMILIES)
    for stimulus in sorted(load_library(files), key=lambda s: (s.family, s.id)):
        if family and stimulus.family != family:
            continue
        theories = ",".join(sorted(stimulus.theories)) or "-"
        text = stimulus.text if len(stimulus.text) <= 70 else stimulus.text[:67] + "..."
        click.echo(f"{stimulus.id:<7} {stimulus.family:<15} {theories:<45} {text}")


@stimuli.command("show")
@click.argument("stimulus_id")
@click.option("--file", "files", multiple=True, type=click.Path(path_type=Path), help="Add your own file(s).")
def stimuli_show(stimulus_id: str, files: tuple[Path, ...]) -> None:
    """Everything about one stimulus (ID or ID:variant)."""
    from emoprompt.stimuli import load_library

    stimulus = load_library(files).get(stimulus_id)
    click.echo(f"id:        {stimulus.label}")
    click.echo(f"family:    {stimulus.family}")
    click.echo(f"theories:  {', '.join(sorted(stimulus.theories)) or '-'}")
    click.echo(f"source:    {stimulus.source}")
    if stimulus.code_pnum is not None:
        verified = "verified" if stimulus.mapping_verified else "unverified mapping"
        click.echo(f"code pnum: {stimulus.code_pnum} ({verified})")
    click.echo(f"text:      {stimulus.text}")
    for name, text in stimulus.variants:
        click.echo(f"variant {name}: {text}")
    if stimulus.notes:
        click.echo(f"notes:     {stimulus.notes}")


@cli.group()
def suites() -> None:
    """Task suites."""


@suites.command("list")
def suites_list() -> None:
    """The shipped suites."""
    from emoprompt.suites.loader import builtin_suite_names, load_suite

    for name in builtin_suite_names():
        suite = load_suite(name)
        click.echo(f"{name:<24} {len(suite.tasks):>3} tasks  {suite.description}")


@suites.command("show")
@click.argument("suite")
def suites_show(suite: str) -> None:
    """The tasks of a suite, with one rendered prompt."""
    from emoprompt.suites.loader import load_suite, pick_demos
    from emoprompt.suites.templates import get_template

    loaded = load_suite(suite)
    for task in loaded.tasks:
        click.echo(f"{task.name:<22} {len(task.samples):>5} samples  scorer={task.scorer:<17} {task.instruction}")
    first = loaded.tasks[0]
    chat = get_template(first.template).render(first.query(first.samples[0], pick_demos(first, first.samples[0].id, 0)))
    click.echo(f"\nExample prompt ({first.name}):")
    for message in chat:
        click.echo(f"[{message.role}] {message.content!r}")


def main() -> None:
    """Console entry point."""
    cli.main(prog_name="emoprompt")
