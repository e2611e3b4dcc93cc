"""A gate's verdicts: one per contrast from one pre-declared test, Bonferroni over the contrasts, and the one verdict
(and exit code) of the whole gate."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from emoprompt.errors import UsageError
from emoprompt.gate.pairing import PairedItems
from emoprompt.stats.gate import (
    ALLOW,
    INCONCLUSIVE,
    REJECT,
    GateDecision,
    GateRule,
    crossed_gate,
    design_power,
    difference_variance,
    fixed_gate,
    sequential_gate,
)
from emoprompt.stats.result import to_plain
from emoprompt.stats.scale import Scale

EXIT_CODES = {ALLOW: 0, REJECT: 10, INCONCLUSIVE: 11}
"""ALLOW 0; REJECT 10; INCONCLUSIVE 11 — each apart from bad input (2) and from a crash (1)."""


@dataclasses.dataclass
class GatedContrast:
    """One contrast's verdict with what the reader needs to trust it."""

    name: str
    reference: str
    candidate: str
    decision: GateDecision
    repeats: int
    wordings: int
    left_out: int
    variance: float
    """The per-item variance of the differences."""
    power: float
    """The design's power at the margin: the chance of the right verdict when δ lies on a zone boundary (for the
    observed variance, and the items gated or, sequentially, the most items the gate may use)."""


@dataclasses.dataclass
class GateReport:
    """Everything a gate says: the rule, each contrast's verdict, the overall verdict, calls and cost."""

    rule: GateRule
    scale: Scale
    sequential: bool
    contrasts: list[GatedContrast]
    sources: dict[str, str]
    notes: list[str] = dataclasses.field(default_factory=list)
    calls: int | None = None
    cost_usd: float | None = None
    fixed_calls: int | None = None
    """Sequential gates: the calls a fixed gate of the same error rates and power would make (from the observed
    variance)."""

    @property
    def verdict(self) -> str:
        """REJECT if any contrast is rejected, else INCONCLUSIVE if any is undecided, else ALLOW."""
        verdicts = {c.decision.verdict for c in self.contrasts}
        return REJECT if REJECT in verdicts else INCONCLUSIVE if INCONCLUSIVE in verdicts else ALLOW

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def question(self) -> str:
        """The question the gate answers, in words."""
        margin = self.scale.diff(self.rule.margin, signed=False) + " " + self.scale.unit
        if self.rule.superiority:
            return f"is the candidate better than the reference{f' by at least {margin}' if self.rule.margin else ''}?"
        return f"is the candidate no worse than the reference by more than {margin}?"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the JSON output)."""
        return to_plain({"verdict": self.verdict, "exit_code": self.exit_code, "question": self.question,
                         "rule": {**dataclasses.asdict(self.rule), "zone": self.rule.zone,
                                  "unit": self.scale.unit, "mode": "sequential" if self.sequential else "fixed",
                                  "bonferroni_over": len(self.contrasts)},
                         "sources": self.sources, "calls": self.calls, "cost_usd": self.cost_usd,
                         "fixed_calls": self.fixed_calls, "notes": self.notes,
                         "contrasts": [{**dataclasses.asdict(c), "decision": c.decision.to_dict()}
                                       for c in self.contrasts]})


def decide(paired: list[PairedItems], rule: GateRule, sequential: dict[str, Any] | None = None) -> list[GatedContrast]:
    """Each contrast's verdict at α/k (k contrasts). `sequential` (`n_planned`, and `looks`: per contrast name, the
    numbers of its paired items at each look, items in the order they ran) makes it the sequential gate's."""
    each = rule.with_alpha(rule.alpha / max(1, len(paired)))
    gated = []
    for contrast in paired:
        table = contrast.table
        ref, cand = table["reference"].to_numpy(float), table["candidate"].to_numpy(float)
        differences = cand - ref
        if sequential is not None:
            decision = sequential_gate(differences, sequential["looks"][contrast.name], each,
                                       sequential["n_planned"], float(ref.mean()), float(cand.mean()))
        elif contrast.wordings > 1:
            decision = _crossed(contrast, each)
        else:
            decision = fixed_gate(cand, ref, contrast.repeats, each)
        variance = decision.item_variance or difference_variance(cand, ref)
        plan = sequential["n_planned"] if sequential is not None else None
        power = design_power(variance, plan or decision.n_items, each, plan)
        gated.append(GatedContrast(contrast.name, contrast.reference, contrast.candidate, decision, contrast.repeats,
                                   contrast.wordings, contrast.left_out, variance, power))
    return gated


def _crossed(contrast: PairedItems, rule: GateRule) -> GateDecision:
    from emoprompt.stats.wording import crossed_contrast, difference_tables

    table = contrast.table
    differences = (table["candidate"] - table["reference"]).unstack("paraphrase")
    tables, _ = difference_tables(differences, list(differences.columns))
    crossed = crossed_contrast(tables, 2 * rule.alpha)
    if crossed is None or not math.isfinite(crossed["ci_low"]):
        raise UsageError(f"{contrast.name}: the wordings cross too few items for a crossed interval (a task needs "
                         "two items in two wordings); gate runs without --paraphrases")
    return crossed_gate(crossed, float(table["reference"].mean()), float(table["candidate"].mean()), rule)


MARGIN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(pp|points?|pts?)?\s*$", re.IGNORECASE)


def parse_margin(text: str) -> tuple[float, str | None]:
    """`--margin` as (number, unit): `2pp` → (2, "pp"), `0.5 points` → (0.5, "points"), `0.02` → (0.02, None)."""
    match = MARGIN.match(text)
    if not match:
        hint = " (a relative % is ambiguous; give percentage points, e.g. 2pp)" if "%" in text else ""
        raise UsageError(f"--margin {text!r} is not a margin{hint}: give e.g. 2pp for 0–1 scores, or a number in the "
                         "scores' own points (--margin 0.5)")
    unit = match.group(2)
    return float(match.group(1)), ("pp" if unit.lower() == "pp" else "points") if unit else None


def margin_in_unit(value: float, unit: str | None, scale: Scale) -> float:
    """The margin in the scores' unit, refusing one given in the wrong unit."""
    if scale.proportions:
        if unit == "points":
            raise UsageError(f"--margin {value:g} points: the scores are proportions (0–1); give percentage points, "
                             f"e.g. --margin {value:g}pp")
        if unit == "pp":
            return value / 100
        if value >= 1:
            raise UsageError(f"--margin {value:g} is the whole 0–1 scale of these scores; did you mean --margin "
                             f"{value:g}pp?")
        return value
    span = scale.high - scale.low
    if unit == "pp":
        raise UsageError(f"--margin {value:g}pp: the scores are points ({scale.low:g} to {scale.high:g}), not "
                         f"proportions; give the margin in points, e.g. --margin {max(span / 20, 0.01):.2g}")
    if value >= span > 0:
        raise UsageError(f"--margin {value:g} is as wide as the scores' whole range ({scale.low:g} to "
                         f"{scale.high:g}); give a margin in points smaller than that")
    return value
