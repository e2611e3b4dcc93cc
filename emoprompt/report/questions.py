"""The per-question view in the report: swings of single questions beside repeat noise, and strict correctness."""

from __future__ import annotations

from html import escape
from typing import Any

from emoprompt.report.formatting import Table, p_text

SENTENCE_THRESHOLD = 0.2
"""The threshold the headline sentence speaks of (the studies' "±35 pp swings" are past it)."""


def swing_sentence(view: dict[str, Any], alpha: float) -> str:
    """One sentence: do single questions move more than repeat noise moves them? The claim rests on the spread test
    (Holm over the stimuli); the 20 pp count and its chance band say how many questions that is."""
    from emoprompt.stats.per_question import exceeds_chance

    if not view["swings"]:
        return ""
    exceeding = [s for s in view["swings"] if exceeds_chance(s, alpha)]
    swing = min(exceeding, key=lambda s: s["spread"]["p_holm"]) if exceeding else \
        max(view["swings"], key=lambda s: s["spread"]["observed_sd"])
    row = next(r for r in swing["thresholds"] if abs(r["threshold"] - SENTENCE_THRESHOLD) < 1e-9)
    spread = swing["spread"]
    counts = (f"{swing['condition']} moved {row['up'] + row['down']} of {swing['n_items']} questions by more than "
              f"20 pp ({row['up']} up, {row['down']} down; repeat noise alone: {row['null_total']:.1f} "
              f"[{row['null_band'][0]}, {row['null_band'][1]}] at {swing['repeats']} repeats)")
    shown = p_text(spread["p_holm"])
    family = f", Holm over {len(view['swings'])} stimuli" if len(view["swings"]) > 1 else ""
    test = (f"its per-question effects spread by {100 * spread['observed_sd']:.1f} pp (SD) against "
            f"{100 * spread['null_sd']:.1f} pp from repeat noise (permutation p {'' if shown[0] == '<' else '= '}"
            f"{shown}{family})")
    if exceeding:
        names = ", ".join(s["condition"] for s in exceeding)
        return f"Per question, {counts}; {test}: the swings of {names} exceed chance."
    return f"Per question, {counts}; {test}: no stimulus's per-question swings exceed what chance gives."


def swing_table(view: dict[str, Any], control: str) -> Table:
    """Per stimulus and threshold: questions moved up and down, beside the permutation null."""
    rows = []
    for swing in view["swings"]:
        for row in swing["thresholds"]:
            rows.append([swing["condition"], f"> {100 * row['threshold']:.0f} pp", str(row["up"]), str(row["down"]),
                         f"{row['null_total']:.1f} [{row['null_band'][0]}, {row['null_band'][1]}]", p_text(row["p"])])
        spread = swing["spread"]
        rows.append([swing["condition"], "spread of the effects (SD)", f"{100 * spread['observed_sd']:.1f} pp", "",
                     f"{100 * spread['null_sd']:.1f} pp", f"{p_text(spread['p_holm'])} (Holm)"])
    k = view["swings"][0]["repeats"] if view["swings"] else 0
    return Table(f"Per-question swings vs {control}, against repeat noise",
                 ["stimulus", "moved by", "questions up", "questions down", "expected by chance (95% band)",
                  "p (permutation)"], rows,
                 f"A question's effect is its mean over {k} repeats under the stimulus minus its mean under "
                 f"{control}. 'Expected by chance' deals each question's {2 * k} answers at random to the two "
                 "conditions (no effect, the same repeat noise), 1,000 times; p is the share of those with at least "
                 "as many questions moved (either way). The counts are descriptive; whether the swings exceed chance "
                 "is the spread row's test (Holm-adjusted across stimuli).")


def strict_table(view: dict[str, Any], control: str) -> Table | None:
    """Prompting Science Report 1's strict-correctness metrics with paired tests."""
    if not view.get("strict"):
        return None
    rows = []
    for row in view["strict"]:
        test = (f"{100 * row['diff']:+.1f} pp [{100 * row['ci_low']:+.1f}, {100 * row['ci_high']:+.1f}], "
                f"p {p_text(row['p'])}") if "diff" in row else "—"
        rows.append([row["threshold"], row["condition"], f"{100 * row['share']:.1f}%", test])
    return Table("Questions right in at least 100%, 90%, 51% of their runs",
                 ["runs right", "condition", "share of questions", f"vs {control} (McNemar mid-p)"], rows,
                 "The correctness standards of Prompting Science Report 1 (Meincke et al. 2025): a question counts "
                 "as right when that share of its runs are right; each is tested as a paired right/wrong outcome "
                 "per question.")


def swings_svg(view: dict[str, Any], title: str) -> str:
    """Bars: questions moved past each threshold (both ways) per stimulus, with the chance band as a grey range."""
    swings = view["swings"]
    label_w, bar_w, row_h, top = 150, 420, 18, 40
    rows = [(s["condition"], r) for s in swings for r in s["thresholds"]]
    most = max([r["up"] + r["down"] for _, r in rows] + [r["null_band"][1] for _, r in rows] + [1])
    height, width = top + row_h * len(rows) + 30, label_w + bar_w + 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
             f'style="max-width:{width * 1.6:.0f}px" font-family="Helvetica, Arial, sans-serif" font-size="11" '
             f'role="img" aria-label="{escape(title)}">',
             f'<text x="{label_w}" y="16" font-weight="bold">{escape(title)}</text>',
             f'<text x="{label_w}" y="30" fill="#555">bars: questions moved; grey: 95% of what repeat noise '
             'gives</text>']
    for index, (condition, row) in enumerate(rows):
        y = top + index * row_h
        scale = bar_w / most
        low, high = row["null_band"]
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{escape(condition)} '
                     f'&gt;{100 * row["threshold"]:.0f} pp</text>')
        parts.append(f'<rect x="{label_w + low * scale:.1f}" y="{y + 2}" width="{max(1.0, (high - low) * scale):.1f}" '
                     f'height="{row_h - 4}" fill="#d1d5db"/>')
        colour = "#b91c1c" if row["p"] < 0.05 else "#1e40af"
        moved = row["up"] + row["down"]
        parts.append(f'<rect x="{label_w}" y="{y + 6}" width="{moved * scale:.1f}" height="{row_h - 12}" '
                     f'fill="{colour}"/>')
        parts.append(f'<text x="{label_w + moved * scale + 4:.1f}" y="{y + 12}">{moved}</text>')
    parts.append("</svg>")
    return "".join(parts)
