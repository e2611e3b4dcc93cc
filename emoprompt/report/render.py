"""Write analysis.json, report.md, report.html (self-contained) and the figures of an analysis."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from emoprompt.report.formatting import confidence, scale_of
from emoprompt.report.plots import ForestRow, forest_svg, heatmap_svg, sequence_svg
from emoprompt.report.questions import strict_table, swing_table, swings_svg
from emoprompt.report.tables import (
    Table,
    aggregate_table,
    conditions_table,
    errors_table,
    flips_table,
    iteration_tables,
    per_task_table,
    pooled_tables,
    selection_table,
    usage_table,
)
from emoprompt.report.text import headline, methods
from emoprompt.report.wording import components_svg, wording_tables
from emoprompt.safe_files import private_dir, write_json_atomic, write_text_atomic

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1200px;color:#111;
line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}h3{font-size:1.05rem}
.headline{background:#f5f7fb;border-left:4px solid #1e40af;padding:.8rem 1rem;font-size:1.05rem}
.warn{background:#fff7e6;border-left:4px solid #d97706;padding:.5rem 1rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1rem;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th{background:#f0f0f0;position:sticky;top:0}td:first-child,th:first-child,td:nth-child(2){text-align:left}
tr.hit td{background:#ecfdf5;font-weight:600}.note{color:#555;font-size:.85rem}
.methods{font-size:.9rem;color:#333}figure{margin:1rem 0}
details{margin:.5rem 0 1rem}summary{cursor:pointer;font-weight:600;font-size:.95rem}
"""


def write_report(out_dir: Path, analysis: dict[str, Any], context: dict[str, Any]) -> dict[str, Path]:
    """Write every report file into `out_dir`; returns their paths by name."""
    _writable_folder(out_dir)
    paragraphs = headline(analysis, context)
    methods_text = methods(analysis, context)
    full = {**analysis, "headline": paragraphs, "methods": methods_text}
    paths = {"analysis": out_dir / "analysis.json", "markdown": out_dir / "report.md", "html": out_dir / "report.html"}
    figures = _figures(analysis)
    sections = _sections(analysis)
    title = context.get("title") or "emoprompt report"
    try:
        for name, svg in figures.items():
            path = out_dir / f"{name}.svg"
            write_text_atomic(path, svg)
            paths[name] = path
        write_text_atomic(paths["markdown"], _markdown(title, paragraphs, analysis, sections, figures, methods_text))
        write_text_atomic(paths["html"], _html(title, paragraphs, analysis, sections, figures, methods_text))
        write_json_atomic(paths["analysis"], full)  # last: a valid analysis.json means the whole report was written
    except OSError as exc:
        from emoprompt.errors import UsageError

        raise UsageError(f"cannot write the report into {out_dir} ({exc.strerror or exc}); free space or choose "
                         "a writable folder, then write it with emoprompt report") from None
    return paths


def report_is_complete(out_dir: Path) -> bool:
    """True when `out_dir` holds a whole report: analysis.json (written last) parses and report.html ends."""
    import json

    try:
        json.loads((out_dir / "analysis.json").read_text(encoding="utf-8"))
        html = (out_dir / "report.html").read_text(encoding="utf-8")
    except (OSError, ValueError):
        return False
    return html.rstrip().endswith("</html>") and (out_dir / "report.md").is_file()


def _writable_folder(out_dir: Path) -> None:
    from emoprompt.errors import UsageError

    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is a file, not a folder; choose a folder for the report")
    try:
        private_dir(out_dir)
        probe = out_dir / f".write-test-{id(out_dir)}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write the report to {out_dir} ({exc.strerror or exc}); choose a writable --out"
                         ) from None


def _sections(analysis: dict[str, Any]) -> list[tuple[str, list[Table | str]]]:
    sections: list[tuple[str, list[Table | str]]] = []
    sequential = analysis.get("sequential")
    if sequential:
        rows = [[row["arm"], row["metric"], str(row["n"]), f"{row['diff']:+.4g}",
                 f"[{row['ci_low']:+.4g}, {row['ci_high']:+.4g}]", f"{row['e_value']:.3g}",
                 "yes" if row["discovery"] else "—"] for row in sequential["contrasts"]]
        table = Table(f"Anytime-valid status: {sequential['decision']}",
                      ["arm", "metric", "outcomes", "arm − control", f"{confidence(analysis)} confidence sequence",
                       "e-value", "discovery (e-BH)"], rows,
                      f"{sequential['reason']}. Sample-ratio check p = {sequential['srm_p']:.3g}. Confidence sequences "
                      "stay valid however often they are read (Waudby-Smith et al. 2021); guardrails: error rate and "
                      "latency, where higher is worse.")
        live: list[Table | str] = [table, *(f"sequence-{_slug(arm)}" for arm in sequential["arms"])]
        sections.append(("Live A/B test", live))
    for model, result in analysis["models"].items():
        items: list[Table | str] = [conditions_table(result, analysis)]
        if result["pooled"]:
            items += [*pooled_tables(result, analysis), f"forest-{_slug(model)}"]
        if result["per_task"]:
            items += [per_task_table(result, analysis), flips_table(result, analysis)]
        if result["heatmap"]:
            items.append(f"heatmap-{_slug(model)}")
        if len(result.get("aggregate") or []) and len(result["heatmap"]) > 1:
            items.append(aggregate_table(result, analysis))
        if result.get("wording"):
            items += wording_tables(result["wording"], analysis, f"wording-{_slug(model)}")
        if result.get("selection"):
            items.append(selection_table(result["selection"], analysis))
        if result.get("iterations"):
            items += iteration_tables(result["iterations"])
        view = result.get("per_question")
        if view:
            control = analysis["spec"]["control"]
            if view["swings"]:
                items += [swing_table(view, control), f"swings-{_slug(model)}"]
            strict = strict_table(view, control)
            if strict is not None:
                items.append(strict)
        if result.get("usage"):
            items.append(usage_table(result))
        sections.append((model, items))
    return sections


