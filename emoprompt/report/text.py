"""The words of a report: the headline answer and the methods paragraph, generated from the numbers."""

from __future__ import annotations

from typing import Any


def pp(value: float | None, signed: bool = True) -> str:
    """A proportion as percentage points."""
    if value is None:
        return "—"
    return f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"


def interval(low: float | None, high: float | None) -> str:
    """A CI in percentage points."""
    return "—" if low is None or high is None else f"[{pp(low)}, {pp(high)}]"


def p_text(p: float | None) -> str:
    """A p-value, never printed as 0."""
    if p is None:
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def headline(analysis: dict[str, Any], context: dict[str, Any]) -> list[str]:
    """One paragraph per model answering: did the stimuli change the model, by how much, how sure are we?"""
    spec, paragraphs = analysis["spec"], []
    alpha, sesoi = spec["alpha"], spec["sesoi"]
    if context.get("unpaired"):
        paragraphs.append("Conditions were assigned to different inputs (an A/B test), so comparisons are "
                          "unpaired (Welch t on per-call scores).")
    for model, result in analysis["models"].items():
        sentences = []
        primary = result["primary"]
        n_tasks = len(result["heatmap"])
        if primary:
            mde = primary.get("mde_80")
            verdict = ("evidence of an effect" if primary["rejects"] else
                       f"no evidence of an effect; the design could detect about {pp(mde, False)} pp "
                       "or more with 80% power" if mde else
                       "no difference at all: every item scored the same under the stimuli and the control, so "
                       "this run says nothing about power (check that the stimuli reached the model)")
            sentences.append(
                f"On {model}, across {n_tasks} task{'s' * (n_tasks != 1)} and {primary['n_items']} items, the "
                f"{len(primary['stimuli'])} stimuli together changed the score by {pp(primary['diff'])} pp "
                f"{interval(primary['ci_low'], primary['ci_high'])} relative to {primary['control']} "
                f"(primary test, p = {p_text(primary['p_value'])}): {verdict}.")
        confirmed = [r["condition"] for r in result["pooled"] if r.get("confirmed")]
        significant = [r for r in result["pooled"] if (r.get("p_holm_fixed") or 1) < alpha]
        if confirmed:
            sentences.append(f"After Holm correction, {', '.join(confirmed)} differed from {spec['control']} on "
                             "these tasks.")
        elif significant and primary and not primary["rejects"]:
            sentences.append("Some single stimuli pass Holm correction, but the primary test did not reject, so "
                             "under the pre-declared gatekeeping they are exploratory.")
        elif result["pooled"]:
            sentences.append(f"No single condition differed from {spec['control']} after Holm correction "
                             f"over {len(result['pooled'])} pooled contrasts.")
        under = sum(1 for r in result["per_task"] if r["underpowered"])
        if result["per_task"]:
            sentences.append(f"{under} of {len(result['per_task'])} per-task contrasts are underpowered "
                             f"(minimum detectable effect above the {pp(sesoi, False)} pp smallest effect of "
                             "interest); read them as exploratory.")
        generic = result.get("generic")
        if generic and generic.get("fixed"):
            fixed = generic["fixed"]
            sentences.append(f"Appending any text ({spec['control']} vs {spec['baseline']}) changed the score by "
                             f"{pp(fixed['diff'])} pp {interval(fixed['ci_low'], fixed['ci_high'])} "
                             f"(p = {p_text(fixed['p_value'])}).")
        paragraphs.append(" ".join(sentences) or f"{model}: not enough paired data for a comparison.")
    return paragraphs


def methods(analysis: dict[str, Any], context: dict[str, Any]) -> str:
    """The methods paragraph, generated from the analysis plan and the run's manifest."""
    spec, data = analysis["spec"], analysis["data"]
    k = data["K"]
    unit = ("one binary score per item and condition: McNemar mid-p tests (exact p also reported) with "
            "Agresti–Min 95% intervals" if k == 1 and data["binary_scores"] else
            f"per-item means over K = {k} repeats: paired t tests, with sign-flip permutation p-values and paired "
            "BCa bootstrap intervals as robustness checks")
    if context.get("unpaired"):
        unit = "per-call scores compared between independently assigned conditions: Welch t tests (unpaired)"
    parts = [
        f"Estimand: the mean over items of the per-item score difference (treatment − {spec['control']}), in "
        "percentage points; items are the unit of analysis and repeats are averaged within an item first.",
        f"Per task and condition: {unit}.",
        "Multiplicity: hierarchy of (1) one primary test — per item, the mean over all stimuli minus the control — "
        "(2) each condition pooled over tasks, Holm-adjusted, interpreted only if (1) rejects, and (3) condition × "
        "task contrasts, Holm-adjusted over the whole family of printed contrasts with a Benjamini–Hochberg column "
        "as an exploratory screen.",
        "Pooled effects: tasks fixed (linear probability model with task fixed effects and item-clustered standard "
        "errors) and tasks random (Paule–Mandel random-effects meta-analysis of per-task differences with a "
        "Hartung–Knapp–Sidik–Jonkman interval, τ², I² and a prediction interval; per-task variances floored at "
        "1/(n+2)²), with a GEE logit (exchangeable within item) as a cross-check on binary scores. Relative change "
        "is the ratio of pooled means with a task-stratified paired bootstrap interval.",
        f"Power: minimum detectable effect at 80% power and α/family; flagged as underpowered above the smallest "
        f"effect of interest of {pp(spec['sesoi'], False)} pp; TOST equivalence (±{pp(spec['sesoi'], False)} pp) "
        "for non-significant contrasts. α = " + f"{spec['alpha']}.",
        f"Error cells ({data['errors']}) are excluded; unparseable answers count as incorrect, and parse failures "
        "are compared separately.",
    ]
    manifest = context.get("manifest") or {}
    experiment = manifest.get("experiment") or {}
    generation = experiment.get("generation") or {}
    if manifest:
        models = ", ".join(f"{name} ({identity.get('model', '')}"
                           + (f", {identity['weights']}" if identity.get("weights") else "") + ")"
                           for name, identity in (manifest.get("identity", {}).get("models") or {}).items())
        parts.append(
            f"Run: models {models}; suite {experiment.get('suite')}; {len(data['tasks'])} tasks; conditions placed "
            f"{experiment.get('placement')} with separator {experiment.get('separator')}; temperature "
            f"{generation.get('temperature')}, max_tokens {generation.get('max_tokens')}; K = {k}; seed "
            f"{experiment.get('seed')}; stopping rule: fixed n; experiment hash {manifest.get('experiment_hash')}; "
            f"emoprompt {manifest.get('versions', {}).get('emoprompt', '?')}.")
    elif context.get("source"):
        parts.append(f"Records: {context['source']} (analysed outside an emoprompt run).")
    return " ".join(parts)
