"""The per-question view: how far single questions move under a stimulus, against what repeat noise alone moves them.

Studies of tips, threats, tone and personas (Wharton's Prompting Science Reports 1 and 3, Mind Your Tone) report
null averages beside large per-question swings ("±35 pp on single questions"). With K repeats per question and
condition, a question's effect is the difference of two means of K noisy answers, so some questions swing even when
the stimulus does nothing. For each stimulus against the control this module counts the questions whose effect
exceeds 10, 20 and 30 pp, up and down, and the same counts under the null of no effect: a permutation null that,
within each question, deals its 2K answers at random to the two conditions (exchangeable under the null, so the
band is computed from the data, repeat noise and all). p is the share of permutations with at least as many
questions past the threshold (either way) as observed, counted with the observed one (Phipson & Smyth 2010).

The counts are descriptive, three looks at one question. The claim "the swings exceed chance" rests on one
pre-declared statistic per stimulus: the spread of the per-question effects around their mean, Σ(e − ē)²/n, against
the same permutation null (a stimulus that moves every question alike does not spread them); across stimuli the
p-values are Holm-adjusted.

Also the strict-correctness metrics of Prompting Science Report 1: the share of questions right in 100%, 90% and
51% of their runs, per condition, with the paired test of a binary outcome per question (McNemar mid-p with the
Dirichlet ∪ Tango interval, `stats.paired.paired_binary`) against the control.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from emoprompt.stats.paired import paired_binary

THRESHOLDS = (0.10, 0.20, 0.30)
STRICT = ((1.0, "100%"), (0.9, "90%"), (0.51, "51%"))
RESAMPLES = 1000


def score_tables(rows: pd.DataFrame, repeats: int) -> dict[str, pd.DataFrame]:
    """Per condition, items × repeats of its scores (items with another number of answered repeats left out), from
    one pivot of the rows."""
    pivot = rows.pivot_table(index=["task", "item"], columns=["condition", "repeat"], values="score",
                             aggfunc="first")
    tables = {}
    for condition in pivot.columns.get_level_values("condition").unique():
        table = pivot[condition]
        complete = table[table.notna().sum(axis=1) == repeats]
        values = complete.to_numpy(float)
        tables[str(condition)] = pd.DataFrame(values[~np.isnan(values)].reshape(len(complete), repeats),
                                              index=complete.index)
    return tables


def swings(tables: dict[str, pd.DataFrame], condition: str, control: str, seed: int = 0,
           resamples: int = RESAMPLES) -> dict[str, Any] | None:
    """The per-question effects of `condition` against `control` (`score_tables`, K repeats each) and their
    permutation null. None when there are fewer than two repeats or two shared questions."""
    if condition not in tables or control not in tables:
        return None
    treated, untreated = tables[condition], tables[control]
    repeats = treated.shape[1]
    if repeats < 2:
        return None
    shared = treated.index.intersection(untreated.index)
    if len(shared) < 2:
        return None
    a, b = treated.loc[shared].to_numpy(float), untreated.loc[shared].to_numpy(float)
    effects = a.mean(axis=1) - b.mean(axis=1)
    pooled = np.concatenate([a, b], axis=1)
    rng = np.random.default_rng(seed)
    null = np.empty((resamples, len(shared)))
    for draw in range(resamples):
        dealt = rng.permuted(pooled, axis=1)
        null[draw] = dealt[:, :repeats].mean(axis=1) - dealt[:, repeats:].mean(axis=1)
    spread = float(np.var(effects))
    null_spread = np.var(null, axis=1)
    rows_out = []
    for threshold in THRESHOLDS:
        cut = threshold - 1e-9  # an effect of exactly 0.3 (3 of 10 repeats) counts as past 30 pp
        up, down = int(np.sum(effects > cut)), int(np.sum(effects < -cut))
        null_up, null_down = np.sum(null > cut, axis=1), np.sum(null < -cut, axis=1)
        null_total = null_up + null_down
        p = (1 + int(np.sum(null_total >= up + down))) / (1 + resamples)
        rows_out.append({
            "threshold": threshold, "up": up, "down": down,
            "null_up": float(null_up.mean()), "null_down": float(null_down.mean()),
            "null_total": float(null_total.mean()),
            "null_band": [int(np.quantile(null_total, 0.025)), int(np.quantile(null_total, 0.975))],
            "p": p})
    return {"condition": condition, "control": control, "n_items": len(shared), "repeats": repeats,
            "mean_effect": float(effects.mean()), "effects": [round(float(e), 6) for e in effects],
            "thresholds": rows_out, "resamples": resamples,
            "spread": {"observed_sd": spread**0.5, "null_sd": float(np.mean(null_spread) ** 0.5),
                       "p": (1 + int(np.sum(null_spread >= spread - 1e-12))) / (1 + resamples)}}


def strict_correctness(tables: dict[str, pd.DataFrame], conditions: list[str], control: str, alpha: float
                       ) -> list[dict[str, Any]] | None:
    """Per condition and threshold: the share of questions right in at least that share of their runs, and the
    paired test of that per-question outcome against the control. None for fewer than two repeats or scores
    other than right/wrong."""
    chosen = [tables[c] for c in conditions if c in tables]
    if not chosen or chosen[0].shape[1] < 2 or not all(np.isin(t.to_numpy(), (0.0, 1.0)).all() for t in chosen):
        return None
    means = {c: tables[c].mean(axis=1) for c in conditions if c in tables}
    if control not in means or means[control].empty:
        return None
    out = []
    for cut, label in STRICT:
        for condition in conditions:
            shared = means[condition].index.intersection(means[control].index)
            if len(shared) < 2:
                continue
            right = (means[condition].loc[shared].to_numpy(float) >= cut - 1e-9).astype(float)
            base = (means[control].loc[shared].to_numpy(float) >= cut - 1e-9).astype(float)
            row: dict[str, Any] = {"threshold": label, "condition": condition, "n_items": len(shared),
                                   "share": float(right.mean())}
            if condition != control:
                test = paired_binary(right, base, alpha)
                row.update(diff=test.diff, ci_low=test.ci_low, ci_high=test.ci_high, p=test.p_value,
                           method=test.method)
            out.append(row)
    return out


def question_view(rows: pd.DataFrame, treatments: list[str], control: str, repeats: int, alpha: float
                  ) -> dict[str, Any] | None:
    """The per-question view of one model's valid rows: swings per stimulus (the spread test Holm-adjusted across
    stimuli) and the strict-correctness metrics."""
    from emoprompt.stats.multiplicity import holm

    if repeats < 2:
        return None
    tables = score_tables(rows, repeats)
    swung = [s for s in (swings(tables, c, control) for c in treatments) if s is not None]
    for swing, adjusted in zip(swung, holm([s["spread"]["p"] for s in swung]), strict=True):
        swing["spread"]["p_holm"] = adjusted
    strict = strict_correctness(tables, [control, *treatments], control, alpha)
    if not swung and not strict:
        return None
    return {"swings": swung, "strict": strict or []}


def exceeds_chance(swing: dict[str, Any], alpha: float) -> bool:
    """True when the stimulus spreads the per-question effects more than repeat noise does (Holm-adjusted)."""
    return bool(swing["spread"].get("p_holm", swing["spread"]["p"]) < alpha)
