"""Where a gate's data comes from: run folders, other harnesses' results, or an experiment it runs itself — all
items at once, or in rounds until the sequential gate decides."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError
from emoprompt.gate.pairing import PairedItems, Side, contrasts_across, contrasts_in_folder
from emoprompt.gate.verdicts import GateReport, decide, margin_in_unit
from emoprompt.stats.gate import INCONCLUSIVE, REJECT, GateRule, fixed_items
from emoprompt.stats.scale import Scale


@dataclasses.dataclass(frozen=True)
class GateQuestion:
    """What the user asked: the margin as given (number, unit), superiority, α, power, and which conditions (or
    models) are the reference and the candidates."""

    margin: tuple[float, str | None]
    superiority: bool = False
    alpha: float = 0.05
    power: float = 0.8
    reference: str | None = None
    candidates: tuple[str, ...] = ()

    def rule(self, scale: Scale) -> GateRule:
        return GateRule(margin_in_unit(*self.margin, scale), self.superiority, self.alpha, self.power)


def gate_folders(folders: list[Path], question: GateQuestion) -> GateReport:
    """Gate one run folder's conditions (or models), or a reference folder against a candidate folder."""
    sides = [Side.of_folder(folder) for folder in folders]
    return _gate_sides(sides, question)


def gate_imported(importer: str, paths: list[Path], question: GateQuestion, settings: dict[str, Any]) -> GateReport:
    """Gate other harnesses' results: two paths (the reference's and the candidate's results), or one holding
    both."""
    from emoprompt.importers.base import ImportOptions
    from emoprompt.importers.registry import importers
    from emoprompt.stats.frame import records_frame

    read = importers.get(importer)
    sides, notes = [], []
    for path in paths:
        imported = read([path], ImportOptions(settings=settings))
        sides.append(Side(str(path), records_frame(imported.records)))
        notes += [f"{path}: {line}" for line in [*imported.notes, *imported.warnings]]
    report = _gate_sides(sides, question)
    report.notes = [*notes, *report.notes]
    return report


def _gate_sides(sides: list[Side], question: GateQuestion) -> GateReport:
    if len(sides) == 1:
        paired = contrasts_in_folder(sides[0], question.reference, list(question.candidates))
    elif len(sides) == 2:
        if len(question.candidates) > 1:
            raise UsageError("two folders gate one candidate condition; give --candidate once")
        paired = contrasts_across(sides[0], sides[1], question.reference,
                                  question.candidates[0] if question.candidates else None)
    else:
        raise UsageError("give one run folder, or two (the reference's, then the candidate's)")
    frames = [side.frame for side in sides]
    report = _report(paired, question, frames, None)
    report.sources = {"reference": sides[0].label, "candidate": sides[-1].label}
    return report


def _report(paired: list[PairedItems], question: GateQuestion, frames: list[Any],
            sequential: dict[str, Any] | None) -> GateReport:
    scale = Scale.of_values(value for frame in frames for value in frame["score"].tolist())
    rule = question.rule(scale)
    report = GateReport(rule, scale, sequential is not None, decide(paired, rule, sequential), {})
    for contrast in paired:
        if contrast.left_out:
            report.notes.append(f"{contrast.name}: {contrast.left_out} items left out (an error cell, or not run "
                                "on both sides)")
    report.calls = int(sum(frame["n_calls"].fillna(1).sum() for frame in frames))
    costs = [frame["cost_usd"].dropna() for frame in frames]
    report.cost_usd = float(sum(c.sum() for c in costs)) if any(len(c) for c in costs) else None
    return report


