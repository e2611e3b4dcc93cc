"""`emoprompt gate`: ALLOW, REJECT or INCONCLUSIVE for a prompt (or model) change, as a CI step's exit code."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import click

from emoprompt.cli.options import AT_LEAST_ONE, PROBABILITY, existing_folder, flag, given_on_command_line, options
from emoprompt.cli.run import EndpointFlags, ExperimentFlags, SendingFlags
from emoprompt.errors import UsageError
from emoprompt.mapping_files import MAPPING_SUFFIXES

GATE_EXIT_CODES = """\b
Exit codes:
  0    ALLOW: the candidate is no worse than the margin (or, with --superiority, better)
  10   REJECT: the candidate is worse (or, with --superiority, not better by the margin)
  11   INCONCLUSIVE: not enough items to tell; the output says about how many more would
  2    bad input: nothing was gated
  130, 143  interrupted (the run folder keeps every cell; run the same command again)"""


@dataclasses.dataclass(frozen=True)
class QuestionFlags:
    """What the gate asks."""

    margin: str | None = flag("--margin", metavar="MARGIN",
                              help="How much worse the candidate may be: 2pp for 0–1 scores (or 0.02), a number of "
                                   "points for other scores. With --superiority: the gain it must show (default 0).")
    superiority: bool = flag("--superiority", is_flag=True, help="Ask whether the candidate is better instead.")
    alpha: float = flag("--alpha", type=PROBABILITY, default=0.05, show_default=True,
                        help="Error rate of each verdict: a false ALLOW (a regression let through) and a false "
                             "REJECT each happen at most this often.")
    power: float = flag("--power", type=PROBABILITY, default=0.8, show_default=True,
                        help="For the items suggested when the gate is INCONCLUSIVE.")
    reference: str | None = flag("--reference", metavar="NAME",
                                 help="The reference condition (or model) — default: baseline, else the first.")
    candidate: tuple[str, ...] = flag("--candidate", multiple=True, metavar="NAME",
                                      help="A candidate condition (or model); default: every other one.")


@dataclasses.dataclass(frozen=True)
class OutputFlags:
    """Where the verdict goes besides the exit code (the Markdown summary also goes to $GITHUB_STEP_SUMMARY)."""

    json_path: Path | None = flag("--json", type=click.Path(path_type=Path), help="Write the report as JSON.")
    junit_path: Path | None = flag("--junit", type=click.Path(path_type=Path),
                                   help="Write JUnit XML: one test case per gated contrast.")
    markdown_path: Path | None = flag("--markdown", type=click.Path(path_type=Path), help="Write the Markdown summary.")


@dataclasses.dataclass(frozen=True)
class SequentialFlags:
    """Running an experiment for the gate: all items, or in rounds until the verdict is known."""

    sequential: bool = flag("--sequential", is_flag=True,
                            help="Run items in rounds and stop as soon as an anytime-valid test decides.")
    round_items: int = flag("--round", type=AT_LEAST_ONE, default=50, show_default=True,
                            help="--sequential: items per round.")
    max_calls: int | None = flag("--max-calls", type=AT_LEAST_ONE,
                                 help="--sequential: stop INCONCLUSIVE before the run makes more model calls than this "
                                      "(earlier invocations count).")
    out: Path | None = flag("--out", type=click.Path(path_type=Path),
                            help="The run folder for an experiment (default: results/gate-<experiment hash>); run "
                                 "the same command again to continue it.")
    data_dir: Path | None = flag("--data-dir", type=click.Path(path_type=Path), help="Benchmark data folder.")
    no_progress: bool = flag("--no-progress", is_flag=True, help="No progress bar.")


@click.command(epilog=GATE_EXIT_CODES)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@options(QuestionFlags, "question")
@options(OutputFlags, "outputs")
@options(SequentialFlags, "running")
@click.option("--from", "importer", metavar="NAME",
              help="PATHS are another harness's results (lm-eval, inspect, promptfoo, table): the reference's, then "
                   "the candidate's.")
@click.option("--metric", metavar="NAME", help="With --from: the score to read (as for emoprompt report --from).")
@options(ExperimentFlags, "flags")
@options(EndpointFlags, "endpoint")
@options(SendingFlags, "sending")
@click.pass_context
def gate(ctx: click.Context, paths: tuple[Path, ...], question: QuestionFlags, outputs: OutputFlags,
         running: SequentialFlags, importer: str | None, metric: str | None, flags: ExperimentFlags,
         endpoint: EndpointFlags, sending: SendingFlags) -> None:
    """Gate a change: is the candidate no worse than the reference by more than --margin (or, with
    --superiority, better)? PATHS: two run folders (the reference's, then the candidate's; paired on the items they
    share), one run folder with both conditions, an experiment file to run, or nothing (run the experiment the
    flags describe). Paired by item, one pre-declared test, the verdict as the exit code."""
    from emoprompt.gate.outputs import terminal, write_outputs
    from emoprompt.gate.sources import GateQuestion

    if question.margin is None and not question.superiority:
        raise UsageError("give --margin (how much worse the candidate may be, e.g. --margin 2pp), or --superiority")
    from emoprompt.gate.verdicts import parse_margin

    asked = GateQuestion(parse_margin(question.margin or "0"), question.superiority, question.alpha, question.power,
                         question.reference, question.candidate)
    report = _gate(ctx, paths, asked, running, importer, metric, flags, endpoint, sending)
    write_outputs(report, outputs.json_path, outputs.junit_path, outputs.markdown_path,
                  os.environ.get("GITHUB_STEP_SUMMARY"))
    click.echo(terminal(report))
    ctx.exit(report.exit_code)


def _gate(ctx: click.Context, paths: tuple[Path, ...], asked: Any, running: SequentialFlags, importer: str | None,
          metric: str | None, flags: ExperimentFlags, endpoint: EndpointFlags, sending: SendingFlags) -> Any:
    from emoprompt.gate.sources import gate_folders, gate_imported

    typed = given_on_command_line(ctx, flags)
    experiment_file = len(paths) == 1 and paths[0].suffix.lower() in MAPPING_SUFFIXES and not paths[0].is_dir()
    if importer is not None:
        if typed or running.sequential:
            raise UsageError(f"--from reads finished results; drop {typed[0] if typed else '--sequential'}")
        if not paths or len(paths) > 2:
            raise UsageError(f"--from {importer} needs the reference's results and the candidate's (or one path "
                             "holding both)")
        _exist(paths)
        return gate_imported(importer, list(paths), asked, {"metric": metric} if metric else {})
    if metric:
        raise UsageError("--metric goes with --from NAME")
    if paths and not experiment_file:
        _exist(paths)
        resumable = len(paths) == 1 and running.sequential
        if typed and not resumable:
            raise UsageError(f"{typed[0]} describes an experiment to run; run folders are gated as they are")
        if resumable:
            return _run(paths[0], None, asked, running, endpoint, sending, flags)
        if running.sequential:
            raise UsageError("--sequential runs an experiment in rounds; give an experiment (file or flags) or the "
                             "folder of a sequential gate to continue")
        return gate_folders(list(paths), asked)
    if paths and not paths[0].is_file():
        raise UsageError(f"{paths[0]} does not exist; give an experiment file or run folders")
    return _run(None, paths[0] if paths else None, asked, running, endpoint, sending, flags)


def _run(folder: Path | None, experiment_file: Path | None, asked: Any, running: SequentialFlags,
         endpoint: EndpointFlags, sending: SendingFlags, flags: ExperimentFlags) -> Any:
    from emoprompt.gate.sources import gate_experiment
    from emoprompt.runner.experiment import Experiment, load_experiment
    from emoprompt.runner.run import experiment_of

    existing_folder(running.data_dir, "--data-dir")
    api_base, limits = endpoint.endpoints()
    backend_options = sending.backend_options(limits)
    out: Path | None = folder
    if folder is not None:
        experiment = experiment_of(folder)
    else:
        experiment = flags.apply(load_experiment(experiment_file) if experiment_file else Experiment())
        out = running.out
    if api_base is not None:
        experiment = dataclasses.replace(experiment, api_base=api_base)
    if out is None:
        from emoprompt.identity import stable_hash

        out = Path("results") / f"gate-{stable_hash(experiment.to_dict(), length=8)}"
    sequential = {"round": running.round_items, "max_calls": running.max_calls} if running.sequential else None
    if running.max_calls is not None and sequential is None:
        raise UsageError("--max-calls caps a --sequential gate; add --sequential (or cap spending with --max-cost)")
    click.echo(f"emoprompt gate: running into {out}", err=True)
    try:
        return gate_experiment(experiment, out, asked, backend_options, running.data_dir, sequential,
                               progress=not running.no_progress and sys.stderr.isatty())
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted; every finished cell is saved in {out}. Run the same command to continue.",
                   err=True)
        raise SystemExit(130) from None


def _exist(paths: tuple[Path, ...]) -> None:
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path} does not exist")
