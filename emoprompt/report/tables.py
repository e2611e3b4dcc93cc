"""The report's tables as plain rows of strings, shared by the Markdown and HTML renderers."""

from __future__ import annotations

from typing import Any

from emoprompt.report.formatting import Table, confidence, p_text, scale_of
from emoprompt.stats.scale import Scale


def conditions_table(result: dict[str, Any], analysis: dict[str, Any]) -> Table:
    """Score, errors, parse failures and output length per condition, with the paired change of the last two."""
    spec, scale = analysis["spec"], scale_of(analysis)
    confounds = {(row["measure"], row["condition"]): row for row in result.get("confounds") or []}
    rows = []
    for entry in result["conditions"]:
        cells = [entry["condition"], entry["family"] or "—", str(entry["cells"]), str(entry["errors"]),
                 scale.score(entry["accuracy"]), Scale().score(entry["parse_failure_rate"])]
        parse, length = confounds.get(("parse", entry["condition"])), confounds.get(("length", entry["condition"]))
        cells.append(_confound_cell(parse, Scale()) if parse else "—")
        cells.append("—" if entry["mean_tokens_out"] is None else f"{entry['mean_tokens_out']:.1f}")
        cells.append(_confound_cell(length, Scale("tokens", 1.0, " tokens")) if length else "—")
        rows.append(cells)
    return Table("Conditions", ["condition", "family", "cells", "errors", "accuracy" if scale.proportions else
                                "mean score", "parse failures", f"Δ parse failures vs {spec['control']} (pp)",
                                "mean output tokens", f"Δ output tokens vs {spec['control']}"], rows,
                 "Parse failures are answers the scorer could not read at all; they count as incorrect above, and "
                 "a stimulus that changes them changes format compliance, not necessarily reasoning. Δ columns: "
                 f"paired, {confidence(analysis)} CI, p Holm-adjusted over this family; ⚠ marks a significant change.")


def _confound_cell(row: dict[str, Any], scale: Scale) -> str:
    mark = " ⚠" if row.get("significant") else ""
    return (f"{scale.diff(row['diff'])} {scale.interval(row['ci_low'], row['ci_high'])}, "
            f"p Holm {p_text(row.get('p_holm'))}{mark}")


def usage_table(result: dict[str, Any]) -> Table:
    """Tokens and cost per condition, and for the whole run."""
    from emoprompt.usage import cost_text, count_text

    rows = [[u["condition"], f"{u['cells']:,}", f"{u['calls']:,}", count_text(u["tokens_in"]),
             count_text(u["tokens_out"]), cost_text(u["cost_usd"]), f"{u['cached_calls_cells']:,}"]
            for u in result["usage"]]
    return Table("Tokens and cost", ["condition", "cells", "model calls", "tokens in", "tokens out", "cost (USD)",
                                     "cells from the cache"], rows,
                 "Cost comes from litellm's price map; — where the model's price is unknown (local models, custom "
                 "servers), and tokens — where no cell recorded them. Cells from the cache carry the tokens and cost "
                 "of the call that first answered them.")


