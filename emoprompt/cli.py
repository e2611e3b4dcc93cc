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

import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from emoprompt.errors import EmopromptError, UsageError

if TYPE_CHECKING:
    from emoprompt.runner.analysis_worker import AnalysisWorker


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
                     "repeats", "temperature", "max_tokens", "seed", "stimuli", "control", "experiment", "shots",
                     "verifier", "max_iters", "schedule", "engine_arg", "paraphrases", "paraphrase_source")


@cli.command()
@click.argument("experiment", required=False, type=click.Path(path_type=Path))
@click.option("--data-dir", type=click.Path(path_type=Path),
              help="Folder holding benchmark data (instruction_induction/, bigbench/); default EMOPROMPT_DATA_DIR, "
                   "else the user cache. Kept in the manifest for --resume.")
@click.option("--shots", type=int, help="Few-shot demonstrations per item for every task.")
@click.option("--model", multiple=True, help="hf/smollm2 (default), hf/<folder>, provider/model via litellm; "
              "repeatable, or comma-separated.")
@click.option("--api-base", multiple=True, help="Base URL of an OpenAI-compatible server (vLLM, llama.cpp, ...); "
              "repeat it for replicas of one model (an endpoint pool).")
@click.option("--pool", "pool_file", type=click.Path(path_type=Path),
              help="A file of replicas of one model: one API base per line, optionally followed by its limit of "
                   "requests in flight.")
@click.option("--endpoint-concurrency", type=int,
              help="Pools: requests in flight per endpoint (default: --concurrency, else 16).")
@click.option("--affinity", is_flag=True, help="Pools: send every condition of an item to one replica (its prefix "
                                               "cache is reused).")
@click.option("--batch", is_flag=True, help="Send requests through the provider's Batch API (openai/, hosted_vllm/, "
                                            "anthropic/): half price, results within 24 h; --resume polls.")
@click.option("--batch-poll", "batch_poll_s", type=float, default=30.0, show_default=True,
              help="--batch: longest wait in seconds between two status checks.")
@click.option("--batch-size", "batch_max_requests", type=int,
              help="--batch: most requests per batch (default: the provider's limit).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: send requests through Ray Data's LLM processors (pip install 'emoprompt[ray]').")
@click.option("--ray-address", help="--executor ray: the Ray cluster to join (default: RAY_ADDRESS, else a local "
                                    "Ray on 127.0.0.1).")
@click.option("--ray-workers", type=int, default=2, show_default=True,
              help="--executor ray: processor workers (HTTP actors or vLLM engine replicas).")
@click.option("--engine-arg", "engine_arg", multiple=True, metavar="KEY=VALUE",
              help="vllm/<model>: an engine argument (tensor_parallel_size=2, gpu_memory_utilization=0.8, "
                   "max_model_len=4096, dtype=bfloat16); repeatable.")
@click.option("--suite", help="A shipped suite name or a suite file (default: builtin).")
@click.option("--task", multiple=True, help="Run only these tasks (repeatable).")
@click.option("--condition", multiple=True,
              help="baseline, a stimulus id (EP02, NP01, PL01, EP06:figure), a family (emotionprompt, "
                   "negativeprompt, placebo, control), heart conditions, a registered transform, optionally "
                   "@placement (EP02@system), chained with + (EP02+heart). Repeatable.")
@click.option("--placement", help="after_instruction (default), end, start or system.")
@click.option("--separator", help="space (default), newline or none (NegativePrompt's released code).")
@click.option("--limit", help="Samples per task (seeded subset), or 'all'. Default: 25.")
@click.option("--repeats", type=int, help="Repeats per cell (K). Default: 1.")
@click.option("--paraphrases", type=int, help="Ask every task in this many wordings (the task as written, then "
              "rewordings of its instruction and prompt format), every condition on each. Default: 1.")
@click.option("--paraphrase-source", "paraphrase_source",
              help="Where the rewordings come from: bank+format (default), bank, format, a .toml/.yaml/.json file "
                   "of {task: [instruction, ...]}, or model:<model>.")
@click.option("--temperature", type=float, help="Default: 0 (greedy).")
@click.option("--max-tokens", type=int, help="Default: 24.")
@click.option("--seed", type=int, help="Seed for sample subsets, demonstrations and condition order.")
@click.option("--verifier", type=click.Choice(["oracle", "self", "none"]),
              help="heart conditions: who decides an answer is wrong (oracle = gold answer, an upper bound).")