def gate_experiment(experiment: Any, out: Path, question: GateQuestion, options: Any, data_dir: Path | None,
                    sequential: dict[str, Any] | None, progress: bool = False) -> GateReport:
    """Run the experiment into `out` (continuing it if it is there) and gate it: all items at once, or, with
    `sequential` ({"round": items per round, "max_calls": cap or None, "seed"}), in rounds of items in a seeded
    order until every contrast is decided, the cap is reached, or --max-cost stops the run."""
    from emoprompt.backends.base import record_settings
    from emoprompt.runner.plan import build_plan
    from emoprompt.runner.subsets import item_order, run_items

    plan = build_plan(experiment, None, options, data_dir.resolve() if data_dir is not None else None)
    names = [c.name for c in plan.conditions]
    models = list(plan.backends)
    if len(names) < 2 and len(models) < 2:
        raise UsageError("a gate needs two conditions (--condition REFERENCE --condition CANDIDATE) or two models")
    settings = {"concurrency": options.concurrency, "settings": record_settings(options),
                "grace_s": options.stop_grace_s}
    items = item_order(plan, experiment.seed)
    if sequential is None:
        result = run_items(plan, out, names, items, progress, **settings)
        fixed = gate_folders([out], question)
        fixed.notes += _run_notes(result)
        return fixed
    if experiment.paraphrases > 1:
        raise UsageError("--sequential takes items one after another and does not cross wordings; gate runs with "
                         "--paraphrases without --sequential")
    per_item = max(1, len(plan.cells) // max(1, len(items)) // len(names))  # cells of one condition on one item
    cap = sequential.get("max_calls")
    most = len(items) if cap is None else min(len(items), int(cap // (per_item * len(names))))
    if most < 2:
        raise UsageError(f"--max-calls {cap} buys fewer than two items of {len(names)} conditions × {per_item} "
                         "cells each; raise it")
    step = sequential["round"]
    looks = sorted({*range(step, most + 1, step), most})
    state: dict[str, Any] = {"n_planned": most, "looks": looks}
    notes: list[str] = []
    report: GateReport | None = None
    for look in looks:
        undecided = _undecided(report, names, question)
        result = run_items(plan, out, undecided, items[:look], progress, **settings)
        notes += _run_notes(result)
        report = _sequential_report(out, question, items[:look], state)
        stopped = result.counters.stopped_by
        if report.verdict == REJECT or all(c.decision.verdict != INCONCLUSIVE for c in report.contrasts):
            break  # one rejected contrast rejects the change, whatever the others would say
        if stopped is not None:
            notes.append(f"stopped by --{stopped.replace('_', '-')}: {result.counters.stop_reason}")
            break
    assert report is not None
    report.notes += list(dict.fromkeys(notes))
    return _with_fixed_comparison(report, per_item * len(names))


def _undecided(report: GateReport | None, names: list[str], question: GateQuestion) -> list[str]:
    """The conditions still needed: the reference and every candidate whose contrast is undecided."""
    if report is None:
        return names
    needed = {c.reference for c in report.contrasts} | {c.candidate for c in report.contrasts
                                                         if c.decision.verdict == INCONCLUSIVE}
    chosen = [name for name in names if name in needed]
    return chosen if len(chosen) >= 2 else names  # contrasts of models need every condition


def _sequential_report(out: Path, question: GateQuestion, items: list[tuple[str, str]], state: dict[str, Any]
                       ) -> GateReport:
    side = Side.of_folder(out)
    paired = contrasts_in_folder(side, question.reference, list(question.candidates))
    rank = {item: index for index, item in enumerate(items)}
    for contrast in paired:
        keys = [(str(task), str(item)) for task, item in contrast.table.index]
        order = sorted(range(len(keys)), key=lambda i: rank.get(keys[i], math.inf))
        contrast.table = contrast.table.iloc[order]
    looks = {contrast.name: _looks_in_items(contrast, items, state["looks"]) for contrast in paired}
    report = _report(paired, question, [side.frame], {"n_planned": state["n_planned"], "looks": looks})
    report.sources = {"run": str(out)}
    return report


def _looks_in_items(contrast: PairedItems, items: list[tuple[str, str]], looks: list[int]) -> list[int]:
    """The looks as counts of the contrast's paired items (an item left out for an error cell does not count)."""
    kept = {(str(task), str(item)) for task, item in contrast.table.index}
    counts, seen = [], 0
    marks = set(looks)
    for position, item in enumerate(items, start=1):
        seen += item in kept
        if position in marks:
            counts.append(seen)
    return counts


def _with_fixed_comparison(report: GateReport, calls_per_item: int) -> GateReport:
    """The calls a fixed gate of the same error rates and power would need, from the observed variance."""
    each = report.rule.with_alpha(report.rule.alpha / max(1, len(report.contrasts)))
    needed = [fixed_items(c.variance, each) for c in report.contrasts if c.variance == c.variance and c.variance > 0]
    if needed and all(math.isfinite(n) for n in needed):
        report.fixed_calls = int(max(needed)) * calls_per_item
    return report


def _run_notes(result: Any) -> list[str]:
    counters = result.counters
    notes = [f"{counters.errors} cells failed and their items were left out" if counters.errors else ""]
    return [note for note in notes if note]
