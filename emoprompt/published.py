"""Re-analysis of published tables (`emoprompt replicate PROTOCOL --published`): where a study's own inference
differs from one that treats its shared units honestly, and what its design could detect.

- Anand 2025 compares 40 models × 10 problems = 400 (model, problem) pairs with an exact sign test, as if the pairs
  were independent; they share 10 problems and 40 models. From the published per-model counts the effect is
  re-estimated with models as the unit (a paired t over 40 per-model differences), and the minimum detectable effect
  (MDE, 80% power) of both designs is given. Per-problem counts are not published, so no re-analysis can make
  problems the unit; with ten problems, a claim about new problems rests on ten units.
- Mind Your Tone (50 questions × 10 runs) tested across runs with the questions fixed, so its p-values measure
  decoding noise; a 4 pp difference is two questions' worth, and the item-level MDE of 50 questions is given for a
  range of discordance (the per-question data to pin it are not published).
- Wharton's reports 3 and 4 (298 and 498 questions × 25 runs): the item-level MDE of the design; which published
  contrasts could survive Holm's correction over all the contrasts the report tested (it corrected none); and the
  largest single-question gain and loss that repeat noise alone gives at 25 runs, beside the published ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emoprompt.errors import UsageError
from emoprompt.stats.paired import paired_t
from emoprompt.stats.power import mde_paired

NULL_DRAWS = 2000
"""Simulated replications of a published design under no effect, for the single-question extremes."""
SPREADS = (0.1, 0.2, 0.3)
"""Per-question standard deviations of a paired difference (or discordance rates, for right/wrong answers on one
run) to show an MDE for where the published data do not pin it down."""


def has_table(paper: dict[str, Any]) -> bool:
    """True for a reported.toml entry this module can re-analyse."""
    return ("pooled" in paper and "per_model" in paper) or "questions" in paper


def published_reanalysis(protocol: str, paper: dict[str, Any], alpha: float = 0.05) -> dict[str, Any]:
    """The re-analysis of `protocol`'s published numbers, `paper` (its suites/reported.toml entry)."""
    if "pooled" in paper and "per_model" in paper:
        rows = _pairs_and_models(paper, alpha)
        return {"protocol": protocol, "paper": paper, "kind": "pairs", "rows": rows, "alpha": alpha}
    if "questions" in paper:
        discordance = paper.get("spread") == "discordance"  # right/wrong answers: the variance is the rate
        return {"protocol": protocol, "paper": paper, "kind": "design", "alpha": alpha,
                "mde": {str(s): mde_paired(s if discordance else s**2, int(paper["questions"]), alpha)
                        for s in SPREADS},
                "contrasts": holm_feasibility(paper, alpha),
                "swings": {name: {"questions": q, "published": [gain, loss], **null_extremes(q, int(paper["runs"]))}
                           for name, (q, gain, loss) in paper.get("swing", {}).items()}}
    raise UsageError(f"no published table to re-analyse for {protocol!r}")


def holm_feasibility(paper: dict[str, Any], alpha: float) -> list[dict[str, Any]]:
    """For each published contrast, whether it can survive Holm's correction over all `contrasts_tested`: Holm's
    threshold for the r-th smallest p is α/(m − r + 1), so with `significant_reported` (k) p-values below α no
    contrast passes unless its p is below α/(m − k + 1). A p printed as "<0.001" (or rounded) may or may not; where
    the report does not say k, none is ruled out."""
    rows = []
    tested = int(paper.get("contrasts_tested", 0))
    significant = int(paper.get("significant_reported", tested))  # not said: any of them may have been
    best_threshold = alpha / (tested - significant + 1) if tested else alpha
    for contrast in paper.get("contrasts", []):
        printed = str(contrast["p"])
        bound = printed.startswith("<")
        value = float(printed.lstrip("<"))
        decimals = len(printed.split(".")[-1]) if "." in printed else 0
        lowest = 0.0 if bound else max(0.0, value - 0.5 * 10 ** -decimals)  # a rounded p may be this small
        verdict = "fails" if lowest >= best_threshold else "undetermined"
        rows.append({**contrast, "holm": verdict})
    return rows


