"""`emoprompt plan`: before a run, what it costs and what it can detect."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import click

from emoprompt.cli.options import AT_LEAST_ONE, POSITIVE, PROBABILITY, Finite
from emoprompt.errors import UsageError

if TYPE_CHECKING:
    from emoprompt.backends.base import BackendOptions
    from emoprompt.runner.experiment import Experiment
    from emoprompt.runner.plan import RunPlan


@click.command()
@click.argument("experiment", required=False, type=click.Path(path_type=Path))
@click.option("--items", type=click.IntRange(min=2), help="Items per contrast (default: from EXPERIMENT, else 100).")
@click.option("--family", type=AT_LEAST_ONE, help="Contrasts in the family (default: from EXPERIMENT, else 1).")
@click.option("--discordance", type=Finite(0, 1, min_open=True), default=0.2, show_default=True,
              help="Expected share of items whose correctness differs between conditions (ψ).")
@click.option("--var-d", type=POSITIVE, help="Var of per-item differences from a pilot (overrides --discordance).")
@click.option("--alpha", type=PROBABILITY, default=0.05, show_default=True)
@click.option("--power", type=PROBABILITY, default=0.8, show_default=True)
@click.option("--sesoi", type=POSITIVE, default=0.03, show_default=True, help="Smallest effect of interest.")
@click.option("--pilot", type=click.Path(path_type=Path),
              help="A pilot run folder that crossed wordings (--paraphrases 3 or more): recommend items × wordings × "
                   "repeats for --sesoi at the fewest calls.")
def plan(experiment: Path | None, items: int | None, family: int | None, discordance: float, var_d: float | None,
         alpha: float, power: float, sesoi: float, pilot: Path | None) -> None:
    """Before a run: with EXPERIMENT, what it would send and cost per model and condition; then the minimum
    detectable effect, and the items needed for the smallest effect of interest; with --pilot RUN_DIR, the cheapest
    items × wordings × repeats for it, from the pilot's variance components."""
    from emoprompt.stats.power import items_needed, mde_paired, min_discordant_for_significance

    if pilot is not None:
        _plan_from_pilot(pilot, family, alpha, power, sesoi)
        return

    if experiment is not None:
        from emoprompt.runner.experiment import load_experiment
        from emoprompt.runner.plan import build_plan

        built = build_plan(load_experiment(experiment))
        print_cost_table(built)
        click.echo("")
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
    largest = discordance if var_d is None else math.inf  # every discordant item moving one way
    needed = items_needed(variance, sesoi, alpha, power, family) if sesoi <= largest else math.inf
    click.echo(f"{items} items per contrast, family of {family}, α = {alpha} (α/family = {alpha / family:.4g}), "
               f"Var(d) = {variance:.3f}")
    if mde > largest:
        click.echo(f"minimum detectable effect at {power:.0%} power: none — {100 * mde:.1f} pp would be needed, but "
                   f"with discordance ψ = {discordance:g} the largest effect possible is {100 * largest:.1f} pp "
                   "(every discordant item moving one way); add items")
    else:
        click.echo(f"minimum detectable effect at {power:.0%} power: {100 * mde:.1f} pp")
    if needed == math.inf:
        click.echo(f"items needed for the smallest effect of interest ({100 * sesoi:.1f} pp): none suffice — it is "
                   f"larger than ψ = {discordance:g}, the largest effect this discordance allows")
    else:
        click.echo(f"items needed for the smallest effect of interest ({100 * sesoi:.1f} pp): {needed}")
    click.echo(f"discordant pairs needed before any contrast can reach significance: "
               f"{min_discordant_for_significance(alpha, family)}")
    if sesoi > largest:
        verdict = "exploratory (the smallest effect of interest is larger than any this discordance allows)"
    elif mde > min(sesoi, largest):
        verdict = "exploratory (MDE above the smallest effect of interest)"
    else:
        verdict = "confirmatory"
    click.echo(f"design: {verdict}")


def _plan_from_pilot(pilot: Path, family: int | None, alpha: float, power: float, target: float) -> None:
    from emoprompt.report.runs import pilot_components_of
    from emoprompt.stats.allocation import describe, recommend

    if not pilot.is_dir():
        raise UsageError(f"--pilot {pilot} is not a run folder; give the folder of a finished pilot run")
    if not (0 < alpha < 1 and 0 < power < 1 and target > 0):
        raise UsageError("--alpha and --power must be in (0, 1) and --sesoi positive")
    components = pilot_components_of(pilot)
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



def print_cost_plan(experiment: Experiment, options: BackendOptions | None = None, data_dir: Path | None = None
                    ) -> None:
    """`emoprompt run --dry-run`: the plan's cost table."""
    from emoprompt.runner.plan import build_plan

    print_cost_table(build_plan(experiment, options=options, data_dir=data_dir.resolve() if data_dir else None))


def print_cost_table(built: RunPlan) -> None:
    """Per model and condition: cells, model calls, prompt and output tokens, cost online and with --batch."""
    from emoprompt.runner.costing import cost_plan

    costs = cost_plan(built)
    header = ["model", "condition", "cells", "calls ≤", "prompt tokens", "output tokens ≤", "cost online ≤",
              "cost --batch ≤"]
    rows = [[line.model, line.condition, f"{line.cells:,}", f"{line.calls:,}", f"{line.prompt_tokens:,}",
             f"{line.output_tokens:,}", _cost(line.online_usd), _cost(line.batch_usd)] for line in costs.lines]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        click.echo("  ".join(cell.rjust(widths[i]) if i >= 2 else cell.ljust(widths[i])
                             for i, cell in enumerate(row)).rstrip())
    for model, how in costs.counted.items():
        click.echo(f"{model}: prompt tokens counted with {how}" if "estimated" not in how else
                   f"{model}: prompt tokens {how}")
    click.echo("Calls and output tokens are upper bounds (feedback loops make every attempt; answers of max_tokens). "
               + costs.cached_note)
    if any(line.online_usd is None for line in costs.lines):
        click.echo("unknown: litellm's price map has no price for the model (its cost is unknown, not zero)")


def _cost(value: float | None) -> str:
    from emoprompt.usage import cost_text

    return "unknown" if value is None else cost_text(value)
