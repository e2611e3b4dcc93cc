"""The one progress display of a run: a stage while a model loads, then cells with a sane ETA and live accuracy.

A local model's own conversion and loading bars are silenced (`emoprompt.backends.hf.quiet_library_bars`); its
backend names what it is doing in a `stage` attribute, which the display shows in place of the bar's label. While
a model's requests wait on a provider's rate limit, its pace says so (`notice`). The ETA counts from the moment
every needed model was ready, so a minute of loading does not read as hours to go once the first batch lands.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from typing import Any

from emoprompt.schema import Record

LABEL = "emoprompt"


class RunProgress:
    """A tqdm bar on stderr whose label, ETA and per-condition accuracy emoprompt writes itself."""

    def __init__(self, total: int, initial: int, backends: Sequence[Any], conditions: Sequence[str],
                 delay: float = 0.5) -> None:
        """`delay`: seconds before the bar first shows, so a run that fails at once prints only its error."""
        from tqdm import tqdm

        self._bar = tqdm(total=total, initial=initial, unit="cell", file=sys.stderr, mininterval=0.5,
                         dynamic_ncols=True, desc=LABEL, smoothing=0, delay=delay,
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
        self._backends = list(backends)
        self._order = {condition: index for index, condition in enumerate(conditions)}
        self._scores: dict[str, list[float]] = {}
        self._ready_at: float | None = None
        self._done_at_ready = initial
        self._heartbeat: asyncio.Task[None] | None = None
        self._redraw_pending = False
        self._describe()

    def start(self) -> None:
        """On a terminal, refresh once a second, so the stage and the clock move while a batch or a model load
        takes its time (into a file, the bar is written only as cells finish)."""
        if sys.stderr.isatty():
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self) -> None:
        while True:
            self.refresh()
            await asyncio.sleep(1.0)

    def mark_ready(self) -> None:
        """Every model has started: the ETA's rate counts from now."""
        self._ready_at = time.perf_counter()
        self._done_at_ready = self._bar.n

    def cell_done(self, record: Record) -> None:
        """Count one finished cell (its score into its condition's live accuracy).

        The line is redrawn once the event loop has taken every cell that finished with this one (a batch's cells
        land together): an ETA drawn after the first of 64 would read 64 times too long.
        """
        if record.error is None and record.score is not None:
            totals = self._scores.setdefault(record.condition, [0.0, 0.0])
            totals[0] += float(record.score)
            totals[1] += 1
        self._bar.n += 1
        if self._redraw_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._redraw()
            return
        self._redraw_pending = True
        loop.call_soon(self._redraw)

    def _redraw(self) -> None:
        self._redraw_pending = False
        self._describe()
        self._bar.update(0)

    def refresh(self) -> None:
        """Redraw with the current stage, ETA and accuracies (once the bar's delay has passed)."""
        self._describe()
        self._bar.update(0)

    def _describe(self) -> None:
        stage = self.stage()
        self._bar.set_description_str(f"{LABEL}: {stage}" if stage else LABEL, refresh=False)
        parts = [self.eta_text(), self.notice() or "", *self.accuracy_parts()]
        self._bar.set_postfix_str(", ".join(part for part in parts if part), refresh=False)

    def stage(self) -> str | None:
        """What a model is doing before it can answer (converting, loading), if any model is."""
        for backend in self._backends:
            stage = getattr(getattr(backend, "backend", backend), "stage", None)
            if stage:
                self._ready_at = None
                return str(stage)
        if self._ready_at is None:
            self._ready_at = time.perf_counter()
            self._done_at_ready = self._bar.n
        return None

    def notice(self) -> str | None:
        """What a model's pace says while its requests wait on a rate limit, if any does."""
        for backend in self._backends:
            notice = getattr(backend, "notice", None)
            if isinstance(notice, str) and notice:
                return notice
        return None

    def eta_text(self) -> str:
        """`ETA m:ss` from the rate since every model was ready; `ETA …` until a cell has finished since then."""
        if self._ready_at is None:
            return "ETA …"
        finished = self._bar.n - self._done_at_ready
        remaining = (self._bar.total or 0) - self._bar.n
        if remaining <= 0:
            return ""
        if finished <= 0:
            return "ETA …"
        seconds = remaining * (time.perf_counter() - self._ready_at) / finished
        return f"ETA {_clock(seconds)}"

    def accuracy_parts(self) -> list[str]:
        """`condition 54%` (or the mean score, for scores beyond 0..1) per condition seen so far."""
        parts = []
        for condition in sorted(self._scores, key=lambda name: self._order.get(name, len(self._order))):
            total, count = self._scores[condition]
            mean = total / count
            parts.append(f"{condition} {mean:.0%}" if 0 <= mean <= 1 else f"{condition} {mean:.3g}")
        return parts

    def close(self) -> None:
        """Stop refreshing and leave the final line (none if the bar never showed)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self._describe()
        self._bar.close()

    def discard(self) -> None:
        """Stop and erase the bar: the run failed before any cell ran, and its error is what to read."""
        self._bar.leave = False
        self.close()


def _clock(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