def null_extremes(questions: int, runs: int, draws: int = NULL_DRAWS, seed: int = 0) -> dict[str, Any]:
    """The largest single-question gain and loss (pp) among `questions` under no effect at all, each question
    answered `runs` times per condition, with per-question accuracies spread uniformly over 0–1 (and all at 0.5, the
    noisiest case): median and 95% range over `draws` simulated replications."""
    rng = np.random.default_rng(seed)
    result: dict[str, Any] = {}
    shape = (draws, questions)
    for name, accuracy in (("uniform", rng.uniform(0, 1, shape)), ("half", np.full(shape, 0.5))):
        difference = 100 * (rng.binomial(runs, accuracy) - rng.binomial(runs, accuracy)) / runs
        gains, losses = difference.max(axis=1), difference.min(axis=1)
        result[name] = {"gain": [float(np.percentile(gains, q)) for q in (2.5, 50, 97.5)],
                        "loss": [float(np.percentile(losses, q)) for q in (2.5, 50, 97.5)]}
    return result


def _pairs_and_models(paper: dict[str, Any], alpha: float) -> list[dict[str, Any]]:
    from scipy import stats

    per_model = paper["per_model"]
    variants = list(per_model["variants"])
    models = [name for name in per_model if name != "variants"]
    rows = []
    for name, (better, worse, same, score_pct, p_published) in paper["pooled"].items():
        column = variants.index(name)
        counts = np.array([per_model[model][column] for model in models], float)
        per_model_diff = (counts[:, 0] - counts[:, 1]) / counts.sum(axis=1)
        clustered = paired_t(per_model_diff, np.zeros(len(models)), alpha)
        pairs = int(better + worse + same)
        net = (better - worse) / pairs
        pair_variance = (better + worse) / pairs - net**2
        rows.append({
            "variant": name, "stimulus": paper.get("stimulus_ids", {}).get(name), "better": better, "worse": worse,
            "same": same, "published_pp": score_pct, "published_p": p_published / 100,
            "sign_test_p": float(stats.binomtest(int(better), int(better + worse)).pvalue) if better + worse else 1.0,
            "models": len(models), "by_model": {"diff": clustered.diff, "ci_low": clustered.ci_low,
                                                "ci_high": clustered.ci_high, "p": clustered.p_value},
            "mde_independent_pairs": mde_paired(pair_variance, pairs, alpha),
            "mde_models": mde_paired(float(np.var(per_model_diff, ddof=1)), len(models), alpha)})
    return sorted(rows, key=lambda row: row["published_p"])