@click.option("--max-iters", type=int, help="heart conditions: most attempts per item (default 4).")
@click.option("--schedule", help="heart conditions: alternate (default), cycle, random or fixed:<emotion>.")
@click.option("--stimuli", multiple=True, type=click.Path(path_type=Path), help="Your own stimulus file(s).")
@click.option("--control", help="Comparator for stimuli (default: the first placebo, else baseline).")
@click.option("--concurrency", type=int, help="Requests in flight (default: the backend's own).")
@click.option("--timeout", "timeout_s", type=float, default=60.0, show_default=True, help="Seconds per API request.")
@click.option("--retries", "max_retries", type=int, default=5, show_default=True,
              help="Retries of a transient API failure (429, 5xx, timeouts) before the cell is an error.")
@click.option("--backoff", "backoff_s", type=float, default=1.0, show_default=True,
              help="First retry delay in seconds (doubling, with jitter); Retry-After wins when given.")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder (default: results/<run-id>).")
@click.option("--resume", type=click.Path(path_type=Path), help="Continue the run in this folder.")
@click.option("--retry-errors", is_flag=True, help="With --resume: run error cells again.")
@click.option("--repair", is_flag=True,
              help="With --resume: set lines of records.jsonl that are not valid records aside (records.rejected.jsonl)"
                   " and run their cells again.")
@click.option("--max-response-chars", type=int, default=1_000_000, show_default=True,
              help="Longer answers become error cells (response_too_large).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the response cache.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--no-report", is_flag=True, help="Do not write the report at the end (write it later with "
                                                "emoprompt report RUN_DIR).")
@click.pass_context
def run(ctx: click.Context, **options: Any) -> None:
    """Run an experiment (flags override the EXPERIMENT file) and print the per-condition summary."""
    from emoprompt.runner.analysis_worker import AnalysisWorker

    analysis = AnalysisWorker()
    if not options["no_report"] and not _one_condition_named(options) and analysis.worthwhile():
        analysis.start()  # at once: its imports then overlap with this process's planning too
    try:
        _run_command(ctx, options, analysis)
    finally:
        analysis.close()


def _one_condition_named(options: dict[str, Any]) -> bool:
    """Whether the command line alone names a run of one condition in one wording, whose report
    `emoprompt.stats.describe` writes without the analysis worker (the plan settles it: see `_run_command`)."""
    return (len(options["condition"]) == 1 and options["experiment"] is None and options["resume"] is None
            and (options["paraphrases"] or 1) == 1)


