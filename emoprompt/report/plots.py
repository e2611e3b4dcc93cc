"""Figures as standalone SVG text: a forest plot of effects and a task × condition heatmap."""

from __future__ import annotations

from html import escape

from emoprompt.stats.scale import Scale

ForestRow = tuple[str, float | None, float | None, float | None, str]


def forest_svg(rows: list[ForestRow], title: str, sesoi: float | None = None, scale: Scale | None = None,
               level: str = "95%") -> str:
    """rows: (label, estimate, low, high, colour) in the scores' own values; drawn in the scale's unit with a zero
    line. The figure scales with the page (a viewBox, 100% wide)."""
    scale = scale or Scale()
    factor = scale.factor
    values = [v for _, est, lo, hi, _ in rows for v in (est, lo, hi) if v is not None]
    floor = 0.02 if scale.proportions else 0.01 * max(abs(scale.high - scale.low), 1e-9)
    span = max([abs(v) for v in values] + [sesoi or 0.0, floor]) * factor * 1.15
    label_w, plot_w, row_h, top = 190, 460, 22, 34
    height = top + row_h * len(rows) + 40
    width = label_w + plot_w + 30

    def x(value: float) -> float:
        return label_w + (value + span) / (2 * span) * plot_w

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
             f'style="max-width:{width * 1.6:.0f}px" preserveAspectRatio="xMinYMin meet" '
             f'font-family="Helvetica, Arial, sans-serif" font-size="12" role="img" aria-label="{escape(title)}">',
             f'<text x="{label_w}" y="18" font-weight="bold">{escape(title)}</text>']
    if sesoi:
        for sign in (-1, 1):
            parts.append(f'<line x1="{x(sign * sesoi * factor):.1f}" y1="{top - 6}" '
                         f'x2="{x(sign * sesoi * factor):.1f}" y2="{top + row_h * len(rows)}" stroke="#bbb" '
                         'stroke-dasharray="3,3"/>')
    parts.append(f'<line x1="{x(0):.1f}" y1="{top - 6}" x2="{x(0):.1f}" y2="{top + row_h * len(rows)}" stroke="#333"/>')
    for index, (label, estimate, low, high, colour) in enumerate(rows):
        y = top + row_h * index + row_h / 2
        parts.append(f'<text x="{label_w - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
        if estimate is None or low is None or high is None:
            parts.append(f'<text x="{x(0) + 6:.1f}" y="{y + 4:.1f}" fill="#888">not estimable</text>')
            continue
        parts.append(f'<line x1="{x(low * factor):.1f}" y1="{y:.1f}" x2="{x(high * factor):.1f}" y2="{y:.1f}" '
                     f'stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<rect x="{x(estimate * factor) - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" '
                     f'fill="{colour}"/>')
    axis_y = top + row_h * len(rows) + 16
    for tick in _ticks(span):
        parts.append(f'<text x="{x(tick):.1f}" y="{axis_y}" text-anchor="middle" fill="#555">{tick:+g}</text>')
    unit = "percentage points" if scale.proportions else "points"
    parts.append(f'<text x="{label_w + plot_w / 2:.0f}" y="{axis_y + 16}" text-anchor="middle" fill="#555">'
                 f"difference in {unit} ({level} CI)" + (", dashed: ± smallest effect of interest" if sesoi
                                                         else "") + "</text>")
    parts.append("</svg>")
    return "\n".join(parts)


def _ticks(span: float) -> list[float]:
    """About five round ticks on each side of zero, for any span."""
    import math

    magnitude = 10 ** math.floor(math.log10(span)) if span > 0 else 1.0
    step = next(m * magnitude for m in (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10) if span / (m * magnitude) <= 5)
    count = int(span // step)
    return [round(step * i, 10) for i in range(-count, count + 1)]


def heatmap_svg(tasks: list[str], conditions: list[str], values: dict[str, dict[str, float | None]],
                title: str, scale: Scale | None = None) -> str:
    """The mean score per task × condition, with the value printed in each cell (0–1 scores as %, others in their
    own points, shaded from the lowest to the highest score)."""
    scale = scale or Scale()
    label_w, cell_w, cell_h, top = 150, max(54, min(80, 700 // max(len(conditions), 1))), 22, 60
    width = label_w + cell_w * len(conditions) + 20
    height = top + cell_h * len(tasks) + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
             f'style="max-width:{width * 1.6:.0f}px" preserveAspectRatio="xMinYMin meet" '
             f'font-family="Helvetica, Arial, sans-serif" font-size="11" role="img" aria-label="{escape(title)}">',
             f'<text x="4" y="16" font-weight="bold" font-size="12">{escape(title)}</text>']
    span = (scale.high - scale.low) or 1.0
    for column, condition in enumerate(conditions):
        cx = label_w + cell_w * column + cell_w / 2
        parts.append(f'<text x="{cx:.1f}" y="{top - 8}" text-anchor="middle">{escape(condition)}</text>')
    for row, task in enumerate(tasks):
        y = top + cell_h * row
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(task)}</text>')
        for column, condition in enumerate(conditions):
            value = values.get(task, {}).get(condition)
            x = label_w + cell_w * column
            shade = None if value is None else (value - scale.low) / span
            fill = "#eee" if shade is None else _blue(shade)
            text_colour = "#fff" if shade is not None and shade > 0.55 else "#111"
            label = "—" if value is None else (f"{100 * value:.0f}%" if scale.proportions else f"{value:.3g}")
            parts.append(f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{fill}"/>')
            parts.append(f'<text x="{x + cell_w / 2 - 1:.1f}" y="{y + 15}" text-anchor="middle" '
                         f'fill="{text_colour}">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _blue(value: float) -> str:
    value = min(max(value, 0.0), 1.0)
    light, dark = (239, 246, 255), (30, 64, 175)
    r, g, b = (round(light[i] + (dark[i] - light[i]) * value) for i in range(3))
    return f"rgb({r},{g},{b})"


def sequence_svg(path: list[list[float]], title: str, level: str = "95%") -> str:
    """An anytime-valid confidence sequence over time: (observations, estimate, low, high) points, a band and a
    zero line; the figure scales with the page."""
    width, height, left, right, top, bottom = 640, 260, 60, 20, 30, 40
    xs = [p[0] for p in path]
    lows, highs = [p[2] for p in path], [p[3] for p in path]
    cap = max(abs(v) for v in [*lows[len(lows) // 10:], *highs[len(highs) // 10:], 1e-9])
    low_y, high_y = -cap * 1.1, cap * 1.1

    def x(n: float) -> float:
        return left + (n - xs[0]) / max(xs[-1] - xs[0], 1) * (width - left - right)

    def y(v: float) -> float:
        v = min(max(v, low_y), high_y)
        return top + (high_y - v) / (high_y - low_y) * (height - top - bottom)

    band = " ".join(f"{x(p[0]):.1f},{y(p[3]):.1f}" for p in path) + " " + " ".join(
        f"{x(p[0]):.1f},{y(p[2]):.1f}" for p in reversed(path))
    line = " ".join(f"{x(p[0]):.1f},{y(p[1]):.1f}" for p in path)
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width * 1.5:.0f}px" font-family="Helvetica, Arial, sans-serif" font-size="12" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="{left}" y="18" font-weight="bold">{escape(title)}</text>',
        f'<polygon points="{band}" fill="#bfdbfe" stroke="none"/>',
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" stroke="#333"/>',
        f'<polyline points="{line}" fill="none" stroke="#1e40af" stroke-width="2"/>',
        f'<text x="{left - 6}" y="{y(high_y) + 4:.1f}" text-anchor="end" fill="#555">{high_y:+.3g}</text>',
        f'<text x="{left - 6}" y="{y(low_y) + 4:.1f}" text-anchor="end" fill="#555">{low_y:+.3g}</text>',
        f'<text x="{left}" y="{height - 12}" fill="#555">{xs[0]:g}</text>',
        f'<text x="{width - right}" y="{height - 12}" text-anchor="end" fill="#555">{xs[-1]:g} outcomes</text>',
        f'<text x="{(left + width - right) / 2:.0f}" y="{height - 12}" text-anchor="middle" fill="#555">arm − control, '
        f"{level} anytime-valid band</text>",
        "</svg>"])
