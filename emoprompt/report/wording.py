"""The report's wording section (runs with `--paraphrases K`): effects with wording as a random factor, each
condition across wordings, per-wording effects, variance components, and the headline's sentence about them."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from emoprompt.report.formatting import Table, confidence, p_phrase, p_text, scale_of
from emoprompt.stats.scale import Scale

COMPONENTS = (("item", "item", "#1e40af"), ("wording", "wording", "#b91c1c"),
              ("item_x_wording", "item × wording", "#f59e0b"), ("repeat", "repeat", "#9ca3af"))


def wording_sentence(wording: dict[str, Any], spec: dict[str, Any], scale: Scale, level: str) -> str:
    """The headline's sentence: each stimulus with wording as a random factor, beside how far rewording alone moved
    the baseline."""
    stimuli = [c for c in wording["contrasts"] if c["condition"] != spec["control"]]
    baseline = next((s for s in wording["spread"] if s["condition"] == spec["baseline"]), None)
    parts = []
    for contrast in stimuli:
        crossed = contrast["crossed"]
        parts.append(f"{contrast['condition']} {scale.diff(crossed['diff'])} {scale.unit} "
                     f"{scale.interval(crossed['ci_low'], crossed['ci_high'])} ({p_phrase(crossed['p'])})")
    if not parts:
        return ""
    sentence = (f"With wording as a random factor ({len(wording['wordings'])} wordings of each task), against "
                f"{spec['control']} ({level} CI): {'; '.join(parts)}")
    if baseline:
        sentence += (f"; rewording the instruction and format alone moved the {spec['baseline']} over a "
                     f"{scale.diff(baseline['range'], False)} {scale.unit} range across wordings (SD "
                     f"{scale.diff(baseline['sd'], False)} {scale.unit}; within a task, "
                     f"{scale.diff(baseline['task_range'], False)} {scale.unit} on average)")
    interacting = [c["condition"] for c in stimuli if (c["crossed"].get("interaction_p") or 1) < spec["alpha"]]
    if interacting:
        sentence += f"; the effect of {', '.join(interacting)} depended on the wording (stimulus × wording test)"
    return sentence + "."


def wording_tables(wording: dict[str, Any], analysis: dict[str, Any], figure: str) -> list[Table | str]:
    """The wording section's tables (and `figure`, the name of its variance-components figure)."""
    scale, level = scale_of(analysis), confidence(analysis)
    effects = []
    for contrast in wording["contrasts"]:
        crossed, items, original = contrast["crossed"], contrast["items_only"] or {}, contrast["original"] or {}
        effects.append([
            f"{contrast['condition']} vs {contrast['control']}",
            f"{scale.diff(crossed['diff'])} {scale.interval(crossed['ci_low'], crossed['ci_high'])}",
            p_text(crossed["p"]),
            f"{scale.diff(items.get('diff'))} {scale.interval(items.get('ci_low'), items.get('ci_high'))}",
            f"{scale.diff(original.get('diff'))} {scale.interval(original.get('ci_low'), original.get('ci_high'))}",
            _interaction(crossed), f"{crossed['n_items']} / {contrast['items_left_out']}"])
    tables: list[Table | str] = [Table(
        f"Effects across {len(wording['wordings'])} wordings: wording as a random factor",
        ["contrast", f"Δ {scale.unit}, any wording [{level} CI]", "p", f"items only [{level} CI]",
         f"as written (p0) [{level} CI]", "stimulus × wording", "items / left out"], effects,
        "Any wording: items and wordings crossed random factors within each task (two-way ANOVA estimates, "
        "Satterthwaite df), tasks weighted by their items — the estimate the pooled tables give, with the wording's "
        "share of the uncertainty added. Items only: the same estimate with each item averaged over its wordings "
        "(what the pooled tables above show). As written: the task's own wording alone. Stimulus × wording: F test of "
        "whether the effect changes with the wording. Items without a score in every wording are left out here.")]
    wordings = wording["wordings"]
    spread_rows = [[s["condition"], *[scale.score(s["by_wording"].get(w)) for w in wordings],
                    scale.diff(s["range"], False), scale.diff(s["sd"], False), scale.diff(s["task_range"], False),
                    scale.score(s["max_p"]), scale.score(s["avg_p"]), scale.score(s["cps"])]
                   for s in wording["spread"]]
    tables.append(Table(
        "Each condition across wordings", ["condition", *wordings, f"range ({scale.unit})", f"SD ({scale.unit})",
                                           f"mean range within a task ({scale.unit})", "MaxP", "AvgP", "CPS"],
        spread_rows,
        "Scores pooled over tasks (every item weighs the same). MaxP, AvgP and CPS per task, averaged over tasks "
        "(Mizrahi et al., TACL 2024): the best wording, the mean over wordings, and (1 − (MaxP − AvgP)) · MaxP. p0 is "
        "the task as written."))
    per_wording = [[c["condition"], *[_estimate(next((w for w in c["per_wording"] if w["paraphrase"] == name), {}),
                                                 scale) for name in wordings]]
                   for c in wording["contrasts"]]
    tables.append(Table(f"Effect vs the control in each wording ({scale.unit}, {level} CI)", ["condition",
                                                                                            *wordings],
                        per_wording, "Each wording alone, items the only random factor.", collapsed=True))
    component_rows = [[row["condition"], *[_component(row, name, scale) for name, _, _ in COMPONENTS]]
                      for row in wording["components"] if row.get("shares")]
    if component_rows:
        tables.append(Table("Variance components of the scores (within tasks)",
                            ["condition", *[label for _, label, _ in COMPONENTS]], component_rows,
                            "SD in the scores' unit and share of the variance, by the balanced ANOVA of items × "
                            "wordings × repeats within each task, averaged over tasks. With one repeat, repeat "
                            "noise is part of item × wording."))
        tables.append(figure)
    return tables


