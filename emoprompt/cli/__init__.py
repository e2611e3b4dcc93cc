"""emoprompt: prompt-level affect experiments on language models.

\b
Quick start (embedded model, built-in suite, offline):
  emoprompt run                       baseline, a placebo, EmotionPrompt and NegativePrompt stimuli
  emoprompt run --condition baseline --condition PL01 --condition emotionprompt --limit 50
  emoprompt run --model openai/gpt-4o-mini --task sum --repeats 3 --temperature 0.7
  emoprompt plan my-experiment.toml            what a run would send and cost, before it runs
  emoprompt run --resume results/<run-id>      continue an interrupted run
  emoprompt stimuli list                       the stimulus library
  emoprompt gate results/old results/new --margin 2pp   ALLOW / REJECT / INCONCLUSIVE for CI
"""

from __future__ import annotations

import sys
from typing import Any

import click

from emoprompt.cli.ab import ab_group
from emoprompt.cli.gate import gate
from emoprompt.cli.library import data, plugins, protocols, stimuli, suites
from emoprompt.cli.plan import plan
from emoprompt.cli.replication import replicate, select
from emoprompt.cli.report import compare, report
from emoprompt.cli.run import run
from emoprompt.errors import EmopromptError

BAD_INPUT = 2


class EmopromptGroup(click.Group):
    """Bad input of any kind — emoprompt's own errors and click's usage errors alike — as one line on stderr and
    exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EmopromptError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(BAD_INPUT)

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else (prog_name or "emoprompt")
            click.echo(f"Error: {exc.format_message().rstrip('.')} (see {command} --help)", err=True)
            code = BAD_INPUT
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
        except click.Abort:
            click.echo("Aborted!", err=True)
            code = 1
        if not standalone_mode:
            return code
        sys.exit(code)


@click.group(name="emoprompt", cls=EmopromptGroup, help=__doc__)
@click.version_option(package_name="emoprompt")
def cli() -> None:
    """emoprompt command group."""


for command in (run, plan, report, compare, gate, replicate, select, protocols, stimuli, suites, data, plugins,
                ab_group):
    cli.add_command(command)


def main() -> None:
    """Console entry point."""
    cli.main(prog_name="emoprompt")
