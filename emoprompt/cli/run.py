"""`emoprompt run`: a thin shell over `emoprompt.run` and `emoprompt.resume`."""

from __future__ import annotations

import dataclasses
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from emoprompt.backends.base import RECORD_SETTINGS
from emoprompt.cli.options import (
    AT_LEAST_ONE,
    FRACTION,
    NON_NEGATIVE,
    POSITIVE,
    ZERO_OR_MORE,
    Finite,
    existing_folder,
    flag,
    given_on_command_line,
    limit_value,
    model_names,
    options,
)
from emoprompt.errors import UsageError

if TYPE_CHECKING:
    from emoprompt.api import Run
    from emoprompt.backends.base import BackendOptions
    from emoprompt.runner.experiment import Experiment
    from emoprompt.runner.plan import RunPlan

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_ERROR_CELLS = 3
EXIT_MAX_COST = 4
EXIT_RATE_LIMIT = 5
EXIT_CODES = f"""\b
Exit codes:
  {EXIT_OK}    every cell has an answer (or the error cells are within --max-error-rate)
  {EXIT_BAD_INPUT}    bad input: nothing was run
  {EXIT_ERROR_CELLS}    the run finished with error cells (the last line says how many, of which kinds, and how to
       run them again)
  {EXIT_MAX_COST}    stopped at --max-cost (continue with --resume and a new cap)
  {EXIT_RATE_LIMIT}    stopped: the provider's rate limit let nothing through for --patience seconds (continue with
       --resume)
  130, 143  interrupted by Ctrl-C or SIGTERM (every finished cell is saved; continue with --resume)"""


