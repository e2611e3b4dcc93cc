"""The report's tables as plain rows of strings, shared by the Markdown and HTML renderers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emoprompt.report.text import interval, p_text, pp


@dataclass
class Table:
    """A titled table with an optional note."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""
    flagged_rows: set[int] = field(default_factory=set)


def conditions_table(result: dict[str, Any], spec: dict[str, Any]) -> Table:
    """Accuracy, errors, parse failures and output length per condition."""
    rows = []
    for entry in result["conditions"]:
        parse = entry["parse_fail_vs_control"]
        rows.append([entry["condition"], entry["family"] or "—", str(entry["cells"]), str(entry["errors"]),
                     _pct(entry["accuracy"]), _pct(entry["parse_failure_rate"]),
                     f"{pp(parse['diff'])} {interval(parse['ci_low'], parse['ci_high'])}, p {p_text(parse['p_value'])}"
                     if parse else "—",
                     "—" if entry["mean_tokens_out"] is None else f"{entry['mean_tokens_out']:.1f}"])
    return Table("Conditions", ["condition", "family", "cells", "errors", "accuracy", "parse failures",
                                f"Δ parse failures vs {spec['control']} (pp)", "mean output tokens"], rows,
                 "Parse failures are answers the scorer could not read at all; they count as incorrect above, and "
                 "a stimulus that changes them changes format compliance, not necessarily reasoning.")


def usage_table(result: dict[str, Any]) -> Table:
    """Tokens and cost per condition, and for the whole run."""
    from emoprompt.usage import cost_text

    rows = [[u["condition"], f"{u['cells']:,}", f"{u['calls']:,}", f"{u['tokens_in']:,}", f"{u['tokens_out']:,}",
             cost_text(u["cost_usd"]), f"{u['cached_calls_cells']:,}"] for u in result["usage"]]
    return Table("Tokens and cost", ["condition", "cells", "model calls", "tokens in", "tokens out", "cost (USD)",
                                     "cells from the cache"], rows,
                 "Cost comes from litellm's price map; — where the model's price is unknown (local models, custom "
                 "servers). Cells from the cache carry the tokens and cost of the call that first answered them.")


def pooled_table(result: dict[str, Any], spec: dict[str, Any]) -> Table:
    """Each condition vs the control, pooled over tasks (secondary family, Holm)."""
    rows, flagged = [], set()
    for index, row in enumerate(result["pooled"]):
        fixed, random, relative = row["fixed"] or {}, row["random"] or {}, row["relative"] or {}
        flags = _flags(row.get("underpowered"), relative.get("flag"), confirmed=row.get("confirmed"))
        if row.get("confirmed"):
            flagged.add(index)
        gee = row.get("gee")
        rows.append([
            row["condition"], str(row["n_items"]), _pct(row["acc_ctrl"]), _pct(row["acc_treat"]),
            f"{pp(fixed.get('diff'))} {interval(fixed.get('ci_low'), fixed.get('ci_high'))}",
            p_text(fixed.get("p_value")), p_text(row.get("p_holm_fixed")), flags,
            f"{pp(random.get('diff'))} {interval(random.get('ci_low'), random.get('ci_high'))}",
            p_text(row.get("p_holm_random")),
            "—" if random.get("tau") is None else f"{100 * random['tau']:.1f} / {100 * random['i2']:.0f}%",
            interval(random.get("pred_low"), random.get("pred_high")),
            _relative(relative), "—" if not gee else f"{gee['odds_ratio']:.2f}",
            pp(row["mde_80"], False)])
    return Table(f"Pooled over tasks: each condition vs {spec['control']} (secondary, Holm)",
                 ["condition", "items", f"acc {spec['control']}", "acc cond.", "Δ pp suite [95% CI]", "p",
                  "p Holm", "flags", "Δ pp new task (RE) [95% CI]", "p Holm (RE)", "τ pp / I²",
                  "prediction interval", "relative change [95% CI]", "GEE OR", "MDE pp"], rows,
                 "Suite: tasks fixed (these tasks). RE: tasks random (a new task like these), with a prediction "
                 "interval for one new task's effect. " + FLAG_LEGEND, flagged)