def components_svg(wording: dict[str, Any], title: str) -> str:
    """Stacked bars: each condition's variance split into item, wording, item × wording and repeat."""
    rows = [row for row in wording["components"] if row.get("shares")]
    label_w, bar_w, row_h, top = 150, 420, 22, 34
    height = top + row_h * len(rows) + 40
    width = label_w + bar_w + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
             f'style="max-width:{width * 1.6:.0f}px" preserveAspectRatio="xMinYMin meet" '
             f'font-family="Helvetica, Arial, sans-serif" font-size="12" role="img" aria-label="{escape(title)}">',
             f'<text x="{label_w}" y="18" font-weight="bold">{escape(title)}</text>']
    for index, row in enumerate(rows):
        y = top + row_h * index
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(row["condition"])}</text>')
        x = float(label_w)
        for name, _, colour in COMPONENTS:
            share = row["shares"].get(name) or 0.0
            if share > 0:
                parts.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{share * bar_w:.1f}" height="{row_h - 8}" '
                             f'fill="{colour}"/>')
                x += share * bar_w
    legend_y = top + row_h * len(rows) + 20
    for index, (_, label, colour) in enumerate(COMPONENTS):
        x = label_w + index * 105
        parts.append(f'<rect x="{x}" y="{legend_y - 10}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{x + 14}" y="{legend_y}">{escape(label)}</text>')
    return "".join(parts) + "</svg>"


def _interaction(crossed: dict[str, Any]) -> str:
    if crossed.get("interaction_f") is None:
        return "—"
    df = crossed["interaction_df"]
    return f"F({df[0]}, {df[1]}) = {crossed['interaction_f']:.2f}, {p_phrase(crossed['interaction_p'])}"


def _estimate(row: dict[str, Any], scale: Scale) -> str:
    if row.get("diff") is None:
        return "—"
    return f"{scale.diff(row['diff'])} {scale.interval(row.get('ci_low'), row.get('ci_high'))}"


def _component(row: dict[str, Any], name: str, scale: Scale) -> str:
    value = row.get(name)
    if value is None:
        return "— (one repeat)"
    return f"{scale.diff(math.sqrt(value), False)} ({100 * row['shares'].get(name, 0.0):.0f}%)"