def pooled_tables(result: dict[str, Any], analysis: dict[str, Any]) -> list[Table]:
    """Each condition vs the control, pooled over tasks (secondary family, Holm): the main columns, and the
    secondary ones (heterogeneity, prediction interval, relative change, GEE) in a collapsed table."""
    spec, scale, level = analysis["spec"], scale_of(analysis), confidence(analysis)
    rows, details, flagged = [], [], set()
    for index, row in enumerate(result["pooled"]):
        fixed, random, relative = row["fixed"] or {}, row["random"] or {}, row["relative"] or {}
        flags = _flags(row.get("underpowered"), relative.get("flag"), cannot=row.get("cannot_reach_significance"),
                       equivalent=row.get("equivalent"), confirmed=row.get("confirmed"))
        if row.get("confirmed"):
            flagged.add(index)
        rows.append([
            row["condition"], str(row["n_items"]), scale.score(row["acc_ctrl"]), scale.score(row["acc_treat"]),
            f"{scale.diff(fixed.get('diff'))} {scale.interval(fixed.get('ci_low'), fixed.get('ci_high'))}",
            p_text(fixed.get("p_value")), p_text(row.get("p_holm_fixed")), flags,
            f"{scale.diff(random.get('diff'))} {scale.interval(random.get('ci_low'), random.get('ci_high'))}",
            scale.diff(row.get("mde_80"), False)])
        gee = row.get("gee")
        prediction = scale.interval(random.get("pred_low"), random.get("pred_high"))
        details.append([
            row["condition"], p_text(row.get("p_holm_random")),
            "—" if random.get("tau") is None else f"{scale.diff(random['tau'], False)} / {100 * random['i2']:.0f}%",
            prediction + (" (approx.)" if random.get("pred_approximate") and prediction != "—" else ""),
            _relative(relative) if scale.proportions else "—", "—" if not gee else f"{gee['odds_ratio']:.2f}",
            p_text(row.get("p_tost")), str(row.get("family_size", "—"))])
    main = Table(f"Pooled over tasks: each condition vs {spec['control']} (secondary, Holm)",
                 ["condition", "items", f"{spec['control']}", "condition", f"Δ {scale.unit} these tasks [{level} CI]",
                  "p", "p Holm", "flags", f"Δ {scale.unit} a new task (RE) [{level} CI]", f"MDE {scale.unit}"], rows,
                 "These tasks: the paired contrast over every item of every task (each item weighs the same; the "
                 "terminal summary prints the same numbers). A new task: random-effects meta-analysis over tasks. "
                 + FLAG_LEGEND, flagged)
    more = Table(f"Pooled over tasks: more columns (vs {spec['control']})",
                 ["condition", "p Holm (RE)", f"τ {scale.unit} / I²", f"prediction interval for one new task "
                  f"[{level}]", "relative change [CI]", "GEE odds ratio", "p TOST", "Holm family"], details,
                 "The prediction interval is where one new task's effect is expected to fall; with few tasks it is "
                 "marked approximate. Relative change: ratio of pooled means (shown for 0–1 scores only).",
                 collapsed=True)
    return [main, more]


def per_task_table(result: dict[str, Any], analysis: dict[str, Any]) -> Table:
    """Condition × task contrasts (exploratory family)."""
    spec, scale, level = analysis["spec"], scale_of(analysis), confidence(analysis)
    rows, flagged = [], set()
    for index, row in enumerate(sorted(result["per_task"], key=lambda r: (r["condition"], r["task"]))):
        flags = _flags(row["underpowered"], (row.get("relative") or {}).get("flag"),
                       cannot=row.get("cannot_reach_significance"), equivalent=row.get("equivalent"),
                       confirmed=row.get("significant_holm"))
        if row.get("significant_holm"):
            flagged.add(index)
        rows.append([row["condition"], row["task"], str(row["n_items"]), scale.score(row["acc_ctrl"]),
                     scale.score(row["acc_treat"]),
                     f"{scale.diff(row['diff'])} {scale.interval(row['ci_low'], row['ci_high'])}", p_text(row["p"]),
                     p_text(row.get("p_holm")), flags, p_text(row.get("p_bh")), scale.diff(row["mde_80"], False),
                     _relative(row.get("relative") or {}) if scale.proportions else "—"])
    return Table(f"Per task: each condition vs {spec['control']} (exploratory)",
                 ["condition", "task", "items", f"{spec['control']}", "condition", f"Δ {scale.unit} [{level} CI]", "p",
                  "p Holm", "flags", "p BH (exploratory)", f"MDE {scale.unit}", "relative change [CI]"], rows,
                 "p Holm: family-wise over every contrast in this table. p BH: false-discovery screen, exploratory. "
                 + FLAG_LEGEND, flagged)