def _run_command(ctx: click.Context, options: dict[str, Any], analysis: AnalysisWorker) -> None:
    """`run`; `analysis` runs exactly when the plan's report needs the analysis stack (started or stopped here
    when the command line did not tell)."""
    from emoprompt.backends import BackendOptions
    from emoprompt.runner.experiment import Experiment, load_experiment
    from emoprompt.runner.plan import build_plan
    from emoprompt.runner.run import default_run_dir
    from emoprompt.runner.run import run as run_plan
    from emoprompt.runner.store import read_manifest
    from emoprompt.stats.describe import describes

    data_dir = options["data_dir"]
    if data_dir is not None and not data_dir.is_dir():
        raise UsageError(f"--data-dir {data_dir} is not a folder; check the path")
    if options["concurrency"] is not None and options["concurrency"] < 1:
        raise UsageError(f"--concurrency must be 1 or more, not {options['concurrency']}")
    if not (math.isfinite(options["timeout_s"]) and options["timeout_s"] > 0):
        raise UsageError(f"--timeout must be a positive number of seconds, not {options['timeout_s']}")
    if options["max_retries"] < 0 or not (math.isfinite(options["backoff_s"]) and options["backoff_s"] >= 0):
        raise UsageError("--retries and --backoff must be 0 or more")
    if options["max_response_chars"] < 1:
        raise UsageError(f"--max-response-chars must be 1 or more, not {options['max_response_chars']}")
    options["api_base"], endpoint_limits = _endpoints(options)
    if options["endpoint_concurrency"] is not None and options["endpoint_concurrency"] < 1:
        raise UsageError(f"--endpoint-concurrency must be 1 or more, not {options['endpoint_concurrency']}")
    if not (math.isfinite(options["batch_poll_s"]) and options["batch_poll_s"] > 0):
        raise UsageError(f"--batch-poll must be a positive number of seconds, not {options['batch_poll_s']}")
    if options["ray_workers"] < 1:
        raise UsageError(f"--ray-workers must be 1 or more, not {options['ray_workers']}")
    if options["batch_max_requests"] is not None and options["batch_max_requests"] < 1:
        raise UsageError(f"--batch-size must be 1 or more, not {options['batch_max_requests']}")
    if options["resume"] is not None:
        run_dir, experiment = _resumed(ctx, options)
        stored = read_manifest(run_dir)
        if stored.batches:  # a Batch API run goes on as one: its batches are polled, not re-sent
            options["batch"] = True
        if data_dir is None and stored.data_dir:
            data_dir = Path(stored.data_dir)
    else:
        if options["retry_errors"] or options["repair"]:
            raise UsageError(f"--{'retry-errors' if options['retry_errors'] else 'repair'} goes with --resume RUN_DIR")
        base = load_experiment(options["experiment"]) if options["experiment"] else Experiment()
        experiment = _override(base, options)
        run_dir = options["out"]
    backend_options = BackendOptions(timeout_s=options["timeout_s"], max_retries=options["max_retries"],
                                     backoff_s=options["backoff_s"], concurrency=options["concurrency"],
                                     max_response_chars=options["max_response_chars"],
                                     endpoint_limits=endpoint_limits, affinity=options["affinity"],
                                     endpoint_concurrency=options["endpoint_concurrency"], batch=options["batch"],
                                     batch_poll_s=options["batch_poll_s"],
                                     batch_max_requests=options["batch_max_requests"],
                                     executor=options["executor"], ray_address=options["ray_address"],
                                     ray_workers=options["ray_workers"])
    plan = build_plan(experiment, options=backend_options, data_dir=data_dir.resolve() if data_dir else None)
    if describes(plan):
        analysis.close()  # a family name, or an experiment file of one condition
    elif not options["no_report"] and not analysis.started and analysis.worthwhile():
        analysis.start()
    run_dir = run_dir or default_run_dir(plan)
    from emoprompt.backends.litellm_backend import quiet

    quiet()
    click.echo(f"emoprompt: {len(plan.cells)} cells ({len(plan.conditions)} conditions × "
               f"{len(plan.suite.tasks)} tasks × {experiment.repeats} repeats × {len(plan.backends)} models"
               f"{f' × {experiment.paraphrases} wordings' if experiment.paraphrases > 1 else ''}) → {run_dir}",
               err=True)
    for note in plan.notes:
        click.echo(f"emoprompt: note: {note}", err=True)
    if not (options["no_report"] or options["repair"] or options["retry_errors"]):
        analysis.follow(run_dir)  # these two rewrite records.jsonl; otherwise it is only appended to
    try:
        result = run_plan(plan, run_dir, use_cache=not options["no_cache"], concurrency=options["concurrency"],
                          progress=not options["no_progress"], retry_errors=options["retry_errors"],
                          argv=sys.argv[1:], repair=options["repair"],
                          after_cells=_report_starter(analysis, run_dir),
                          keep_records=not options["no_report"] and not analysis.started
                          and len(plan.cells) <= KEPT_RECORDS)
        _finish(ctx, result, run_dir, report=not options["no_report"], analysis=analysis)
    except KeyboardInterrupt as interrupt:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while we say goodbye prints no traceback
        click.echo(f"\ninterrupted; every finished cell is saved. Continue with: emoprompt run --resume {run_dir}",
                   err=True)
        ctx.exit(128 + int(getattr(interrupt, "signum", signal.SIGINT)))


KEPT_RECORDS = 50_000
"""Runs of up to this many cells whose report this process writes keep their records in memory for it (reading
them back takes about 17 µs each on a small machine; keeping them costs their memory)."""


def _report_starter(analysis: AnalysisWorker, run_dir: Path) -> Any:
    """When every cell has run and at least one answered, the worker starts the report (which reads only the
    records and the plan's part of the manifest) while this process computes and prints the summary."""
    if not analysis.started:
        return None

    def start(counters: Any) -> None:
        if counters.ran > counters.errors:  # so _finish will want a report (not every cell failed)
            analysis.begin_report(run_dir, True)

    return start


