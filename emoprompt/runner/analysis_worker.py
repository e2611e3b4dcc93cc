"""A run's report, in a child process that imports the analysis stack while the run's requests are in flight.

pandas, SciPy and statsmodels take about a second to import on a small machine, more than a whole API run of a few
thousand cells spends elsewhere. When a run's report will need them (more than one condition or wording: see
`emoprompt.stats.describe`, which reports a run of one condition in pure Python), `emoprompt run` starts this worker
first (unless its command line names one condition; the plan settles what the command line leaves open); the worker
imports the stack on another core while the parent plans and sends requests, then writes the report when the parent
asks. (The terminal summary needs no worker: `emoprompt.summary` is pure Python.)
The report is that of the in-process path (the same function); when the stack is already imported in the parent
(Python API, tests), or the worker fails, the parent writes it itself.

Protocol, one JSON object per line: `{"follow": run_dir}` (no answer) has the worker read the run's records as they
are appended (`RecordFollower`); `{"report": run_dir, "cells_ran": bool}` is answered with `{"report": true}` once
the report is written, or `{"error": message}`, which makes the parent write it itself.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emoprompt.schema import Record

REPORT_MODULES = ("emoprompt.report.runs", "emoprompt.stats.analysis", "emoprompt.stats.selection",
                  "emoprompt.stats.iterations")
"""What the full analysis of a run imports (pandas, NumPy)."""
ANALYSIS_MODULES = ("pandas", "scipy.special", "scipy.stats", "statsmodels")
"""Any of these imported in the parent means the parent is an analysis session: it writes the report itself."""
CONTRAST_MODULES = ("statsmodels.stats.meta_analysis", "statsmodels.stats.weightstats", "statsmodels.stats.power",
                    "statsmodels.genmod.generalized_estimating_equations", "statsmodels.discrete.discrete_model",
                    "scipy.optimize", "scipy.stats")
"""What the report of a run with contrasts imports beyond `REPORT_MODULES` (a test keeps this list whole)."""
WORKER_NICENESS = 5
"""The worker's imports are background work: on a small machine they must not slow the run's request loop."""


def write_report(run_dir: Path, cells_ran: bool, records: list[Record] | None = None) -> None:
    """Write the run's report when cells ran in this invocation, or when it is missing or broken (`records`: the
    folder's records, when already read)."""
    from emoprompt.report.render import report_is_complete
    from emoprompt.report.runs import report_run

    if cells_ran or not report_is_complete(run_dir):
        report_run(run_dir, records=records)


