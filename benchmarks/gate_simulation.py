"""`emoprompt gate` on simulated CI data: verdict rates and calls of the fixed gate, the sequential gate and the naive
threshold gates CI pipelines use, in the scenarios that matter — a harmless change (A/A), a regression of exactly
the margin, a clear regression (twice the margin), a real improvement.

Items are right or wrong under the reference and the candidate; 20% of items are discordant (right under one, wrong
under the other), the reference is right on 70%; candidate − reference = δ. Non-inferiority margin 5 pp, α = 0.05
per verdict, power 0.8. The fixed gate runs the items it needs for 80% power at the margin (495); the sequential gate
checks every 20 items up to the cap that gives it 80% power at the margin (1,077). Naive gates see the fixed gate's
495 items: "fail on any drop" and "fail when the drop exceeds the margin".

    python benchmarks/gate_simulation.py [--datasets 1000] [--evalsig]

`--evalsig` (`pip install evalsig`) runs evalsig 0.1's gate and sequential gate on the same data. Its gate asks
superiority (ALLOW only on a significant gain of at least min_delta), so it is compared on the superiority question
(margin 0: is the candidate better?): its `gate(min_delta=1e-6, one_sided=True)` (min_delta=0 divides by zero in
evalsig 0.1.2 when the run is underpowered) and `sequential_gate(alternative=
"greater")` against `emoprompt gate --superiority --margin 0`, fixed at 495 items and sequential to 1,077.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np
from _common import save

from emoprompt.stats.gate import (
    ALLOW,
    INCONCLUSIVE,
    REJECT,
    GateRule,
    fixed_gate,
    fixed_items,
    sequential_gate,
    sequential_items,
)

MARGIN, DISCORDANCE, ACCURACY, STEP = 0.05, 0.2, 0.7, 20
SCENARIOS = {"harmless (δ = 0)": 0.0, "regression of the margin (δ = −5 pp)": -MARGIN,
             "clear regression (δ = −10 pp)": -2 * MARGIN, "improvement (δ = +5 pp)": MARGIN}


def paired_items(rng: np.random.Generator, n: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """n items (candidate, reference), 0/1, DISCORDANCE of them discordant, mean difference delta."""
    u = rng.random(n)
    worse, better = DISCORDANCE / 2 - delta / 2, DISCORDANCE / 2 + delta / 2
    reference = (rng.random(n) < ACCURACY).astype(float)
    candidate = reference.copy()
    lost, gained = u < worse, (u >= worse) & (u < worse + better)
    candidate[lost], reference[lost] = 0.0, 1.0
    candidate[gained], reference[gained] = 1.0, 0.0
    return candidate, reference


def rates(verdicts: list[str], items: list[int], calls_per_item: int = 2) -> dict[str, Any]:
    share = {verdict: round(verdicts.count(verdict) / len(verdicts), 4) for verdict in (ALLOW, REJECT, INCONCLUSIVE)}
    return {**share, "mean_calls": round(float(np.mean(items)) * calls_per_item),
            "median_calls": round(float(np.median(items)) * calls_per_item)}


def simulate(datasets: int, use_evalsig: bool) -> dict[str, Any]:
    rule = GateRule(MARGIN)
    fixed_n, cap = int(fixed_items(DISCORDANCE, rule)), sequential_items(DISCORDANCE, rule)
    assert cap is not None
    looks = [*range(STEP, cap + 1, STEP), *([cap] if cap % STEP else [])]
    figures: dict[str, Any] = {"design": {"margin_pp": 100 * MARGIN, "alpha": rule.alpha, "power": rule.power,
                                          "discordance": DISCORDANCE, "fixed_items": fixed_n,
                                          "sequential_cap_items": cap, "look_every": STEP, "datasets": datasets}}
    for label, delta in SCENARIOS.items():
        rng = np.random.default_rng(int(1000 * (delta + 1)))
        out: dict[str, list[Any]] = {"fixed": [], "sequential": [], "sequential_items": [], "naive_any_drop": [],
                                     "naive_margin": []}
        first_false_reject: list[float] = []
        for _ in range(datasets):
            candidate, reference = paired_items(rng, cap, delta)
            fixed = fixed_gate(candidate[:fixed_n], reference[:fixed_n], 1, rule)
            sequential = sequential_gate(candidate - reference, looks, rule, cap, float(reference.mean()),
                                         float(candidate.mean()))
            out["fixed"].append(fixed.verdict)
            out["sequential"].append(sequential.verdict)
            out["sequential_items"].append(sequential.n_items if sequential.verdict != INCONCLUSIVE else cap)
            drop = reference[:fixed_n].mean() - candidate[:fixed_n].mean()
            out["naive_any_drop"].append(REJECT if drop > 0 else ALLOW)
            out["naive_margin"].append(REJECT if drop > MARGIN else ALLOW)
            first_false_reject.append(sequential.n_items if sequential.verdict == REJECT else math.inf)
        scenario = {
            "fixed": rates(out["fixed"], [fixed_n] * datasets),
            "sequential": rates(out["sequential"], out["sequential_items"]),
            "naive_fail_on_any_drop": rates(out["naive_any_drop"], [fixed_n] * datasets),
            "naive_fail_on_drop_past_margin": rates(out["naive_margin"], [fixed_n] * datasets),
        }
        if delta == 0:
            reached = np.array(first_false_reject)
            scenario["sequential_false_reject_by_look"] = {look: round(float(np.mean(reached <= look)), 4)
                                                           for look in [*looks[::5], looks[-1]]}
        mean_seq = scenario["sequential"]["mean_calls"]
        scenario["sequential_calls_saved_vs_fixed"] = round(1 - mean_seq / (2 * fixed_n), 3)
        figures[label] = scenario
    if use_evalsig:
        figures["evalsig_superiority"] = _evalsig(datasets, fixed_n, cap, looks)
    return figures


def _evalsig(datasets: int, fixed_n: int, cap: int, looks: list[int]) -> dict[str, Any]:
    """The superiority question (margin 0) on the same kind of data: evalsig's gate and sequential gate beside
    emoprompt's."""
    import evalsig
    from evalsig.types import ItemResult, RunFrame

    rule = GateRule(0.0, superiority=True)
    figures: dict[str, Any] = {}
    for label, delta in (("A/A (δ = 0)", 0.0), ("improvement (δ = +5 pp)", MARGIN)):
        rng = np.random.default_rng(int(1000 * (delta + 2)))
        ours_fixed, ours_seq, ours_items, theirs_fixed, theirs_seq, theirs_items = [], [], [], [], [], []
        for _ in range(datasets):
            candidate, reference = paired_items(rng, cap, delta)
            ours_fixed.append(fixed_gate(candidate[:fixed_n], reference[:fixed_n], 1, rule).verdict)
            sequential = sequential_gate(candidate - reference, looks, rule, cap, 0.0, 0.0)
            ours_seq.append(sequential.verdict)
            ours_items.append(sequential.n_items if sequential.verdict != INCONCLUSIVE else cap)

            def frame(scores: np.ndarray, name: str) -> Any:
                return RunFrame(name, name, "t", "accuracy",
                                [ItemResult(str(i), float(s)) for i, s in enumerate(scores[:fixed_n])])

            report = evalsig.gate(frame(reference, "a"), frame(candidate, "b"), min_delta=1e-6, one_sided=True,
                                  n_resamples=2000)
            theirs_fixed.append(report.verdict.value)
            outcome = evalsig.sequential_gate(candidate - reference, alternative="greater", alpha=0.05)
            theirs_seq.append(ALLOW if outcome.stopped else INCONCLUSIVE)
            theirs_items.append(outcome.n_pairs)
        figures[label] = {"emoprompt_fixed": rates(ours_fixed, [fixed_n] * datasets),
                          "emoprompt_sequential": rates(ours_seq, ours_items),
                          "evalsig_gate": rates(theirs_fixed, [fixed_n] * datasets),
                          "evalsig_sequential_gate": rates(theirs_seq, theirs_items)}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--evalsig", action="store_true")
    args = parser.parse_args()
    save("gate_simulation", simulate(args.datasets, args.evalsig))


if __name__ == "__main__":
    main()