@dataclasses.dataclass(frozen=True)
class ExperimentFlags:
    """Flags that define the experiment (over an EXPERIMENT file); a resumed run refuses them."""

    model: tuple[str, ...] = flag("--model", multiple=True, help="hf/smollm2 (default), hf/<folder>, "
                                  "provider/model via litellm; repeatable, or comma-separated.")
    suite: str | None = flag("--suite", help="A shipped suite name or a suite file (default: builtin).")
    task: tuple[str, ...] = flag("--task", multiple=True, help="Run only these tasks (repeatable).")
    condition: tuple[str, ...] = flag(
        "--condition", multiple=True, help="baseline, a stimulus id (EP02, NP01, PL01, EP06:figure), a family "
        "(emotionprompt, negativeprompt, placebo, control), heart conditions, a registered transform, optionally "
        "@placement (EP02@system), chained with + (EP02+heart). Repeatable.")
    placement: str | None = flag("--placement", help="after_instruction (default), end, start or system.")
    separator: str | None = flag("--separator",
                                 help="space (default), newline or none (NegativePrompt's released code).")
    limit: int | str | None = flag("--limit", callback=lambda ctx, param, value: limit_value(value),
                                   help="Samples per task (seeded subset), or 'all'. Default: 25.")
    repeats: int | None = flag("--repeats", type=click.IntRange(1, 1000), help="Repeats per cell (K). Default: 1.")
    paraphrases: int | None = flag("--paraphrases", type=AT_LEAST_ONE,
                                   help="Ask every task in this many wordings (the task as written, then rewordings "
                                        "of its instruction and prompt format), every condition on each. Default: 1.")
    paraphrase_source: str | None = flag(
        "--paraphrase-source", help="Where the rewordings come from: bank+format (default), bank, format, a "
        ".toml/.yaml/.json file of {task: [instruction, ...]}, or model:<model>.")
    temperature: float | None = flag("--temperature", type=Finite(0, 5), help="Default: 0 (greedy).")
    max_tokens: int | None = flag("--max-tokens", type=click.IntRange(1, 1_000_000), help="Default: 24.")
    seed: int | None = flag("--seed", type=int, help="Seed for sample subsets, demonstrations and condition order.")
    shots: int | None = flag("--shots", type=ZERO_OR_MORE, help="Few-shot demonstrations per item for every task.")
    verifier: str | None = flag("--verifier", type=click.Choice(["oracle", "self", "none"]),
                                help="heart conditions: who decides an answer is wrong (oracle = gold answer, an "
                                     "upper bound).")
    max_iters: int | None = flag("--max-iters", type=AT_LEAST_ONE,
                                 help="heart conditions: most attempts per item (default 4).")
    schedule: str | None = flag("--schedule",
                                help="heart conditions: alternate (default), cycle, random or fixed:<emotion>.")
    stimuli: tuple[Path, ...] = flag("--stimuli", multiple=True, type=click.Path(path_type=Path),
                                     help="Your own stimulus file(s).")
    control: str | None = flag("--control", help="Comparator for stimuli (default: the first placebo, else "
                                                 "baseline).")
    engine_arg: tuple[str, ...] = flag("--engine-arg", multiple=True, metavar="KEY=VALUE",
                                       help="vllm/<model>: an engine argument (tensor_parallel_size=2, "
                                            "gpu_memory_utilization=0.8, max_model_len=4096, dtype=bfloat16); "
                                            "repeatable.")

    def apply(self, base: Experiment) -> Experiment:
        """`base` with what these flags say."""
        from emoprompt.cli.options import engine_arguments
        from emoprompt.schema import AnalysisPlan

        changes: dict[str, Any] = {}
        if self.model:
            changes["models"] = model_names(self.model)
        for name, field in (("task", "tasks"), ("condition", "conditions")):
            if getattr(self, name):
                changes[field] = tuple(getattr(self, name))
        if self.stimuli:
            changes["stimuli_files"] = tuple(str(path) for path in self.stimuli)
        for name in ("suite", "placement", "separator", "repeats", "seed", "shots", "paraphrases",
                     "paraphrase_source"):
            if getattr(self, name) is not None:
                changes[name] = getattr(self, name)
        if self.engine_arg:
            changes["engine_args"] = {**base.engine_args, **engine_arguments(self.engine_arg)}
        if self.limit is not None:
            changes["limit"] = None if self.limit == "all" else self.limit
        generation = base.generation
        if self.temperature is not None:
            generation = dataclasses.replace(generation, temperature=self.temperature)
        if self.max_tokens is not None:
            generation = dataclasses.replace(generation, max_tokens=self.max_tokens)
        if self.seed is not None and generation.temperature > 0:
            generation = dataclasses.replace(generation, seed=self.seed)
        changes["generation"] = generation
        if self.control:
            changes["analysis"] = dataclasses.replace(base.analysis or AnalysisPlan(), control=self.control)
        heart = {name: getattr(self, name) for name in ("verifier", "max_iters", "schedule")
                 if getattr(self, name) is not None}
        if heart:
            changes["heart"] = dataclasses.replace(base.heart, **heart)
        return dataclasses.replace(base, **changes)


@dataclasses.dataclass(frozen=True)
class EndpointFlags:
    """Where an API model is served: one endpoint, or the replicas of a pool."""

    api_base: tuple[str, ...] = flag("--api-base", multiple=True,
                                     help="Base URL of an OpenAI-compatible server (vLLM, llama.cpp, ...); repeat it "
                                          "for replicas of one model (an endpoint pool).")
    pool_file: Path | None = flag("--pool", type=click.Path(path_type=Path),
                                  help="A file of replicas of one model: one API base per line, optionally followed "
                                       "by its limit of requests in flight.")

    def endpoints(self) -> tuple[str | tuple[str, ...] | None, dict[str, int]]:
        """One endpoint, a pool of several, or None; and the pool file's per-endpoint limits."""
        bases = list(self.api_base)
        limits: dict[str, int] = {}
        if self.pool_file is not None:
            from emoprompt.backends.pool import read_pool_file

            listed, limits = read_pool_file(str(self.pool_file))
            bases += listed
        if not bases:
            return None, limits
        return (bases[0] if len(bases) == 1 else tuple(bases)), limits