class RecordFollower:
    """Reads a run's records as the run appends them, so the report need not read them all at the end.

    Only whole lines are read (a torn last line, which the run cuts at start, is never consumed). `records()` gives
    them once the file has been read to its end, or None when anything looked wrong — a line that is not a valid
    record, a file that shrank or was replaced — and the report then reads the folder itself.
    """

    def __init__(self, run_dir: Path, interval_s: float = 0.05) -> None:
        from emoprompt.runner.store import RECORDS

        self.path = run_dir / RECORDS
        self._records: list[Record] = []
        self._offset = 0
        self._identity: tuple[int, int] | None = None
        self._failed = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, args=(interval_s,), daemon=True)
        self._thread.start()

    def _follow(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self._read()

    def _read(self) -> None:
        from emoprompt.runner.store import parse_record_line

        with self._lock:
            if self._failed:
                return
            try:
                with self.path.open("rb") as handle:
                    status = os.fstat(handle.fileno())
                    identity = (status.st_dev, status.st_ino)
                    if (self._identity not in (None, identity)) or status.st_size < self._offset:
                        self._failed = True
                        return
                    self._identity = identity
                    handle.seek(self._offset)
                    for raw in handle:
                        if not raw.endswith(b"\n"):
                            break
                        self._records.append(parse_record_line(raw.decode("utf-8"), str(self.path)))
                        self._offset += len(raw)
            except FileNotFoundError:
                return
            except Exception:  # the report reads the folder itself and names the bad line
                self._failed = True

    def records(self) -> list[Record] | None:
        """Every record of the file, read to its current end; None when following failed."""
        self._stop.set()
        self._thread.join()
        self._read()
        with self._lock:
            try:
                complete = self.path.stat().st_size == self._offset
            except OSError:
                complete = False
            return self._records if complete and not self._failed else None


class AnalysisWorker:
    """The parent's handle on the worker process."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._pending: tuple[Path, bool] | None = None

    @staticmethod
    def worthwhile() -> bool:
        """Only when the analysis stack is not imported here yet (else the parent is faster on its own)."""
        return not any(name in sys.modules for name in ANALYSIS_MODULES)

    @property
    def started(self) -> bool:
        """Whether the worker process was started (a handle never started answers nothing)."""
        return self._process is not None

    def start(self) -> AnalysisWorker:
        try:
            self._process = subprocess.Popen([sys.executable, "-m", "emoprompt.runner.analysis_worker"],
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                             text=True, encoding="utf-8")
        except OSError:
            self._process = None
        return self

    def _ask(self, request: dict[str, Any]) -> dict[str, Any] | None:
        if self._process is None or self._process.poll() is not None:
            return None
        try:
            assert self._process.stdin is not None
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
        except (OSError, ValueError):
            self.close()
            return None
        return self._answer()

    def follow(self, run_dir: Path) -> None:
        """Have the worker read `run_dir`'s records as they are appended (only for runs that never rewrite the
        file: not with --repair or --retry-errors)."""
        self._tell({"follow": str(run_dir)})

    def _tell(self, message: dict[str, Any]) -> None:
        if self._process is None or self._process.poll() is not None or self._process.stdin is None:
            return
        try:
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()
        except (OSError, ValueError):
            self.close()

    def begin_report(self, run_dir: Path, cells_ran: bool) -> None:
        """Have the worker start writing the report now; `report` then waits for it."""
        self._tell({"report": str(run_dir), "cells_ran": cells_ran})
        self._pending = (run_dir, cells_ran) if self._process is not None else None

    def report(self, run_dir: Path, cells_ran: bool) -> bool:
        """Have the worker write the report (see `write_report`), or finish the one `begin_report` started, and
        wait; False when it could not."""
        if self._pending == (run_dir, cells_ran):
            self._pending = None
            answer = self._answer() if self._process is not None and self._process.poll() is None else None
        else:
            answer = self._ask({"report": str(run_dir), "cells_ran": cells_ran})
        return bool(answer and answer.get("report"))

    def _answer(self) -> dict[str, Any] | None:
        if self._process is None or self._process.stdout is None:
            return None
        line = self._process.stdout.readline()
        try:
            answer = json.loads(line)
        except ValueError:
            self.close()
            return None
        return answer if isinstance(answer, dict) and "error" not in answer else None

    def close(self) -> None:
        """Stop the worker. Every answer it gave was complete (the report written) before it was sent, so it is
        killed rather than asked to exit (unloading its libraries would take a quarter of a second), and reaped by a
        background thread (the kernel's teardown of its memory takes another 15 ms)."""
        process, self._process = self._process, None
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        process.kill()
        threading.Thread(target=process.wait, daemon=True).start()


def main() -> None:
    """The worker: import the stack now, then write reports when asked until stdin closes."""
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(WORKER_NICENESS)
    for name in (*REPORT_MODULES, *CONTRAST_MODULES):
        importlib.import_module(name)

    follower: RecordFollower | None = None
    for line in sys.stdin:
        try:
            request = json.loads(line)
            if "follow" in request:
                follower = RecordFollower(Path(request["follow"]))
                continue
            run_dir = Path(request["report"])
            records = follower.records() if follower is not None and follower.path.parent == run_dir else None
            follower = None
            write_report(run_dir, bool(request["cells_ran"]), records)
            _send({"report": True})
        except Exception as exc:  # the parent writes the report itself
            _send({"error": f"{type(exc).__name__}: {exc}"})


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, allow_nan=False, default=str) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
