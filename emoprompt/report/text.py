"""The words of a report: the headline answer and the methods paragraph, generated from the numbers."""

from __future__ import annotations

from typing import Any

from emoprompt.report.formatting import confidence, p_phrase, plural
from emoprompt.stats.scale import Scale


def headline(analysis: dict[str, Any], context: dict[str, Any]) -> list[str]:
    """One paragraph per model answering: did the stimuli change the model, by how much, how sure are we — and
    did they change something else (parse failures, output length) that could explain it?"""
    spec, paragraphs = analysis["spec"], []
    scale = Scale.from_dict(analysis["data"].get("scale"))
    level = confidence(analysis)
    if context.get("unpaired"):
        sequential = analysis.get("sequential")
        if sequential:
            paragraphs.append(f"Anytime-valid status: {sequential['decision']} — {sequential['reason']}. This may be "
                              "read at any time; the fixed-n tables below are valid only at a size fixed in advance.")
        paragraphs.append("Conditions were assigned to different inputs (an A/B test), so comparisons are "
                          "unpaired (Welch t on per-call scores).")
    for model, result in analysis["models"].items():
        sentences = [_primary_sentence(model, result, scale, level)] if result.get("primary") else []
        sentences += _pooled_sentences(result, spec)
        sentences += _confound_sentences(result, scale)
        if (result.get("per_question") or {}).get("swings"):
            from emoprompt.report.questions import swing_sentence

            sentences.append(swing_sentence(result["per_question"], spec["alpha"]))
        if result.get("wording"):
            from emoprompt.report.wording import wording_sentence

            sentences.append(wording_sentence(result["wording"], spec, scale, level))
        under = sum(1 for r in result["per_task"] if r["underpowered"])
        if result["per_task"]:
            sentences.append(f"{under} of {len(result['per_task'])} per-task contrasts are underpowered "
                             f"(minimum detectable effect above the {scale.diff(spec['sesoi'], False)} {scale.unit} "
                             "smallest effect of interest); read them as exploratory.")
        generic = result.get("generic")
        if generic and generic.get("fixed"):
            fixed = generic["fixed"]
            shown = scale.interval(fixed["ci_low"], fixed["ci_high"])
            sentences.append(f"Appending any text ({spec['control']} vs {spec['baseline']}) changed the score by "
                             f"{scale.diff(fixed['diff'])} {scale.unit} {shown} ({p_phrase(fixed['p_value'])}).")
        paragraphs.append(" ".join(s for s in sentences if s) or _nothing_compared(model, result, spec, scale))
    warnings = _import_facts(context).get("warnings") or []
    if warnings:
        paragraphs.insert(0, "Import warnings: " + " ".join(warnings))
    return paragraphs


def _import_facts(context: dict[str, Any]) -> dict[str, Any]:
    """What an importer read and warned about (an imported run's manifest keeps it)."""
    manifest = context.get("manifest") or {}
    facts = (manifest.get("metadata") or {}).get("import") if manifest.get("kind") == "import" else None
    return facts if isinstance(facts, dict) else {}


def _nothing_compared(model: str, result: dict[str, Any], spec: dict[str, Any], scale: Scale) -> str:
    if len(spec.get("conditions") or ()) != 1 or len(result.get("conditions") or ()) != 1:
        return f"{model}: not enough paired data for a comparison."
    row = result["conditions"][0]
    return (f"{model}: {row['condition']} scored {scale.score(row['accuracy'])} over {row['cells']:,} cells "
            f"({row['errors']} errors). With one condition there is nothing to compare; add a placebo and stimuli "
            "(for example --condition baseline --condition PL01 --condition EP02) to test an effect.")