@dataclasses.dataclass(frozen=True)
class SendingFlags:
    """How requests are sent: none of it changes an answer."""

    concurrency: int | None = flag("--concurrency", type=AT_LEAST_ONE,
                                   help="Requests in flight at most (default: the backend's own); API models adapt "
                                        "below it to the provider's rate limit.")
    rpm: float | None = flag("--rpm", type=POSITIVE, help="Requests per minute at most (your API tier's limit).")
    tpm: float | None = flag("--tpm", type=POSITIVE,
                             help="Tokens per minute at most (prompt plus --max-tokens per request, as providers "
                                  "count them).")
    patience_s: float = flag("--patience", type=POSITIVE, default=600.0, show_default=True,
                             help="Seconds to wait on a provider's rate limit without a single answer before the "
                                  "run stops (resumable).")
    max_cost: float | None = flag("--max-cost", type=POSITIVE, metavar="USD",
                                  help="Send no request that could take the run's spending past this many dollars; "
                                       "the run stops there and --resume continues it (with a new cap).")
    timeout_s: float = flag("--timeout", type=POSITIVE, default=60.0, show_default=True,
                            help="Seconds per API request.")
    max_retries: int = flag("--retries", type=ZERO_OR_MORE, default=5, show_default=True,
                            help="Retries of a failed API request (5xx, timeouts, broken connections) before the cell "
                                 "is an error; rate limits (429) wait their turn instead and use none.")
    backoff_s: float = flag("--backoff", type=NON_NEGATIVE, default=1.0, show_default=True,
                            help="First retry delay in seconds (doubling, with jitter); Retry-After wins when given.")
    endpoint_concurrency: int | None = flag("--endpoint-concurrency", type=AT_LEAST_ONE,
                                            help="Pools: requests in flight per endpoint (default: --concurrency, "
                                                 "else 16).")
    affinity: bool = flag("--affinity", is_flag=True,
                          help="Pools: send every condition of an item to one replica (its prefix cache is reused).")
    batch: bool = flag("--batch", is_flag=True, help="Send requests through the provider's Batch API (openai/, "
                                                     "hosted_vllm/, anthropic/): half price, results within 24 h; "
                                                     "--resume polls.")
    batch_poll_s: float = flag("--batch-poll", type=POSITIVE, default=30.0, show_default=True,
                               help="--batch: longest wait in seconds between two status checks.")
    batch_max_requests: int | None = flag("--batch-size", type=AT_LEAST_ONE,
                                          help="--batch: most requests per batch (default: the provider's limit).")
    resubmit_unknown: bool = flag("--resubmit-unknown", is_flag=True,
                                  help="--batch, with --resume: send again a batch whose creation a kill interrupted "
                                       "when the server cannot list its batches to find it (paid twice if the "
                                       "first one ran).")
    executor: str = flag("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                         help="ray: send requests through Ray Data's LLM processors (pip install 'emoprompt[ray]').")
    ray_address: str | None = flag("--ray-address", help="--executor ray: the Ray cluster to join (default: "
                                                          "RAY_ADDRESS, else a local Ray on 127.0.0.1).")
    ray_workers: int = flag("--ray-workers", type=AT_LEAST_ONE, default=2, show_default=True,
                            help="--executor ray: processor workers (HTTP actors or vLLM engine replicas).")
    max_response_chars: int = flag("--max-response-chars", type=click.IntRange(1, 100_000_000), default=1_000_000,
                                   show_default=True, help="Longer answers become error cells (response_too_large).")
    stop_grace_s: float = flag("--grace", type=NON_NEGATIVE, default=5.0, show_default=True,
                               help="After SIGTERM or Ctrl-C, seconds the requests in flight may take to finish "
                                    "before they are cancelled (their cells stay unrun for --resume).")

    def backend_options(self, endpoint_limits: dict[str, int]) -> BackendOptions:
        """These flags as the backends take them."""
        from emoprompt.backends.base import BackendOptions

        return BackendOptions(
            timeout_s=self.timeout_s, max_retries=self.max_retries, backoff_s=self.backoff_s,
            concurrency=self.concurrency, max_response_chars=self.max_response_chars, endpoint_limits=endpoint_limits,
            affinity=self.affinity, endpoint_concurrency=self.endpoint_concurrency, batch=self.batch,
            batch_poll_s=self.batch_poll_s, batch_max_requests=self.batch_max_requests,
            resubmit_unknown=self.resubmit_unknown, executor=self.executor,
            ray_address=self.ray_address, ray_workers=self.ray_workers, rpm=self.rpm, tpm=self.tpm,
            patience_s=self.patience_s, max_cost=self.max_cost, stop_grace_s=self.stop_grace_s)


@dataclasses.dataclass(frozen=True)
class FolderFlags:
    """Where the run goes and what happens there."""

    out: Path | None = flag("--out", type=click.Path(path_type=Path),
                            help="Run folder (default: results/<run-id>).")
    resume: Path | None = flag("--resume", type=click.Path(path_type=Path),
                               help="Continue the run in this folder.")
    retry_errors: bool = flag("--retry-errors", is_flag=True, help="With --resume: run error cells again.")
    repair: bool = flag("--repair", is_flag=True,
                        help="With --resume: set lines of records.jsonl that are not valid records aside "
                             "(records.rejected.jsonl) and run their cells again.")
    data_dir: Path | None = flag("--data-dir", type=click.Path(path_type=Path),
                                 help="Folder holding benchmark data (instruction_induction/, bigbench/); default "
                                      "EMOPROMPT_DATA_DIR, else the user cache. Kept in the manifest for --resume.")
    max_error_rate: float = flag("--max-error-rate", type=FRACTION, default=0.0, show_default=True,
                                 help="Exit 0 when at most this share of the cells failed (see the exit codes).")
    no_cache: bool = flag("--no-cache", is_flag=True, help="Do not read or write the response cache.")
    no_progress: bool = flag("--no-progress", is_flag=True, help="No progress bar.")
    no_report: bool = flag("--no-report", is_flag=True,
                           help="Do not analyse or write the report at the end (write it later with emoprompt "
                                "report RUN_DIR).")
    dry_run: bool = flag("--dry-run", is_flag=True,
                         help="Print what the run would send and cost (as `emoprompt plan`), and run nothing.")


@click.command(epilog=EXIT_CODES)
@click.argument("experiment", required=False, type=click.Path(path_type=Path))
@options(ExperimentFlags, "flags")
@options(EndpointFlags, "endpoint")
@options(SendingFlags, "sending")
@options(FolderFlags, "folder")
@click.pass_context
def run(ctx: click.Context, experiment: Path | None, flags: ExperimentFlags, endpoint: EndpointFlags,
        sending: SendingFlags, folder: FolderFlags) -> None:
    """Run an experiment (flags override the EXPERIMENT file) and print the per-condition summary."""
    import emoprompt

    existing_folder(folder.data_dir, "--data-dir")
    api_base, limits = endpoint.endpoints()
    backend_options = sending.backend_options(limits)
    common: dict[str, Any] = {"cache": not folder.no_cache, "retry_errors": folder.retry_errors,
                              "repair": folder.repair, "report": not folder.no_report,
                              "progress": not folder.no_progress, "data_dir": folder.data_dir,
                              "options": backend_options, "argv": sys.argv[1:], "announce": _announce}
    try:
        if folder.resume is not None:
            typed = given_on_command_line(ctx, flags)
            if typed or experiment is not None:
                raise UsageError(f"--resume continues a run as it was; drop {typed[0] if typed else 'EXPERIMENT'}")
            if folder.dry_run:
                raise UsageError("--dry-run plans a new run; drop --resume (or --dry-run)")
            typed_settings = {name: getattr(sending, name) for name in RECORD_SETTINGS
                              if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
            result = emoprompt.resume(folder.resume, api_base=api_base, settings=typed_settings, **common)
        else:
            if folder.retry_errors or folder.repair:
                raise UsageError(f"--{'retry-errors' if folder.retry_errors else 'repair'} goes with --resume "
                                 "RUN_DIR")
            from emoprompt.runner.experiment import Experiment, load_experiment

            planned = flags.apply(load_experiment(experiment) if experiment else Experiment())
            if api_base is not None:
                planned = dataclasses.replace(planned, api_base=api_base)
            if folder.dry_run:
                from emoprompt.cli.plan import print_cost_plan

                print_cost_plan(planned, backend_options, folder.data_dir)
                return
            result = emoprompt.run(planned, folder.out, **common)
    except KeyboardInterrupt as interrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while we say goodbye prints no traceback
        where = folder.resume or folder.out or "results/<run-id>"
        click.echo(f"\ninterrupted; every finished cell is saved. Continue with: emoprompt run --resume {where}",
                   err=True)
        ctx.exit(128 + int(getattr(interrupt, "signum", signal.SIGINT)))
    ctx.exit(finish(result, folder.max_error_rate))


def _announce(plan: RunPlan, run_dir: Path) -> None:
    """What is about to run, and where it goes (before the first cell)."""
    from emoprompt.backends.litellm_backend import quiet

    quiet()
    experiment = plan.experiment
    wordings = f" × {experiment.paraphrases} wordings" if experiment.paraphrases > 1 else ""
    click.echo(f"emoprompt: {len(plan.cells)} cells ({len(plan.conditions)} conditions × {len(plan.suite.tasks)} "
               f"tasks × {experiment.repeats} repeats × {len(plan.backends)} models{wordings}) → {run_dir}", err=True)
    for note in plan.notes:
        click.echo(f"emoprompt: note: {note}", err=True)


ERROR_HINTS = {
    "not_found": "check --api-base (it usually ends in /v1) and the model name",
    "auth": "check the API key in the environment",
    "connection": "is the server running? check --api-base",
    "timeout": "the server is slow: raise --timeout or lower --concurrency",
    "rate_limit": "the provider's rate limit: set --rpm/--tpm to your tier, or raise --patience",
    "context_window": "the prompt is too long for the model",
    "malformed_response": "the server's answers are not OpenAI chat completions",
    "response_too_large": "raise --max-response-chars or lower --max-tokens",
    "exception": "a transform or scorer raised; the message says where",
}


def finish(result: Run, max_error_rate: float) -> int:
    """Print the summary, usage, what failed and the headline; return the exit code."""
    from emoprompt.report.summary import format_summary
    from emoprompt.usage import format_usage

    counters, manifest, run_dir = result.counters, result.manifest, result.path
    assert counters is not None and result.plan is not None
    for note in result.notes:
        click.echo(f"emoprompt: note: {note}", err=True)
    analysis = result.analysis
    settings = result.plan.experiment.analysis
    click.echo(format_summary(result.conditions, settings.baseline, result.plan.control, settings.alpha,
                              result.scale))
    if analysis is None and any(row.cells > row.errors for row in result.conditions):
        click.echo(f"(no report: Δ columns and tests with `emoprompt report {run_dir}`)")
    click.echo("\n" + format_usage(result.usage))
    click.echo(f"\n{counters.ran} cells run ({counters.cache_hits} cache hits, {counters.model_calls} model calls, "
               f"{counters.errors} errors) in {counters.wall_s:.1f} s; {counters.already_done} were done before.")
    if counters.error_kinds:
        click.echo(f"{counters.errors} of {counters.ran} cells failed:")
        for kind, count in sorted(counters.error_kinds.items(), key=lambda item: -item[1])[:5]:
            hint = f" ({ERROR_HINTS[kind]})" if kind in ERROR_HINTS else ""
            click.echo(f"  {kind} × {count}: {counters.error_examples[kind][:200]}{hint}")
    click.echo(f"Records: {run_dir / 'records.jsonl'}")
    if analysis is not None:
        click.echo("\n" + "\n\n".join(analysis["headline"]))
        click.echo(f"\nReport:  {run_dir / 'report.html'}")
    records, errors = manifest.records or 0, manifest.errors or 0
    if counters.stopped_by == "max_cost":
        click.echo(f"Stopped at --max-cost: {counters.stop_reason} Continue with: emoprompt run --resume {run_dir} "
                   "--max-cost <new cap>")
        return EXIT_MAX_COST
    if counters.stopped_by == "patience":
        click.echo(f"Stopped: {counters.stop_reason} Continue with: emoprompt run --resume {run_dir}")
        return EXIT_RATE_LIMIT
    if errors and errors == records:
        click.echo("Error: every cell failed; nothing to analyse. Fix the cause above, then run them again.", err=True)
    if errors and errors > max_error_rate * records:
        kinds = ", ".join(f"{kind} × {count}" for kind, count in result.error_kinds.items())
        click.echo(f"{errors} of {records} cells failed ({kinds}); run them again with: emoprompt run --resume "
                   f"{run_dir} --retry-errors")
        return EXIT_ERROR_CELLS
    return EXIT_OK