def _resumed(ctx: click.Context, options: dict[str, Any]) -> tuple[Path, Any]:
    """The run folder and experiment of --resume; experiment flags are refused, except --api-base when the
    stored endpoint's credentials were redacted (it must match apart from them)."""
    from emoprompt.runner.run import experiment_of
    from emoprompt.secrets import REDACTED, redact_url

    given = [name for name in _EXPERIMENT_FLAGS
             if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
    run_dir: Path = options["resume"]
    experiment = experiment_of(run_dir)
    if options["pool_file"] is not None:
        if not isinstance(experiment.api_base, tuple):
            raise UsageError("--pool on --resume replaces the replicas of a pool run; this run has one endpoint")
        given = [name for name in given if name != "api_base"]
        experiment = replace(experiment, api_base=options["api_base"])
    stored = experiment.api_base if isinstance(experiment.api_base, str) else ""
    if "api_base" in given and REDACTED in stored:
        if redact_url(options["api_base"]) != stored:
            raise UsageError(f"--api-base differs from this run's endpoint {stored}; give the same URL with its "
                             "credentials")
        given.remove("api_base")
        experiment = replace(experiment, api_base=options["api_base"])
    elif REDACTED in stored:
        raise UsageError(f"this run's endpoint {stored} carried credentials, which are never saved; resume with "
                         f"--api-base and the full URL")
    if given:
        raise UsageError(f"--resume continues a run as it was; drop --{given[0].replace('_', '-')}")
    return run_dir, experiment


ERROR_HINTS = {
    "not_found": "check --api-base (it usually ends in /v1) and the model name",
    "auth": "check the API key in the environment",
    "connection": "is the server running? check --api-base",
    "timeout": "the server is slow: raise --timeout or lower --concurrency",
    "rate_limit": "lower --concurrency or raise --retries",
    "context_window": "the prompt is too long for the model",
    "malformed_response": "the server's answers are not OpenAI chat completions",
    "response_too_large": "raise --max-response-chars or lower --max-tokens",
    "exception": "a transform or scorer raised; the message says where",
}


def _finish(ctx: click.Context, result: Any, run_dir: Path, report: bool = True,
            analysis: AnalysisWorker | None = None) -> None:
    """Print the summary, usage and what failed; write the report when cells ran or it is missing or broken (or wait
    for the analysis worker that writes it); exit non-zero when every cell of the run failed."""
    from emoprompt.stats.scale import Scale
    from emoprompt.summary import format_summary
    from emoprompt.usage import format_usage

    counters, plan = result.counters, result.plan
    for note in result.notes:
        click.echo(f"emoprompt: note: {note}", err=True)
    scores = [row.accuracy for row in result.summary if row.accuracy == row.accuracy]
    scale = Scale() if all(0 <= value <= 1 for value in scores) else Scale("points", 1.0, " points")
    click.echo(format_summary(result.summary, plan.experiment.analysis.baseline, plan.control,
                              plan.experiment.analysis.alpha, scale))
    click.echo("\n" + format_usage(result.usage))
    click.echo(f"\n{counters.ran} cells run ({counters.cache_hits} cache hits, {counters.model_calls} model calls, "
               f"{counters.errors} errors) in {counters.wall_s:.1f} s; {counters.already_done} were done before.")
    records = result.manifest.records or 0
    errors = result.manifest.errors or 0
    if counters.error_kinds:
        kinds = sorted(counters.error_kinds.items(), key=lambda item: -item[1])
        click.echo(f"{counters.errors} of {counters.ran} cells failed:")
        for kind, count in kinds[:5]:
            hint = f" ({ERROR_HINTS[kind]})" if kind in ERROR_HINTS else ""
            click.echo(f"  {kind} × {count}: {counters.error_examples[kind][:200]}{hint}")
    if errors:
        click.echo("Error cells are left out of the statistics; rerun them with "
                   f"`emoprompt run --resume {run_dir} --retry-errors`.")
    click.echo(f"Records: {run_dir / 'records.jsonl'}")
    if records and errors == records:
        click.echo("Error: every cell failed; nothing to analyse. Fix the cause above, then "
                   f"`emoprompt run --resume {run_dir} --retry-errors`.", err=True)
        ctx.exit(1)
    if not report:
        return
    if analysis is None or not analysis.report(run_dir, counters.ran > 0):
        from emoprompt.runner.analysis_worker import write_report

        write_report(run_dir, counters.ran > 0, result.records)
    written = json.loads((run_dir / "analysis.json").read_text(encoding="utf-8"))
    click.echo("\n" + "\n\n".join(written["headline"]))
    click.echo(f"\nReport:  {run_dir / 'report.html'}")


def _models(values: tuple[str, ...]) -> list[str]:
    """--model values, each possibly a comma-separated list (as lm-eval and inspect_ai accept)."""
    models = [part.strip() for value in values for part in str(value).split(",")]
    if any(not model for model in models):
        raise UsageError(f"--model {', '.join(values)!r} has an empty model name; write --model a --model b "
                         "or --model a,b")
    return list(dict.fromkeys(models))


def _engine_args(pairs: tuple[str, ...]) -> dict[str, Any]:
    """KEY=VALUE pairs; values read as JSON when they are (numbers, true/false, null), else as text."""
    import json

    arguments: dict[str, Any] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key.strip():
            raise UsageError(f"--engine-arg {pair!r} is not KEY=VALUE; write e.g. --engine-arg tensor_parallel_size=2")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        arguments[key.strip().replace("-", "_")] = value
    return arguments


def _endpoints(options: dict[str, Any]) -> tuple[str | tuple[str, ...] | None, dict[str, int]]:
    """--api-base (repeatable) and --pool FILE: one endpoint, a pool of several, or None; and the pool file's
    per-endpoint limits."""
    bases: list[str] = list(options["api_base"] or ())
    limits: dict[str, int] = {}
    if options["pool_file"] is not None:
        from emoprompt.backends.pool import read_pool_file

        listed, limits = read_pool_file(str(options["pool_file"]))
        bases += listed
    if not bases:
        return None, limits
    return (bases[0] if len(bases) == 1 else tuple(bases)), limits


def _override(base: Any, options: dict[str, Any]) -> Any:
    from emoprompt.chat import GenerateConfig
    from emoprompt.runner.experiment import AnalysisPlan

    changes: dict[str, Any] = {}
    for flag, field in (("model", "models"), ("task", "tasks"), ("condition", "conditions"),
                        ("stimuli", "stimuli_files")):
        if options[flag]:
            changes[field] = tuple(str(v) for v in options[flag])
    if options["model"]:
        changes["models"] = tuple(_models(options["model"]))
    for flag in ("api_base", "suite", "placement", "separator", "repeats", "seed", "shots", "paraphrases",
                 "paraphrase_source"):
        if options[flag] is not None:
            changes[flag] = options[flag]
    if options["engine_arg"]:
        changes["engine_args"] = {**base.engine_args, **_engine_args(options["engine_arg"])}
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
    heart = {k: options[o] for k, o in (("verifier", "verifier"), ("max_iters", "max_iters"),
                                        ("schedule", "schedule")) if options[o] is not None}
    if heart:
        changes["heart"] = replace(base.heart, **heart)
    return replace(base, **changes)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--from", "importer", metavar="NAME",
              help="Read other harnesses' results with this importer (table, or a registered one) from PATHS, write "
                   "them as a run folder (--out) and report it.")