def per_task_table(result: dict[str, Any], spec: dict[str, Any]) -> Table:
    """Condition × task contrasts (exploratory family)."""
    rows, flagged = [], set()
    for index, row in enumerate(sorted(result["per_task"], key=lambda r: (r["condition"], r["task"]))):
        flags = _flags(row["underpowered"], (row.get("relative") or {}).get("flag"),
                       cannot=row.get("cannot_reach_significance"), equivalent=row.get("equivalent"),
                       confirmed=row.get("significant_holm"))
        if row.get("significant_holm"):
            flagged.add(index)
        rows.append([row["condition"], row["task"], str(row["n_items"]), _pct(row["acc_ctrl"]), _pct(row["acc_treat"]),
                     f"{pp(row['diff'])} {interval(row['ci_low'], row['ci_high'])}", p_text(row["p"]),
                     p_text(row.get("p_holm")), flags, p_text(row.get("p_bh")), pp(row["mde_80"], False),
                     _relative(row.get("relative") or {})])
    return Table(f"Per task: each condition vs {spec['control']} (exploratory)",
                 ["condition", "task", "items", f"acc {spec['control']}", "acc cond.", "Δ pp [95% CI]", "p",
                  "p Holm", "flags", "p BH (exploratory)", "MDE pp", "relative change [95% CI]"], rows,
                 "p Holm: family-wise over every contrast in this table. p BH: false-discovery screen, exploratory. "
                 + FLAG_LEGEND, flagged)


def flips_table(result: dict[str, Any], spec: dict[str, Any]) -> Table:
    """Items that changed: wrong under the control and right under the condition, and the reverse."""
    totals: dict[str, list[int]] = {}
    for row in result["per_task"]:
        counts = totals.setdefault(row["condition"], [0, 0, 0])
        counts[0] += row.get("n10", row["improved"]) or 0
        counts[1] += row.get("n01", row["worsened"]) or 0
        counts[2] += row["n_items"]
    rows = [[condition, str(up), str(down), f"{up - down:+d}", str(n)] for condition, (up, down, n) in totals.items()]
    return Table(f"Flips against {spec['control']}",
                 ["condition", "wrong → right", "right → wrong", "net", "items"], rows,
                 "With one binary sample per item these are McNemar's discordant pairs; with repeats, items whose "
                 "mean score rose or fell.")


def aggregate_table(result: dict[str, Any], spec: dict[str, Any]) -> Table:
    """The papers' aggregation: average over tasks, relative improvement, always beside Δ with its CI."""
    normalized = any(row.get("mean_normalized") is not None for row in result["aggregate"])
    headers = ["condition", "tasks", "average over tasks"] + (["normalized preferred score"] if normalized else [])
    headers += [f"Δ pp vs {spec['control']} [95% CI]", f"relative vs {spec['control']}",
                f"relative vs {spec['baseline']}"]
    rows = []
    for row in result["aggregate"]:
        cells = [row["condition"], str(row["tasks"]), _pct(row["mean_score"])]
        if normalized:
            cells.append("—" if row.get("mean_normalized") is None else f"{row['mean_normalized']:.1f}")
        cells += [f"{pp(row['diff'])} {interval(row['ci_low'], row['ci_high'])}" if "diff" in row else "—",
                  _signed_pct(row.get("relative_vs_control")), _signed_pct(row.get("relative_vs_baseline"))]
        rows.append(cells)
    return Table("Paper-style aggregation (average of per-task scores)", headers, rows,
                 "EmotionPrompt/NegativePrompt report task-averaged scores and relative improvements; relative "
                 "changes on low baselines explode, so read them with the absolute difference and its interval.")


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
                      f"{pp(c['diff'])} {interval(c['ci_low'], c['ci_high'])}", p_text(c["p_value"]),
                      p_text(c.get("p_holm"))] for c in iterations["contrasts"]]
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