def flips_table(result: dict[str, Any], analysis: dict[str, Any]) -> Table:
    """Items that changed: wrong under the control and right under the condition, and the reverse."""
    totals: dict[str, list[int]] = {}
    for row in result["per_task"]:
        counts = totals.setdefault(row["condition"], [0, 0, 0])
        counts[0] += row.get("n10", row["improved"]) or 0
        counts[1] += row.get("n01", row["worsened"]) or 0
        counts[2] += row["n_items"]
    rows = [[condition, str(up), str(down), f"{up - down:+d}", str(n)] for condition, (up, down, n) in totals.items()]
    return Table(f"Flips against {analysis['spec']['control']}",
                 ["condition", "wrong → right", "right → wrong", "net", "items"], rows,
                 "With one binary sample per item these are McNemar's discordant pairs; with repeats, items whose "
                 "mean score rose or fell.")


def aggregate_table(result: dict[str, Any], analysis: dict[str, Any]) -> Table:
    """The papers' aggregation: the average over tasks, and each relative improvement beside the absolute
    difference (with its interval) against the same reference."""
    spec, scale, level = analysis["spec"], scale_of(analysis), confidence(analysis)
    normalized = any(row.get("mean_normalized") is not None for row in result["aggregate"])
    headers = ["condition", "tasks", "average over tasks"] + (["normalized preferred score"] if normalized else [])
    for reference in (spec["control"], spec["baseline"]):
        headers += [f"Δ {scale.unit} vs {reference} [{level} CI]", f"relative vs {reference}"]
    if spec["control"] == spec["baseline"]:
        headers = headers[:-2]
    rows = []
    for row in result["aggregate"]:
        cells = [row["condition"], str(row["tasks"]), scale.score(row["mean_score"])]
        if normalized:
            cells.append("—" if row.get("mean_normalized") is None else f"{row['mean_normalized']:.1f}")
        for side in ("control", "baseline")[: 1 if spec["control"] == spec["baseline"] else 2]:
            versus = row.get(f"vs_{side}")
            if not versus or versus.get("diff") is None:
                cells += ["—", "—"]
                continue
            cells += [f"{scale.diff(versus['diff'])} {scale.interval(versus['ci_low'], versus['ci_high'])}",
                      _signed_pct(versus.get("relative"))]
        rows.append(cells)
    return Table("Paper-style aggregation (average of per-task scores)", headers, rows,
                 "EmotionPrompt/NegativePrompt report task-averaged scores and relative improvements. Here every task "
                 "weighs the same, so Δ can differ from the pooled table, where every item does; each relative change "
                 "stands beside the absolute difference against the same reference. Relative changes on low "
                 "baselines explode: read them with the difference and its interval.")


def iteration_tables(iterations: dict[str, Any]) -> list[Table]:
    """Feedback loops: accuracy after each attempt, paired contrasts at each attempt, and what it cost."""
    depth = iterations["max_iters"]
    oracle = "oracle" in iterations["verifiers"]
    curve_rows = [[c["condition"], c.get("verifier") or "—", *[_pct(a) for a in c["accuracy_at"]], _pct(c["final"]),
                   f"{c['mean_attempts']:.2f}"] for c in iterations["curves"]]
    note = ("ORACLE UPPER BOUND: the loop stopped when the gold answer said the attempt was right (HEART's S1 "
            "setting); no deployed system has that verifier. " if oracle else "")
    curves = Table("Iterative feedback: accuracy after each attempt",
                   ["condition", "verifier", *[f"@{k}" for k in range(1, depth + 1)], "final", "mean attempts"],
                   curve_rows, note + "@k: accuracy when at most k attempts are allowed (an item that stopped keeps "
                   "its answer). The phrases are emoprompt's own; HEART's are unpublished.")
    contrast_rows = [[c["condition"], c["control"], f"@{c['k']}", _pct(c["mean_control"]), _pct(c["mean_treatment"]),
                      f"{Scale().diff(c['diff'])} {Scale().interval(c['ci_low'], c['ci_high'])}",
                      p_text(c["p_value"]), p_text(c.get("p_holm"))] for c in iterations["contrasts"]]
    contrasts = Table("Feedback loops against the neutral loop and the single shot, at each attempt",
                      ["condition", "control", "attempt", "acc control", "acc loop", "Δ pp [95% CI]", "p", "p Holm"],
                      contrast_rows, "Against heart-neutral: the emotion effect at the same number of attempts; "
                      "against the baseline: what iterating buys over one answer.")
    cost_rows = [[c["condition"], str(c["items"]), f"{c['mean_calls']:.2f}", f"{c['mean_tokens_in']:.0f}",
                  f"{c['mean_tokens_out']:.1f}"] for c in iterations["costs"]]
    costs = Table("Cost per item", ["condition", "items", "model calls", "tokens in", "tokens out"], cost_rows,
                  "The price of the gain: every call, including self-verification and synthesis calls.")
    return [curves, contrasts, costs]