@click.option("--rename", multiple=True, metavar="OLD=NEW", help="With --from: rename a condition.")
@click.option("--metric", metavar="NAME", help="With --from lm-eval or inspect: the per-sample metric (or inspect "
                                               "scorer) to read; default: each task's first.")
@click.option("--records", "records_file", type=click.Path(path_type=Path),
              help="Analyse a CSV/JSONL/Parquet file from another harness instead of a run folder.")
@click.option("--out", type=click.Path(path_type=Path), help="Where to write the report (default: beside the data).")
@click.option("--item-column", default="item", show_default=True)
@click.option("--condition-column", default="condition", show_default=True)
@click.option("--score-column", default="score", show_default=True)
@click.option("--task-column", default="task", show_default=True)
@click.option("--model-column", default="model", show_default=True)
@click.option("--repeat-column", default="repeat", show_default=True)
@click.option("--parsed-column", default="parsed", show_default=True)
@click.option("--control", help="The comparator (default: the run's declared control; for --records: placebo*, "
                                "else the baseline).")
@click.option("--baseline", help="The unmodified condition (default: the run's; for --records: 'baseline', else the "
                                 "first).")
@click.option("--alpha", type=float, help="Significance level for every test and interval (default: the run's "
                                          "declared α, else 0.05).")
@click.option("--sesoi", type=float, help="Smallest effect of interest in the scores' unit (0.03 = 3 pp for 0–1 "
                                          "scores; required for scores outside 0–1).")
@click.option("--dedupe", type=click.Choice(["first", "last", "mean"]),
              help="With --records or --from: merge rows that share (model, task, item, condition, repeat).")
def report(paths: tuple[Path, ...], importer: str | None, rename: tuple[str, ...], metric: str | None,
           records_file: Path | None, out: Path | None, **options: Any) -> None:
    """Write analysis.json, report.md and report.html for a run folder (or for --records FILE, or --from NAME
    PATHS)."""
    from emoprompt.report.runs import ReportOptions, report_run

    alpha = options["alpha"]
    if alpha is not None and not (math.isfinite(alpha) and 0 < alpha < 1):
        raise UsageError(f"--alpha must be between 0 and 1, not {alpha}")
    if options["sesoi"] is not None and not (math.isfinite(options["sesoi"]) and options["sesoi"] > 0):
        raise UsageError(f"--sesoi must be a positive number, not {options['sesoi']}")
    overrides = ReportOptions(alpha, options["control"], options["baseline"], options["sesoi"])
    columns = _column_map(options)
    if importer is not None:
        paths_out = _report_imported(importer, paths, rename, out, columns, options, overrides, metric)
    elif records_file is not None:
        from emoprompt.report.runs import report_records

        if paths:
            raise UsageError("give a run folder or --records FILE, not both")
        paths_out = report_records(records_file, columns, out or records_file.parent, options["control"],
                                   options["baseline"], alpha or 0.05, options["sesoi"], options["dedupe"])
    else:
        if len(paths) != 1:
            raise UsageError("give a run folder or --records FILE (one of them)")
        if options["dedupe"]:
            raise UsageError("--dedupe goes with --records or --from; a run folder has one record per cell")
        paths_out = report_run(paths[0], out, overrides)
    analysis = json.loads(paths_out["analysis"].read_text())
    for paragraph in analysis["headline"]:
        click.echo(paragraph + "\n")
    click.echo(f"Report: {paths_out['html']}\n        {paths_out['markdown']}\n        {paths_out['analysis']}")