def _primary_sentence(model: str, result: dict[str, Any], scale: Scale, level: str) -> str:
    primary = result["primary"]
    mde = primary.get("mde_80")
    n_tasks = primary.get("n_tasks") or len(result.get("tasks_compared") or result["heatmap"])
    if primary.get("method") == "too few items":
        verdict = "too few items for a test"
    elif primary["rejects"]:
        verdict = "evidence of an effect"
    elif primary.get("method") == "no difference":
        verdict = ("no difference at all: every item scored the same under the stimuli and the control, so this "
                   "run says nothing about power (check that the stimuli reached the model)")
    elif mde:
        verdict = (f"no evidence of an effect; the design could detect about {scale.diff(mde, False)} {scale.unit} "
                   "or more with 80% power")
    else:
        verdict = "no evidence of an effect"
    stimuli = len(primary["stimuli"])
    return (f"On {model}, across {plural(n_tasks, 'task')} and {plural(primary['n_items'], 'item')}, the "
            f"{stimuli} {'stimulus' if stimuli == 1 else 'stimuli'}{' together' if stimuli > 1 else ''} changed "
            f"the score by {scale.diff(primary['diff'])} {scale.unit} "
            f"{scale.interval(primary['ci_low'], primary['ci_high'])} ({level} CI) relative to {primary['control']} "
            f"(primary test, {p_phrase(primary['p_value'])}): {verdict}.")


