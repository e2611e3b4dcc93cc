"""`emoprompt replicate PROTOCOL`: a run of a published protocol set beside what the paper reported.

For each model of the run: the paper's own aggregation computed on our records (the task-averaged score of the
original prompt, the mean over the family's stimuli, the best stimulus, their relative improvements), next to the
paper's numbers (suites/reported.toml, with their verification status), and then what the paper did not report:
absolute differences with confidence intervals, the pre-declared primary test against the placebo, and the best
stimulus estimated on items that did not choose it. Written as replication.md and replication.json in the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError
from emoprompt.safe_files import write_json_atomic, write_text_atomic


def reported(protocol: str) -> dict[str, Any]:
    """The paper's numbers for a shipped protocol (empty when the paper reports none)."""
    from emoprompt.mapping_files import read_mapping
    from emoprompt.package_data import shipped_dir

    data = read_mapping(shipped_dir("suites") / "reported.toml")
    entry = data.get(protocol)
    return dict(entry) if isinstance(entry, dict) else {}


def reported_protocols() -> list[str]:
    """The protocols suites/reported.toml holds numbers for."""
    from emoprompt.mapping_files import read_mapping
    from emoprompt.package_data import shipped_dir

    data = read_mapping(shipped_dir("suites") / "reported.toml")
    return [name for name, entry in data.items() if isinstance(entry, dict)]


def replication(run_dir: Path, protocol: str | None = None) -> dict[str, Any]:
    """The replication table's data for a reported run folder of `protocol` (default: the run's experiment name)."""
    from emoprompt.runner.store import read_manifest

    manifest = read_manifest(run_dir)
    protocol = protocol or str(manifest.experiment.get("name") or "")
    paper = reported(protocol)
    if not paper:
        raise UsageError(f"no reported numbers for protocol {protocol!r}; replicate one of "
                         f"{', '.join(_protocols_with_numbers())}")
    analysis_path = run_dir / "analysis.json"
    if not analysis_path.is_file():
        from emoprompt.report.runs import report_run

        report_run(run_dir)
    analysis = json.loads(analysis_path.read_text(encoding="utf-8"))
    family = paper.get("family")
    conditions = manifest.to_dict()["conditions"]
    if family:
        stimuli = [c["name"] for c in conditions if c.get("family") == family]
    else:  # a study of several families (threats and tips): the conditions the analysis pools as stimuli
        from emoprompt.stats.analysis import STIMULUS_FAMILIES

        stimuli = [c["name"] for c in conditions if c.get("family") in STIMULUS_FAMILIES]
    if not stimuli:
        raise UsageError(f"{run_dir} ran no {f'{family} stimuli' if family else 'prompt conditions'}; is it a run of "
                         f"{protocol}?")
    models = {model: _ours(result, analysis, stimuli) for model, result in analysis["models"].items()}
    return {"protocol": protocol, "run": str(run_dir), "paper": paper, "family": family, "stimuli": stimuli,
            "models": models, "alpha": analysis["spec"]["alpha"], "control": analysis["spec"]["control"]}


def _ours(result: dict[str, Any], analysis: dict[str, Any], stimuli: list[str]) -> dict[str, Any]:
    """Our numbers by the paper's aggregation, then with intervals."""
    spec = analysis["spec"]
    aggregate = {row["condition"]: row for row in result.get("aggregate") or []}
    normalized = all(aggregate.get(c, {}).get("mean_normalized") is not None for c in [spec["baseline"], *stimuli])
    key = "mean_normalized" if normalized else "mean_score"
    factor = 1.0 if normalized else 100.0

    def level(condition: str) -> float | None:
        row = aggregate.get(condition)
        return None if row is None or row.get(key) is None else factor * float(row[key])

    original = level(spec["baseline"])
    scores: dict[str, float] = {}
    for condition in stimuli:
        value = level(condition)
        if value is not None:
            scores[condition] = value
    if original is None or not scores:
        return {"note": "no task-averaged scores for the baseline and the stimuli"}
    average = sum(scores.values()) / len(scores)
    best = max(scores, key=lambda c: scores[c])
    heatmap = result.get("heatmap") or {}
    per_task_best = [max(v for c, v in row.items() if c in stimuli and v is not None) for row in heatmap.values()
                     if any(c in stimuli and v is not None for c, v in row.items())]
    best_per_task = factor * sum(per_task_best) / len(per_task_best) if per_task_best and not normalized else None
    best_row = aggregate.get(best, {})
    selection = (result.get("selection") or {}).get("split")
    return {
        "unit": "normalized preferred score" if normalized else "accuracy (%)",
        "original": original, "stimuli_average": average, "best_stimulus": scores[best], "best_stimulus_name": best,
        "best_per_task": best_per_task,
        "relative_average": 100 * (average / original - 1) if original else None,
        "relative_best": 100 * (scores[best] / original - 1) if original else None,
        "average_improvement": average - original,
        "best_vs_baseline": best_row.get("vs_baseline"),
        "primary": result.get("primary"),
        "honest_best": selection,
    }


