"""`emoprompt ab status DIR`: may be asked at any time of a live A/B test, and answers continue or stop.

For every arm against the control, on the outcome score and on two guardrails (the error rate and the latency), an
anytime-valid confidence sequence and e-value (`stats.sequential`); e-BH across the arms' outcomes, and separately
across the guardrails (a guardrail never raises the bar of an outcome discovery); a sample-ratio
check of the assignment counts against the design. The answer is one of: continue; stop: an arm is better (or
worse); stop: every arm is equivalent to the control within ±δ; stop: a guardrail is broken; check the assignment
(sample ratio mismatch).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emoprompt.errors import UsageError
from emoprompt.runner.store import read_manifest, read_records
from emoprompt.stats.sequential import e_bh, sample_ratio_mismatch, sequential_contrast

SRM_ALPHA = 0.001
"""Assignment counts this unlikely under the design mean the test is broken (the industry's usual threshold)."""
GUARDRAILS = ("error", "latency_s")
"""Guardrails, higher is worse for both: a family of their own, so that watching them never raises the bar an
outcome's e-value must clear (e-BH within the outcome's arms, and within the guardrails)."""
METRICS = ("score", *GUARDRAILS)


@dataclass
class ABStatus:
    """The answer and everything behind it."""

    decision: str
    reason: str
    control: str
    arms: list[str]
    counts: dict[str, int]
    srm_p: float
    contrasts: list[dict[str, Any]] = field(default_factory=list)
    alpha: float = 0.05
    delta: float = 0.02

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the `--json` output)."""
        return dict(self.__dict__)


def design(run_dir: Path) -> dict[str, Any]:
    """The sequential design an A/B folder declared: weights, α, δ and the planned number of outcomes."""
    manifest = read_manifest(run_dir)
    if manifest.kind != "ab":
        raise UsageError(f"{run_dir} is not an A/B folder (kind {manifest.kind}); `ab status` reads the folders "
                         "emoprompt.ab writes")
    declared = (manifest.metadata or {}).get("sequential") or {}
    names = manifest.condition_names
    weights = declared.get("weights") or dict.fromkeys(names, 1.0)
    return {"control": manifest.control or names[0], "names": names, "weights": weights,
            "alpha": float(declared.get("alpha", 0.05)), "delta": float(declared.get("delta", 0.02)),
            "n_planned": int(declared.get("n_planned", 10_000)), "enabled": bool(declared.get("enabled", True))}


def ab_status(run_dir: Path, alpha: float | None = None, delta: float | None = None) -> ABStatus:
    """The status of the A/B test recorded in `run_dir`."""
    from emoprompt.abtest import read_outcomes

    plan = design(run_dir)
    alpha = alpha if alpha is not None else plan["alpha"]
    delta = delta if delta is not None else plan["delta"]
    records = read_records(run_dir)
    outcomes = read_outcomes(run_dir)
    records = [r.replace(score=outcomes[r.call_id]) if r.call_id in outcomes else r for r in records]
    records.sort(key=lambda r: r.time or "")
    control, weights = plan["control"], plan["weights"]
    counts = dict(Counter(r.condition for r in records))
    srm_p = sample_ratio_mismatch(counts, weights)
    arms = [name for name in plan["names"] if name != control]
    contrasts = []
    for arm in arms:
        pair = [r for r in records if r.condition in (arm, control)]
        treated = np.array([r.condition == arm for r in pair])
        share = weights[arm] / (weights[arm] + weights[control])
        columns = {"score": [np.nan if r.score is None or r.error else r.score for r in pair],
                   "error": [1.0 if r.error else 0.0 for r in pair],
                   "latency_s": [np.nan if r.error or r.latency_s is None else r.latency_s for r in pair]}
        for metric in METRICS:
            result = sequential_contrast(arm, metric, np.array(columns[metric], float), treated, share, alpha,
                                         plan["n_planned"])
            if result is not None:
                contrasts.append(result.to_dict())
    for family in (["score"], list(GUARDRAILS)):
        rows = [row for row in contrasts if row["metric"] in family]
        for row, discovered in zip(rows, e_bh([row["e_value"] for row in rows], alpha), strict=True):
            row["discovery"] = discovered
            row["family_size"] = len(rows)
    decision, reason = _decide(contrasts, arms, srm_p, delta)
    return ABStatus(decision, reason, control, arms, counts, srm_p, contrasts, alpha, delta)


def _decide(contrasts: list[dict[str, Any]], arms: list[str], srm_p: float, delta: float) -> tuple[str, str]:
    if srm_p < SRM_ALPHA:
        return "check assignment", (f"sample ratio mismatch: the arms' call counts are unlikely under the design "
                                    f"(p = {srm_p:.2g}); fix assignment or logging before reading any result")
    broken = [row for row in contrasts if row["metric"] != "score" and row["discovery"] and row["diff"] > 0]
    if broken:
        row = broken[0]
        what = "error rate" if row["metric"] == "error" else "latency"
        return "stop: guardrail", (f"{row['arm']} raises the {what} by {row['diff']:+.3g} "
                                   f"[{row['ci_low']:+.3g}, {row['ci_high']:+.3g}] (anytime-valid, e-BH)")
    scores = [row for row in contrasts if row["metric"] == "score"]
    found = [row for row in scores if row["discovery"]]
    if found:
        best = max(found, key=lambda row: row["diff"])
        direction = "better" if best["diff"] > 0 else "worse"
        return f"stop: {best['arm']} {direction}", (f"{best['arm']} − control = {best['diff']:+.3g} "
                                                   f"[{best['ci_low']:+.3g}, {best['ci_high']:+.3g}] after "
                                                   f"{best['n']} outcomes (anytime-valid, e-BH across "
                                                   f"{best['family_size']} arm{'s' * (best['family_size'] != 1)})")
    if scores and len(scores) == len(arms) and all(-delta < row["ci_low"] and row["ci_high"] < delta
                                                  for row in scores):
        return "stop: equivalent", f"every arm is within ±{delta:g} of the control (anytime-valid intervals)"
    if not scores:
        return "continue", "no outcomes recorded yet"
    apart = [row for row in scores if row["ci_low"] > 0 or row["ci_high"] < 0]
    if apart:
        row = apart[0]
        return "continue", (f"{row['arm']}'s own interval [{row['ci_low']:+.3g}, {row['ci_high']:+.3g}] excludes 0, "
                            f"but not after correcting for {row['family_size']} arms (e-BH); keep collecting")
    widest = max(row["ci_high"] - row["ci_low"] for row in scores)
    return "continue", f"no arm differs yet; the widest interval spans {widest:.3g}"