def _pooled_sentences(result: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    alpha, primary = spec["alpha"], result.get("primary")
    confirmed = [r["condition"] for r in result["pooled"] if r.get("confirmed")]
    significant = [r for r in result["pooled"] if (r.get("p_holm_fixed") or 1) < alpha]
    if confirmed:
        return [f"After Holm correction, {', '.join(confirmed)} differed from {spec['control']} on these tasks."]
    if significant and primary and not primary["rejects"]:
        return ["Some single stimuli pass Holm correction, but the primary test did not reject, so under the "
                "pre-declared gatekeeping they are exploratory."]
    if result["pooled"]:
        family = result["pooled"][0].get("family_size") or len(result["pooled"])
        across = (f" ({len(result['pooled'])} of this model's, the family spanning every model)"
                  if family != len(result["pooled"]) else "")
        return [f"No single condition differed from {spec['control']} after Holm correction over "
                f"{plural(family, 'pooled contrast')}{across}."]
    return []


def _confound_sentences(result: dict[str, Any], scale: Scale) -> list[str]:
    """Name the conditions that changed parse failures or output length significantly (Holm, own family)."""
    found = [row for row in result.get("confounds") or [] if row.get("significant")]
    sentences = []
    parse = [row for row in found if row["measure"] == "parse"]
    if parse:
        parts = [f"{row['condition']} {Scale().diff(row['diff'])} pp {Scale().interval(row['ci_low'], row['ci_high'])}"
                 for row in parse]
        sentences.append(f"Confound: parse failures changed against {parse[0]['control']} for "
                         f"{'; '.join(parts)} (Holm-corrected); there, part of the score difference is whether the "
                         "answer could be read at all, not whether it was right.")
    length = [row for row in found if row["measure"] == "length"]
    if length:
        parts = [f"{row['condition']} {row['diff']:+.1f} tokens [{row['ci_low']:+.1f}, {row['ci_high']:+.1f}]"
                 if row["ci_low"] is not None else f"{row['condition']} {row['diff']:+.1f} tokens" for row in length]
        sentences.append(f"Output length changed against {length[0]['control']} for {'; '.join(parts)} "
                         "(Holm-corrected).")
    return sentences


def methods(analysis: dict[str, Any], context: dict[str, Any]) -> str:
    """The methods paragraph, generated from the analysis plan and the run's manifest."""
    spec, data = analysis["spec"], analysis["data"]
    scale = Scale.from_dict(data.get("scale"))
    level = confidence(analysis)
    k = data["K"]
    unit = (f"one binary score per item and condition: McNemar mid-p tests (exact p also reported) with {level} "
            "intervals that join the uniform Dirichlet posterior interval of the discordant shares with Tango's "
            "score interval (Agresti–Min intervals, which STATS.md names, covered as little as 88% at 20 items; the "
            "Dirichlet interval alone as little as 82% at a 90 pp effect; the joined intervals covered at least "
            "93.9% in every design enumerated at 15–60 items with effects from 0 to 95 pp)"
            if k == 1 and data["binary_scores"] else
            f"per-item means over K = {k} repeat{'s' * (k != 1)}: paired t tests (an exact sign-flip p where every "
            f"item moved alike), with sign-flip permutation p-values and paired BCa bootstrap {level} intervals as "
            "robustness checks")
    if context.get("unpaired"):
        unit = "per-call scores compared between independently assigned conditions: Welch t tests (unpaired)"
    scale_text = ("percentage points" if scale.proportions else
                  f"points of the scores' own scale (they range from {scale.low:g} to {scale.high:g})")
    parts = [
        f"Estimand: the mean over items of the per-item score difference (treatment − {spec['control']}), in "
        f"{scale_text}; items are the unit of analysis and repeats are averaged within an item first. Every "
        f"interval is {level} (α = {spec['alpha']}).",
        f"Per task and condition: {unit}.",
        "Multiplicity: hierarchy of (1) one primary test — per item, the mean over all stimuli minus the control — "
        "(2) each condition pooled over tasks, Holm-adjusted, interpreted only if (1) rejects, and (3) condition × "
        "task contrasts, Holm-adjusted over the whole family of printed contrasts with a Benjamini–Hochberg column "
        "as an exploratory screen. Parse failures and output length are a separate family, Holm-adjusted.",
        "Pooled effects: on these tasks, the paired contrast over every item of every task (the estimator of the "
        "per-task rows and of the terminal summary; each item weighs the same); on a new task like these, a "
        "Paule–Mandel random-effects meta-analysis of per-task differences with a Hartung–Knapp–Sidik–Jonkman "
        "interval, τ², I² and a prediction interval (per-task variances floored at 1/(n+2)²; the prediction interval "
        "is marked approximate when there are few tasks), with a GEE logit (exchangeable within item) as a "
        "cross-check on binary scores. The paper-style table averages per-task scores, so there each task weighs "
        "the same. Relative change is the ratio of pooled means with a delta-method interval on the log ratio, "
        "Student t with n − 1 df (a percentile bootstrap under-covered at 15–30 items).",
        f"Power: minimum detectable effect at 80% power and α/family, the family being the Holm family the contrast "
        f"is corrected in (noncentral t below 1,000 items); flagged as underpowered above the smallest effect of "
        f"interest of {scale.diff(spec['sesoi'], False)} {scale.unit}; TOST equivalence "
        f"(±{scale.diff(spec['sesoi'], False)} {scale.unit}) for non-significant contrasts.",
        *([f"Wordings: with {data['wordings']} wordings of each task, the primary test and the pooled contrasts "
           "(their Holm family, MDEs, equivalence and the words of the verdict) use the crossed analysis, items and "
           "wordings both random (two-way ANOVA components, Satterthwaite t); the items-only numbers, with wordings "
           "folded into repeats, are kept as secondary rows (items_only, and the wording section). The per-task "
           "rows stay items-only and exploratory."] if data.get("wordings", 1) > 1 else []),
        f"Error cells ({data['errors']}) are excluded; unparseable answers count as incorrect, and parse failures "
        "are compared separately.",
    ]
    manifest = context.get("manifest") or {}
    experiment = manifest.get("experiment") or {}
    generation = experiment.get("generation") or {}
    if manifest.get("kind") == "import":
        parts.append(f"Records: imported by emoprompt's {experiment.get('suite')} importer from "
                     f"{manifest.get('source')} ({plural(len(data['tasks']), 'task')}; K = {k}); the harness that "
                     "made them chose the prompts, decoding and scoring.")
        parts += list(_import_facts(context).get("read") or [])
    elif manifest:
        models = ", ".join(f"{name} ({identity.get('model', '')}"
                           + (f", {identity['weights']}" if identity.get("weights") else "") + ")"
                           for name, identity in (manifest.get("identity", {}).get("models") or {}).items())
        parts.append(
            f"Run: models {models}; suite {experiment.get('suite')}; {plural(len(data['tasks']), 'task')}; conditions "
            f"placed {experiment.get('placement')} with separator {experiment.get('separator')}; temperature "
            f"{generation.get('temperature')}, max_tokens {generation.get('max_tokens')}; K = {k}; seed "
            f"{experiment.get('seed')}; stopping rule: fixed n; experiment hash {manifest.get('experiment_hash')}; "
            f"emoprompt {manifest.get('versions', {}).get('emoprompt', '?')}.")
    elif context.get("source"):
        parts.append(f"Records: {context['source']} (analysed outside an emoprompt run).")
    return " ".join(parts)