def replication_markdown(data: dict[str, Any]) -> str:
    """The replication table as Markdown."""
    paper, level = data["paper"], f"{100 * (1 - data['alpha']):g}%"
    lines = [f"# Replication: {data['protocol']}", "", f"Paper: {paper.get('paper', '?')}. Run: `{data['run']}`. "
             f"Stimuli: {', '.join(data['stimuli'])}{f' ({family})' if (family := data['family']) else ''}.", ""]
    for model, ours in data["models"].items():
        lines += [f"## {model}", ""]
        if "note" in ours:
            lines += [ours["note"], ""]
            continue
        unit = ours["unit"]
        rows = [
            ("original prompt, task-averaged", _paper(paper, "original"), f"{ours['original']:.2f}"),
            ("mean over the stimuli (paper: Ours avg)", _paper(paper, "stimuli_average"),
             f"{ours['stimuli_average']:.2f}"),
            ("best stimulus, chosen on the same items (paper: Ours max)", _paper(paper, "best_stimulus"),
             f"{ours['best_stimulus']:.2f} ({ours['best_stimulus_name']})"),
            ("best stimulus per task, averaged (the most optimistic reading)", "—",
             "—" if ours["best_per_task"] is None else f"{ours['best_per_task']:.2f}"),
            ("which stimulus is best", _paper(paper, "best_stimulus_name"), ours["best_stimulus_name"]),
            ("relative improvement, %", _paper(paper, "relative_improvement"),
             "— (the original prompt scored 0)" if ours["relative_average"] is None else
             f"{ours['relative_average']:+.1f} (stimuli averaged); {ours['relative_best']:+.1f} (best stimulus)"),
            ("average improvement, points", _paper(paper, "average_improvement"),
             f"{ours['average_improvement']:+.2f}"),
        ]
        lines += [f"Scores: {unit}.", "", "| quantity | paper | this run |", "|---|---|---|",
                  *[f"| {a} | {b} | {c} |" for a, b, c in rows], ""]
        extra = []
        primary = ours.get("primary") or {}
        if primary.get("diff") is not None:
            extra.append(f"| all stimuli vs {primary['control']} (pre-declared primary test) | not reported | "
                         f"{100 * primary['diff']:+.1f} pp {_ci(primary)} ({level} CI), p = {primary['p_value']:.3g} |")
        best = ours.get("best_vs_baseline") or {}
        if best.get("diff") is not None:
            extra.append(f"| best stimulus vs the original prompt, task-averaged | not reported | "
                         f"{100 * best['diff']:+.1f} pp {_ci(best)} ({level} CI) |")
        honest = ours.get("honest_best") or {}
        if honest.get("diff") is not None:
            extra.append(f"| best stimulus chosen on half the items, estimated on the other half, vs "
                         f"{data['control']} | not reported | {honest['chosen']}: {100 * honest['diff']:+.1f} pp "
                         f"{_ci(honest)} |")
        if extra:
            lines += ["What the paper did not report:", "", "| quantity | paper | this run |", "|---|---|---|",
                      *extra, ""]
        lines += ["Notes: \"best stimulus\" picks the best of the stimuli on the very items it is scored on — an "
                  "optimistic, multiple-comparison statistic; the split row is the honest version. Relative "
                  "improvements divide by the original score and explode when it is small; read the absolute rows.",
                  ""]
    per_model = paper.get("models")
    if isinstance(per_model, dict):
        lines += ["## The paper's per-model numbers (original / best stimulus; secondary source, unverified)", "",
                  "| model | original | best stimulus |", "|---|---|---|",
                  *[f"| {name} | {pair[0]} | {pair[1]} |" for name, pair in per_model.items()], ""]
    return "\n".join(lines)


def write_replication(run_dir: Path, protocol: str | None = None, out: Path | None = None) -> dict[str, Path]:
    """Write replication.md and replication.json for a run folder; returns their paths."""
    data = replication(run_dir, protocol)
    folder = out or run_dir
    paths = {"markdown": folder / "replication.md", "json": folder / "replication.json"}
    write_text_atomic(paths["markdown"], replication_markdown(data))
    write_json_atomic(paths["json"], data)
    return paths


def _paper(paper: dict[str, Any], key: str) -> str:
    entry = paper.get(key)
    if not isinstance(entry, dict):
        return "not reported"
    value = entry["value"]
    shown = f"{value:+.2f}" if key in ("relative_improvement", "average_improvement") else str(value)
    return f"{shown} ({entry['status']})"


def _ci(row: dict[str, Any]) -> str:
    if row.get("ci_low") is None or row.get("ci_high") is None:
        return ""
    return f"[{100 * row['ci_low']:+.1f}, {100 * row['ci_high']:+.1f}]"


def _protocols_with_numbers() -> list[str]:
    from emoprompt.mapping_files import read_mapping
    from emoprompt.package_data import shipped_dir

    return sorted(read_mapping(shipped_dir("suites") / "reported.toml"))