def _figures(analysis: dict[str, Any]) -> dict[str, str]:
    spec, figures, scale = analysis["spec"], {}, scale_of(analysis)
    for row in (analysis.get("sequential") or {}).get("contrasts", []):
        if row["metric"] == "score" and row["path"]:
            figures[f"sequence-{_slug(row['arm'])}"] = sequence_svg(
                row["path"], f"{row['arm']} vs {analysis['sequential']['control']}: score over time",
                confidence(analysis))
    for model, result in analysis["models"].items():
        rows: list[ForestRow] = []
        primary = result.get("primary")
        if primary:
            rows.append(("all stimuli (primary test)", primary.get("diff"), primary.get("ci_low"),
                         primary.get("ci_high"), "#b91c1c"))
        for row in result["pooled"]:
            fixed, random = row["fixed"] or {}, row["random"] or {}
            rows.append((f"{row['condition']} (suite)", fixed.get("diff"), fixed.get("ci_low"), fixed.get("ci_high"),
                         "#1e40af"))
            rows.append((f"{row['condition']} (new task)", random.get("diff"), random.get("ci_low"),
                         random.get("ci_high"), "#9ca3af"))
        for contrast in (result.get("wording") or {}).get("contrasts", []):
            crossed = contrast["crossed"]
            if contrast["control"] == spec["control"]:
                rows.append((f"{contrast['condition']} (any wording)", crossed.get("diff"), crossed.get("ci_low"),
                             crossed.get("ci_high"), "#15803d"))
        if result.get("wording") and any(r.get("shares") for r in result["wording"]["components"]):
            figures[f"wording-{_slug(model)}"] = components_svg(result["wording"],
                                                           f"{model}: where the scores vary (share of variance)")
        if rows:
            figures[f"forest-{_slug(model)}"] = forest_svg(rows, f"{model}: effect vs {spec['control']}",
                                                           spec["sesoi"], scale, confidence(analysis))
        if (result.get("per_question") or {}).get("swings"):
            figures[f"swings-{_slug(model)}"] = swings_svg(result["per_question"],
                                                           f"{model}: questions moved vs repeat noise")
        if result["heatmap"]:
            what = "accuracy" if scale.proportions else "mean score"
            figures[f"heatmap-{_slug(model)}"] = heatmap_svg(sorted(result["heatmap"]), spec["conditions"],
                                                             result["heatmap"], f"{model}: {what} by task", scale)
    return figures


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower()


Sections = list[tuple[str, list[Table | str]]]


def _markdown(title: str, paragraphs: list[str], analysis: dict[str, Any], sections: Sections,
              figures: dict[str, str], methods_text: str) -> str:
    lines = [f"# {title}", "", *[f"> {p}\n" for p in paragraphs]]
    lines += [f"**Warning:** {w}\n" for w in analysis["warnings"]]
    errors = errors_table(analysis)
    for model, items in sections:
        lines += [f"## {model}", ""]
        for item in items:
            if isinstance(item, str):
                if item in figures:
                    lines += [f"![{item}]({item}.svg)", ""]
                continue
            lines += [f"### {item.title}", "", "| " + " | ".join(item.headers) + " |",
                      "|" + "|".join("---" for _ in item.headers) + "|"]
            lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in item.rows]
            lines += ["", f"_{item.note}_" if item.note else "", ""]
    if errors:
        lines += [f"## {errors.title}", "", "| kind | cells |", "|---|---|"]
        lines += [*[f"| {kind} | {count} |" for kind, count in errors.rows], ""]
    lines += ["## Methods", "", methods_text, ""]
    return "\n".join(lines)


def _html(title: str, paragraphs: list[str], analysis: dict[str, Any], sections: Sections,
          figures: dict[str, str], methods_text: str) -> str:
    body = [f"<h1>{escape(title)}</h1>", *[f'<p class="headline">{escape(p)}</p>' for p in paragraphs]]
    body += [f'<p class="warn">{escape(w)}</p>' for w in analysis["warnings"]]
    for model, items in sections:
        body.append(f"<h2>{escape(model)}</h2>")
        for item in items:
            if isinstance(item, str):
                if item in figures:
                    body.append(f"<figure>{figures[item]}</figure>")
                continue
            body.append(_html_table(item))
    errors = errors_table(analysis)
    if errors:
        body.append(_html_table(errors))
    body += ["<h2>Methods</h2>", f'<p class="methods">{escape(methods_text)}</p>']
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
            f"<body>{''.join(body)}</body></html>\n")


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    rows = "".join(
        f'<tr{" class=hit" if index in table.flagged_rows else ""}>' + "".join(f"<td>{escape(c)}</td>" for c in row)
        + "</tr>" for index, row in enumerate(table.rows))
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    body = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{note}"
    if table.collapsed:
        return f"<details><summary>{escape(table.title)}</summary>{body}</details>"
    return f"<h3>{escape(table.title)}</h3>{body}"

