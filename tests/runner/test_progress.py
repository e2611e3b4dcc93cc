"""The run's one progress display: stage while a model loads, ETA from readiness, live accuracy per condition."""

import asyncio
import io
import sys
import time

from emoprompt.backends.hf import quiet_library_bars
from emoprompt.runner.progress import RunProgress, _clock
from emoprompt.schema import ErrorInfo, Record


class LoadingBackend:
    def __init__(self) -> None:
        self.stage: str | None = "loading hf/tiny"


def record(condition: str, score: float | None, error: bool = False) -> Record:
    return Record(key=f"{condition}-{time.monotonic_ns()}", model="m", task="t", sample_id="s", condition=condition,
                  score=score, error=ErrorInfo("timeout", "slow") if error else None)


def test_stage_then_eta_from_readiness_and_accuracy_per_condition(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    backend = LoadingBackend()
    progress = RunProgress(total=10, initial=0, backends=[backend], conditions=["baseline", "EP02"], delay=0)
    assert progress.stage() == "loading hf/tiny" and progress.eta_text() == "ETA …"
    time.sleep(0.05)  # loading time must not count in the rate
    backend.stage = None
    assert progress.stage() is None and progress.eta_text() == "ETA …"  # ready, nothing finished since
    time.sleep(0.1)
    for condition, score in [("EP02", 1.0), ("baseline", 0.0), ("baseline", 1.0), ("EP02", None)]:
        progress.cell_done(record(condition, score))
    progress.cell_done(record("EP02", None, error=True))
    eta = progress.eta_text()
    assert eta.startswith("ETA 0:0"), eta  # 5 cells in ~0.1 s since ready: the other 5 take about as long
    assert progress.accuracy_parts() == ["baseline 50%", "EP02 100%"]  # errors and unscored cells left out
    progress.close()
    assert "baseline 50%" in sys.stderr.getvalue() and "loading" not in sys.stderr.getvalue().splitlines()[-1]


def test_heartbeat_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())

    async def go():
        progress = RunProgress(total=1, initial=0, backends=[], conditions=["baseline"])
        progress.start()
        started = progress._heartbeat
        progress.close()
        return started

    assert asyncio.run(go()) is None


def test_clock_and_scores_beyond_one():
    assert _clock(59.6) == "1:00" and _clock(3725) == "1:02:05"
    progress = RunProgress(total=2, initial=0, backends=[], conditions=["baseline"])
    progress.cell_done(record("baseline", 7.5))
    assert progress.accuracy_parts() == ["baseline 7.5"]
    progress.close()


def test_library_bars_are_quiet_while_loading_and_restored_after():
    from transformers.utils import logging as transformers_logging

    assert transformers_logging.is_progress_bar_enabled()
    with quiet_library_bars():
        assert not transformers_logging.is_progress_bar_enabled()
    assert transformers_logging.is_progress_bar_enabled()


def test_a_batch_of_cells_is_drawn_once_all_are_counted(monkeypatch):
    """64 cells of one batch finish in one turn of the event loop: the ETA drawn counts all 64, not the first."""
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    seen = []

    async def go():
        progress = RunProgress(total=128, initial=0, backends=[], conditions=["baseline"])
        progress.mark_ready()
        await asyncio.sleep(0.2)
        original = progress._describe

        def spy():
            original()
            seen.append((progress._bar.n, progress.eta_text()))

        progress._describe = spy
        for _ in range(64):
            progress.cell_done(record("baseline", 1.0))
        await asyncio.sleep(0)
        progress.close()

    asyncio.run(go())
    assert seen[0][0] == 64
    minutes, seconds = seen[0][1].removeprefix("ETA ").split(":")
    assert int(minutes) * 60 + int(seconds) < 5  # 64 more at the same pace: about 0.2 s, not 64 × 0.2 s


def test_a_run_that_fails_at_once_prints_no_bar(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    progress = RunProgress(total=10, initial=0, backends=[], conditions=["baseline"])
    progress.discard()
    assert sys.stderr.getvalue() == ""