def _column_map(options: dict[str, Any]) -> Any:
    from emoprompt.importers import ColumnMap

    return ColumnMap(**{role: options[f"{role}_column"] for role in
                        ("item", "condition", "score", "task", "model", "repeat", "parsed")})


def _report_imported(importer: str, paths: tuple[Path, ...], rename: tuple[str, ...], out: Path | None,
                     columns: Any, options: dict[str, Any], overrides: Any, metric: str | None) -> dict[str, Path]:
    from emoprompt.importers import ImportOptions, write_imported_run
    from emoprompt.registry import importers
    from emoprompt.report.runs import report_run

    read = importers.get(importer)
    if not paths:
        raise UsageError(f"--from {importer} needs the paths to read, e.g. emoprompt report --from {importer} FILE")
    renames = {}
    for pair in rename:
        old, equals, new = pair.partition("=")
        if not equals or not old or not new:
            raise UsageError(f"--rename {pair!r} is not OLD=NEW")
        renames[old] = new
    settings = {"metric": metric} if metric else {}
    imported = read(list(paths), ImportOptions(columns, renames, options["baseline"], options["control"], settings))
    if options["dedupe"]:
        imported.records = _dedupe_records(imported.records, options["dedupe"])
    run_dir = out or paths[0].with_name(f"{paths[0].stem}-emoprompt")
    write_imported_run(imported, run_dir, importer)
    click.echo(f"emoprompt: {len(imported.records)} records imported → {run_dir}", err=True)
    return report_run(run_dir, options=replace(overrides, control=None, baseline=None))


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


@cli.command()
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(run_a: Path, run_b: Path, as_json: bool) -> None:
    """Paired comparison RUN_B − RUN_A on the cells both runs share."""
    from emoprompt.report.text import interval, p_text, pp
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


@cli.command()
@click.argument("experiment", required=False, type=click.Path(path_type=Path))
@click.option("--items", type=int, help="Items per contrast (default: from EXPERIMENT, else 100).")
@click.option("--family", type=int, help="Contrasts in the family (default: from EXPERIMENT, else 1).")
@click.option("--discordance", type=float, default=0.2, show_default=True,
              help="Expected share of items whose correctness differs between conditions (ψ).")
@click.option("--var-d", type=float, help="Var of per-item differences from a pilot (overrides --discordance).")
@click.option("--alpha", type=float, default=0.05, show_default=True)
@click.option("--power", type=float, default=0.8, show_default=True)
@click.option("--sesoi", type=float, default=0.03, show_default=True, help="Smallest effect of interest.")
@click.option("--pilot", type=click.Path(path_type=Path),
              help="A pilot run folder that crossed wordings (--paraphrases 3 or more): recommend items × wordings × "
                   "repeats for --sesoi at the fewest calls.")
def plan(experiment: Path | None, items: int | None, family: int | None, discordance: float, var_d: float | None,
         alpha: float, power: float, sesoi: float, pilot: Path | None) -> None:
    """Before a run: the minimum detectable effect, and the items needed for the smallest effect of interest; with
    --pilot RUN_DIR, the cheapest items × wordings × repeats for it, from the pilot's variance components."""
    from emoprompt.stats.power import mde_paired, min_discordant_for_significance, n_for_effect

    if pilot is not None:
        _plan_from_pilot(pilot, family, alpha, power, sesoi)
        return

    if experiment is not None:
        from emoprompt.runner.experiment import load_experiment
        from emoprompt.runner.plan import build_plan

        built = build_plan(load_experiment(experiment))
        treatments = [c for c in built.conditions if c.name not in (built.control, built.experiment.analysis.baseline)]
        per_task = {len({c.sample.id for c in built.cells if c.task.name == t.name}) for t in built.suite.tasks}
        items = items or min(per_task)
        family = family or max(1, len(treatments) * len(built.suite.tasks))
        alpha, sesoi = built.experiment.analysis.alpha, built.experiment.analysis.sesoi
    items, family = items or 100, family or 1
    if not 0 < discordance <= 1 or items < 2 or family < 1:
        raise UsageError("--discordance must be in (0, 1], --items at least 2 and --family at least 1")
    variance = var_d if var_d is not None else discordance
    mde = mde_paired(variance, items, alpha, power, family)
    needed = n_for_effect(variance, sesoi, alpha, power, family)
    click.echo(f"{items} items per contrast, family of {family}, α = {alpha} (α/family = {alpha / family:.4g}), "
               f"Var(d) = {variance:.3f}")
    click.echo(f"minimum detectable effect at {power:.0%} power: {100 * mde:.1f} pp")
    click.echo(f"items needed for the smallest effect of interest ({100 * sesoi:.1f} pp): {needed}")
    click.echo(f"discordant pairs needed before any contrast can reach significance: "
               f"{min_discordant_for_significance(alpha, family)}")
    verdict = "confirmatory" if mde <= sesoi else "exploratory (MDE above the smallest effect of interest)"
    click.echo(f"design: {verdict}")


