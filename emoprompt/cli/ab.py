"""`emoprompt ab`: live A/B tests recorded by emoprompt.ab."""

from __future__ import annotations

import json
from pathlib import Path

import click

from emoprompt.errors import UsageError


@click.group("ab")
def ab_group() -> None:
    """Live A/B tests recorded by emoprompt.ab."""


@ab_group.command("status")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--alpha", type=float, help="Error level (default: the test's own, 0.05).")
@click.option("--delta", type=float, help="Equivalence margin in the score's unit (default: the test's own).")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
def ab_status_command(run_dir: Path, alpha: float | None, delta: float | None, as_json: bool) -> None:
    """Continue or stop? Safe to ask at any time: anytime-valid intervals, e-BH across the arms' outcomes, guardrails
    (error rate, latency; their own e-BH family) and a sample-ratio check."""
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