def errors_table(analysis: dict[str, Any]) -> Table | None:
    """Error cells by kind."""
    kinds = analysis["data"].get("error_kinds") or {}
    if not kinds:
        return None
    return Table("Error cells (left out of the statistics)", ["kind", "cells"],
                 [[kind, str(count)] for kind, count in kinds.items()],
                 "Rerun them with `emoprompt run --resume RUN_DIR --retry-errors`.")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _relative(relative: dict[str, Any]) -> str:
    if relative.get("value") is None:
        return "—"
    text = f"{100 * relative['value']:+.0f}% [{_signed_pct(relative['ci_low'])}, {_signed_pct(relative['ci_high'])}]"
    return text + (" ⚠" if relative.get("flag") else "")


def _signed_pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:+.0f}%"


def _flags(underpowered: bool | None, relative_flag: str | None, cannot: bool | None = None,
           equivalent: bool | None = None, confirmed: bool | None = None) -> str:
    flags = []
    if confirmed:
        flags.append("★")
    if equivalent:
        flags.append("≈")
    if cannot:
        flags.append("∅")
    if underpowered:
        flags.append("low power")
    if relative_flag:
        flags.append("rel ⚠")
    return " ".join(flags) or "—"


FLAG_LEGEND = ("Flags: ★ significant after Holm; ≈ equivalent within ± the smallest effect of interest (TOST); "
               "∅ too few discordant items to ever reach significance; low power: minimum detectable effect above "
               "the smallest effect of interest; rel ⚠ relative change unreliable (control rate < 20% or < 10 "
               "discordant pairs).")


def selection_table(selection: dict[str, Any], analysis: dict[str, Any]) -> Table:
    """The best stimulus: the naive pick (optimistic) beside estimates on items that did not choose it."""
    scale, level = scale_of(analysis), confidence(analysis)
    rows: list[list[str]] = []
    flagged: set[int] = set()
    for key in ("naive", "split", "crossfit", "simultaneous", "routing"):
        estimate = selection.get(key)
        if not estimate:
            continue
        chosen = estimate["chosen"]
        shown = chosen if isinstance(chosen, str) else ", ".join(f"{k}: {v}" for k, v in chosen.items())
        if key != "naive":
            flagged.add(len(rows))
        rows.append([estimate["label"], shown[:80], str(estimate["n_items"]),
                     f"{scale.diff(estimate['diff'])} {scale.interval(estimate['ci_low'], estimate['ci_high'])}",
                     p_text(estimate["p_value"]), estimate.get("note") or "—"])
    return Table(f"The best stimulus against {selection['control']}: honest estimates beside the naive one",
                 ["estimate", "chosen", "items", f"Δ {scale.unit} [{level} CI]", "p", "note"], rows,
                 "The naive row picks the winner and estimates it on the same items: optimistic (the winner's curse). "
                 "The split and routing rows choose on half the items and estimate on the other half; the "
                 "simultaneous row widens the winner's interval to cover it whatever picked it (max-|t| over all "
                 "candidates, Berk et al. 2013; the zoom correction, arXiv 2411.18569, is tighter). Cross-fitting "
                 "gives a point estimate only." + _p_best_note(selection), flagged)


def _p_best_note(selection: dict[str, Any]) -> str:
    """P(best) of each candidate, highest first, as a sentence after the table."""
    shares = sorted(((row["p_best"], row["condition"]) for row in selection.get("per_candidate") or []
                     if row.get("p_best") is not None), reverse=True)
    if not shares:
        return ""
    listed = ", ".join(f"{name} {100 * share:.0f}%" for share, name in shares)
    return (f" P(best), the share of item-bootstrap resamples in which each candidate had the largest difference: "
            f"{listed}.")