def _plan_from_pilot(pilot: Path, family: int | None, alpha: float, power: float, target: float) -> None:
    from emoprompt.stats.allocation import describe, pilot_components, recommend

    if not pilot.is_dir():
        raise UsageError(f"--pilot {pilot} is not a run folder; give the folder of a finished pilot run")
    if not (0 < alpha < 1 and 0 < power < 1 and target > 0):
        raise UsageError("--alpha and --power must be in (0, 1) and --sesoi positive")
    components = pilot_components(pilot)
    family = family or components.stimuli
    for line in describe(components):
        click.echo(line)
    best, alternatives = recommend(components, target, alpha, power, family)
    click.echo(f"target: minimum detectable effect ≤ {100 * target:.1f} pp at {power:.0%} power, α = {alpha} over a "
               f"family of {family}")
    if best is None:
        click.echo("no design in the grid (up to 800 items per task, 12 wordings, 5 repeats) reaches it; the "
                   "closest per number of wordings:")
    else:
        click.echo(f"recommended: {best.items} items per task × {best.wordings} wordings × {best.repeats} "
                   f"repeat(s): {best.calls:,} calls, expected MDE {100 * best.mde:.1f} pp")
        click.echo("alternatives (the cheapest meeting the target, else the most precise, per number of wordings):")
    click.echo(f"{'items':>6} {'wordings':>8} {'repeats':>7} {'calls':>10} {'MDE pp':>7}")
    for design in alternatives:
        click.echo(f"{design.items:>6} {design.wordings:>8} {design.repeats:>7} {design.calls:>10,} "
                   f"{100 * design.mde:>7.1f}" + ("  (wording variance not averaged out)" if design.wordings == 1
                                                   else ""))


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
def data() -> None:
    """Benchmark data: where it is, and fetching it."""


@data.command("list")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where to look (default: the user cache).")
def data_list(data_dir: Path | None) -> None:
    """The fetchable data sets and whether they are present."""
    from emoprompt.paths import data_root
    from emoprompt.suites.datasets import catalogue

    for name, entry in catalogue().items():
        folder = data_root(data_dir) / name
        state = "present" if folder.is_dir() and any(folder.iterdir()) else "missing"
        click.echo(f"{name:<24} {state:<8} {len(entry['files']):>4} files  {folder}  ({entry['source']})")


@data.command("fetch")
@click.argument("name")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where to put it (default: the user cache).")
@click.option("--no-verify", is_flag=True, help="Accept files whose checksum differs from the catalogue's.")
@click.option("--base-url", help="Fetch from this mirror instead of the catalogue's URL.")
def data_fetch(name: str, data_dir: Path | None, no_verify: bool, base_url: str | None) -> None:
    """Download a data set (instruction_induction, bigbench) and check every file's sha256."""
    from emoprompt.suites.datasets import fetch_dataset

    folder = fetch_dataset(name, verify=not no_verify, base_url=base_url, data_dir=data_dir)
    click.echo(f"{name}: {folder}")


@cli.command()
def protocols() -> None:
    """Shipped experiment files that replicate published protocols (run one with `emoprompt run NAME`)."""
    from emoprompt.mapping_files import read_mapping
    from emoprompt.runner.experiment import protocol_names, protocol_path

    for name in protocol_names():
        summary = str(read_mapping(protocol_path(name)).get("protocol", {}).get("summary", ""))
        click.echo(f"{name:<28} {summary}")


@cli.command()
@click.argument("protocol")
@click.option("--model", multiple=True, help="The model(s) to run the protocol on (default: the embedded model).")
@click.option("--run", "run_dir", type=click.Path(path_type=Path),
              help="A finished run of the protocol: tabulate it beside the paper instead of running.")
