"""A gate's report for CI: terminal lines, a Markdown summary (GitHub's job summary), JUnit XML, JSON."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

from emoprompt.gate.verdicts import EXIT_CODES, GatedContrast, GateReport
from emoprompt.stats.gate import ALLOW, INCONCLUSIVE, REJECT

MARK = {ALLOW: "✅", REJECT: "❌", INCONCLUSIVE: "⚠️"}


def reason(report: GateReport, contrast: GatedContrast) -> str:
    """Why this contrast got its verdict, in one sentence."""
    scale, rule, decision = report.scale, report.rule, contrast.decision
    lo, hi = rule.zone
    unit = scale.unit
    bounds = f"{scale.diff(decision.low)} to {scale.diff(decision.high)} {unit}"
    if decision.verdict == ALLOW:
        claim = "better than the reference" if rule.superiority else \
            "no worse than the reference by more than the margin"
        return f"the candidate is {claim}: the difference is at least {scale.diff(decision.low)} {unit}, above " \
               f"{scale.diff(lo)} {unit}"
    if decision.verdict == REJECT:
        what = (f"not better by {scale.diff(hi, signed=False)} {unit}" if rule.superiority and hi
                else "worse than the reference")
        return f"the candidate is {what}: the difference is at most {scale.diff(decision.high)} {unit}"
    more = decision.items_to_decide
    if more is None:
        needed = "no number of items is likely to decide it (the estimate sits on the boundary)"
    elif more <= decision.n_items:
        needed = "more items are needed, though the observed variance cannot say how many"
    else:
        needed = f"about {more - decision.n_items:,} more items ({more:,} in all) would likely decide it"
    return f"{bounds} reaches neither {scale.diff(lo)} nor {scale.diff(hi)} {unit}; {needed}"


def terminal(report: GateReport) -> str:
    """What the command prints."""
    lines = [f"emoprompt gate: {report.verdict} ({report.question})"]
    for contrast in report.contrasts:
        d = contrast.decision
        lines.append(f"  {d.verdict:<12} {contrast.name}: {report.scale.diff(d.estimate)} {report.scale.unit} "
                     f"{report.scale.interval(d.low, d.high)} on {d.n_items} items — {reason(report, contrast)}")
    lines += [f"  note: {note}" for note in report.notes]
    lines.append(_method(report))
    return "\n".join(lines)


def markdown(report: GateReport) -> str:
    """The Markdown summary (appended to $GITHUB_STEP_SUMMARY when it is set)."""
    scale = report.scale
    rows = ["| contrast | verdict | reference | candidate | Δ | interval | items | why |",
            "|---|---|---|---|---|---|---|---|"]
    for contrast in report.contrasts:
        d = contrast.decision
        rows.append(f"| {contrast.name} | {MARK[d.verdict]} {d.verdict} | {scale.score(d.reference_mean)} | "
                    f"{scale.score(d.candidate_mean)} | {scale.diff(d.estimate)} {scale.unit} | "
                    f"{scale.interval(d.low, d.high)} | {d.n_items} | {reason(report, contrast)} |")
    parts = [f"## emoprompt gate: {MARK[report.verdict]} {report.verdict}", "",
             f"**Question:** {report.question}", "", *rows, "", _method(report)]
    if report.notes:
        parts += ["", *[f"- {note}" for note in report.notes]]
    return "\n".join(parts) + "\n"


def junit(report: GateReport) -> str:
    """JUnit XML: one test case per gated contrast; REJECT is a failure, INCONCLUSIVE a skipped case."""
    suite = ElementTree.Element("testsuite", name="emoprompt gate", tests=str(len(report.contrasts)),
                                failures=str(sum(c.decision.verdict == REJECT for c in report.contrasts)),
                                skipped=str(sum(c.decision.verdict == INCONCLUSIVE for c in report.contrasts)),
                                errors="0")
    for contrast in report.contrasts:
        case = ElementTree.SubElement(suite, "testcase", classname="emoprompt.gate", name=contrast.name)
        message = f"{contrast.decision.verdict}: {reason(report, contrast)}"
        if contrast.decision.verdict == REJECT:
            ElementTree.SubElement(case, "failure", message=message, type="REJECT").text = _method(report)
        elif contrast.decision.verdict == INCONCLUSIVE:
            ElementTree.SubElement(case, "skipped", message=message)
        ElementTree.SubElement(case, "system-out").text = message
    root = ElementTree.Element("testsuites")
    root.append(suite)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def as_json(report: GateReport) -> str:
    """The whole report as JSON."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def write_outputs(report: GateReport, json_path: Path | None, junit_path: Path | None, markdown_path: Path | None,
                  step_summary: str | None) -> None:
    """Write the files asked for; append the Markdown to GitHub's job summary when its variable is set."""
    for path, text in ((json_path, as_json), (junit_path, junit), (markdown_path, markdown)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text(report), encoding="utf-8")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as summary:
            summary.write(markdown(report))


def _method(report: GateReport) -> str:
    rule, k = report.rule, len(report.contrasts)
    alpha = f"α = {rule.alpha:g} per verdict" + (f", Bonferroni over {k} contrasts (α/{k} each)" if k > 1 else "")
    methods = sorted({c.decision.method for c in report.contrasts})
    powers = [c.power for c in report.contrasts if c.power == c.power]
    power = f"; power {min(powers):.0%} at the margin" if powers else ""
    calls = f"; {report.calls:,} model calls" if report.calls is not None else ""
    if report.fixed_calls:
        calls += f" (a fixed gate of the same error rates and power: about {report.fixed_calls:,})"
    codes = ", ".join(f"{verdict} {code}" for verdict, code in EXIT_CODES.items())
    return (f"Method: {'; '.join(methods)}, paired by item; {alpha}{power}{calls}. Exit codes: {codes}, bad input 2.")