def published_markdown(data: dict[str, Any]) -> str:
    """The re-analysis as Markdown."""
    paper, alpha = data["paper"], data["alpha"]
    lines = [f"# Published numbers re-analysed: {data['protocol']}", "", f"Paper: {paper['paper']}.",
             f"Design: {paper.get('design', '—')}. Published inference: {paper.get('published_test', '—')}. "
             f"Status of the numbers: {paper.get('status', '—')}.", ""]
    if data["kind"] == "pairs":
        lines += ["| variant | better / worse / same | published Δ, p (sign test) | models as the unit: Δ [95% CI], "
                  "p | MDE if 400 independent pairs | MDE with 40 models |", "|---|---|---|---|---|---|"]
        for row in data["rows"]:
            by = row["by_model"]
            lines.append(f"| {row['variant']} ({row['stimulus']}) | {row['better']} / {row['worse']} / {row['same']} | "
                         f"{row['published_pp']:+.2f} pp, {100 * row['published_p']:.1f}% (recomputed "
                         f"{100 * row['sign_test_p']:.1f}%) | {100 * by['diff']:+.2f} pp [{100 * by['ci_low']:+.2f}, "
                         f"{100 * by['ci_high']:+.2f}], p = {by['p']:.3f} | "
                         f"{100 * row['mde_independent_pairs']:.1f} pp | {100 * row['mde_models']:.1f} pp |")
        significant = [r["variant"] for r in data["rows"] if r["sign_test_p"] < alpha]
        still = [r["variant"] for r in data["rows"] if r["by_model"]["p"] < alpha]
        lines += ["", f"The sign test treats the 400 model × problem pairs as independent, but they share ten problems "
                  f"and forty models. At α = {alpha:g} it finds {', '.join(significant) or 'no variant'}; with models "
                  f"as the unit: {', '.join(still) or 'no variant'}. Per-problem counts are not published, so problems "
                  "cannot be made the unit; any claim about problems beyond these ten rests on ten units."]
    else:
        spreads = ", ".join(f"{100 * float(s):.0f}% → {100 * m:.1f} pp" for s, m in data["mde"].items())
        lines += [f"With {paper['questions']} questions as the unit, the smallest difference this design detects with "
                  f"80% power at α = {alpha:g} is {spreads} (per-question discordance or spread of the paired "
                  "difference; the per-question data that would pin it are not published)."]
        lines += _contrast_lines(data, alpha) + _swing_lines(data)
        accuracy = paper.get("accuracy")
        if accuracy:
            ranked = sorted(accuracy.items(), key=lambda item: item[1])
            (low_name, low), (high_name, high) = ranked[0], ranked[-1]
            net = round((high - low) / 100 * int(paper["questions"]))
            lines += ["", f"{high_name} {high}% vs {low_name} {low}%: {high - low:.1f} pp, a net {net} of "
                      f"{paper['questions']} questions. Tested across {paper.get('runs', '?')} runs with the questions "
                      "fixed, the published p-values measure decoding noise, not whether the tone would matter on "
                      "other questions."]
    return "\n".join(lines) + "\n"


def _contrast_lines(data: dict[str, Any], alpha: float) -> list[str]:
    rows, paper = data.get("contrasts", []), data["paper"]
    if not rows:
        return []
    lines = ["", "| model | benchmark | prompt | published Δ [95% CI] | p (as printed) | Holm over "
             f"{paper.get('contrasts_tested', '?')} contrasts |", "|---|---|---|---|---|---|"]
    for row in rows:
        ci = f" [{100 * row['ci'][0]:+.1f}, {100 * row['ci'][1]:+.1f}]" if "ci" in row else ""
        verdict = "cannot survive" if row["holm"] == "fails" else "might survive (p not printed exactly)"
        lines.append(f"| {row['model']} | {row['benchmark']} | {row['condition']} | {100 * row['diff']:+.1f} pp{ci} | "
                     f"{row['p']} | {verdict} |")
    failing = sum(row["holm"] == "fails" for row in rows)
    tested = f"The report tested {paper.get('contrasts_tested', '?')} contrasts and corrected none."
    if "significant_reported" not in paper:
        lines += ["", f"{tested} It does not say how many were significant, so whether these survive Holm's correction "
                  "over all of them cannot be settled from the published numbers."]
        return lines
    lines += ["", f"{tested} Holm's correction at α = {alpha:g} over all of them leaves {failing} of these {len(rows)} "
              "published significant contrasts certainly non-significant; the others were printed too coarsely to "
              "tell."]
    return lines


def _swing_lines(data: dict[str, Any]) -> list[str]:
    lines = []
    for name, swing in data.get("swings", {}).items():
        gain, loss = swing["published"]
        uniform, half = swing["uniform"], swing["half"]
        lines += ["", f"{name}: the report's largest single-question gain and loss were {gain:+d} / {loss:+d} pp. "
                  f"With no effect at all, {swing['questions']} questions at {data['paper']['runs']} runs give a "
                  f"largest gain of {uniform['gain'][1]:+.0f} pp "
                  f"[{uniform['gain'][0]:+.0f}, {uniform['gain'][2]:+.0f}] "
                  f"and a largest loss of {uniform['loss'][1]:+.0f} pp [{uniform['loss'][0]:+.0f}, "
                  f"{uniform['loss'][2]:+.0f}] (median [95% range]; accuracies spread over 0–1; all at 0.5: "
                  f"{half['gain'][1]:+.0f} / {half['loss'][1]:+.0f} pp). Swings of that size are what repeat noise "
                  "gives the most extreme question; they are not evidence that the prompt moved any question."]
    return lines