@click.option("--limit", help="Samples per task (seeded subset), or 'all'; default: the protocol's.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Folder holding benchmark data.")
@click.option("--out", type=click.Path(path_type=Path), help="The run folder (default: results/<run-id>).")
def replicate(protocol: str, model: tuple[str, ...], run_dir: Path | None, limit: str | None, data_dir: Path | None,
              out: Path | None) -> None:
    """Run a published protocol (or read a finished run of it) and write replication.md: the paper's aggregation on
    our records beside the paper's numbers, then absolute differences with intervals and an honest best stimulus."""
    from emoprompt.replication import write_replication
    from emoprompt.runner.experiment import load_experiment, protocol_names

    if protocol not in protocol_names():
        from emoprompt.errors import unknown_name

        raise unknown_name("protocol", protocol, protocol_names())
    if run_dir is None:
        import emoprompt

        experiment = load_experiment(Path(protocol))
        changes: dict[str, Any] = {}
        if model:
            changes["models"] = tuple(_models(model))
        parsed = _limit(limit)
        if parsed is not None:
            changes["limit"] = None if parsed == "all" else parsed
        if data_dir is not None and not data_dir.is_dir():
            raise UsageError(f"--data-dir {data_dir} is not a folder; check the path")
        run_dir = emoprompt.run(replace(experiment, **changes), out, progress=True, data_dir=data_dir).path
    elif not run_dir.is_dir():
        raise UsageError(f"--run {run_dir} is not a run folder; give the folder of a finished run of {protocol}")
    paths = write_replication(run_dir, protocol)
    click.echo(paths["markdown"].read_text(encoding="utf-8"))
    click.echo(f"Replication: {paths['markdown']}\n             {paths['json']}")


@cli.command()
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
    from emoprompt.report.runs import ReportOptions, report_run

    paths = report_run(run_dir, options=ReportOptions(select=policy))
    analysis = json.loads(paths["analysis"].read_text())
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


@cli.group("ab")
def ab_group() -> None:
    """Live A/B tests recorded by emoprompt.ab."""


@ab_group.command("status")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--alpha", type=float, help="Error level (default: the test's own, 0.05).")
@click.option("--delta", type=float, help="Equivalence margin in the score's unit (default: the test's own).")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
def ab_status_command(run_dir: Path, alpha: float | None, delta: float | None, as_json: bool) -> None:
    """Continue or stop? Safe to ask at any time: anytime-valid intervals, e-BH across arms × metrics, guardrails
    (error rate, latency) and a sample-ratio check."""
    from emoprompt.ab_status import ab_status

    if alpha is not None and not 0 < alpha < 1:
        raise UsageError(f"--alpha must be between 0 and 1, not {alpha}")
    status = ab_status(run_dir, alpha, delta)
    if as_json:
        click.echo(json.dumps(status.to_dict(), indent=2, default=str))
        return
    click.echo(f"{status.decision}: {status.reason}")
    click.echo(f"calls: {', '.join(f'{name} {count}' for name, count in status.counts.items())} "
               f"(sample-ratio check p = {status.srm_p:.3g})")
    for row in status.contrasts:
        mark = " *" if row["discovery"] else ""
        click.echo(f"  {row['arm']:<14} {row['metric']:<10} n {row['n']:>6}  Δ {row['diff']:+.4g} "
                   f"[{row['ci_low']:+.4g}, {row['ci_high']:+.4g}]  e {row['e_value']:.3g}{mark}")
    click.echo(f"Intervals are {100 * (1 - status.alpha):g}% anytime-valid confidence sequences; * discovery "
               "after e-BH.")


@cli.command()
def plugins() -> None:
    """What is registered: backends (model prefixes), scorers, transforms, templates, suite sources, importers,
    and where each came from (emoprompt, your code, or an installed plugin)."""
    from emoprompt import registry

    for kind in (registry.backends, registry.scorers, registry.transforms, registry.templates,
                 registry.suite_sources, registry.importers):
        names = kind.names()
        click.echo(f"{kind.kind}s ({kind.group}): " + (", ".join(
            name if kind.origin(name) == "emoprompt" else f"{name} [{kind.origin(name)}]" for name in names)
            or "none"))


@cli.group()
def suites() -> None:
    """Task suites."""


@suites.command("list")
def suites_list() -> None:
    """The shipped suites."""
    from emoprompt.mapping_files import read_mapping
    from emoprompt.suites.loader import builtin_suite_names, suite_path

    for name in builtin_suite_names():
        data = read_mapping(suite_path(name))
        tasks = f"{len(data.get('task', [])):>3} tasks" if "discover" not in data else "found in data"
        click.echo(f"{name:<30} {tasks:<14} {data.get('description', '')}")


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
