"""A run's report, in a child process that imports the analysis stack while the run's requests are in flight.

pandas, SciPy and statsmodels take about a second to import on a small machine, more than a whole API run of a few
thousand cells spends elsewhere. `emoprompt run` therefore starts this worker first when it will write a report; the
worker imports the stack on another core while the parent plans and sends requests, then writes the report when the
parent asks. (The terminal summary needs no worker: `emoprompt.summary` is pure Python.) The report is that of the
in-process path (the same function); when the stack is already imported in the parent (Python API, tests), or the
worker fails, the parent writes it itself.

Protocol, one JSON object per line: the parent sends `{"report": run_dir, "cells_ran": bool}` and the worker
answers `{"report": true}` once it is written; `{"error": message}` makes the parent write it itself.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ANALYSIS_MODULES = ("pandas", "scipy.stats", "statsmodels")


def write_report(run_dir: Path, cells_ran: bool) -> None:
    """Write the run's report when cells ran in this invocation, or when it is missing or broken."""
    from emoprompt.report.render import report_is_complete
    from emoprompt.report.runs import report_run

    if cells_ran or not report_is_complete(run_dir):
        report_run(run_dir)


class AnalysisWorker:
    """The parent's handle on the worker process."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None

    @staticmethod
    def worthwhile() -> bool:
        """Only when the analysis stack is not imported here yet (else the parent is faster on its own)."""
        return not any(name in sys.modules for name in ANALYSIS_MODULES)

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

    def report(self, run_dir: Path, cells_ran: bool) -> bool:
        """Have the worker write the report (see `write_report`) and wait; False when it could not."""
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
        killed rather than waited for: unloading its libraries would take a quarter of a second."""
        process, self._process = self._process, None
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        process.kill()
        process.wait()


def main() -> None:
    """The worker: import the stack now, then write reports when asked until stdin closes."""
    import emoprompt.report.runs  # noqa: F401

    for line in sys.stdin:
        try:
            request = json.loads(line)
            write_report(Path(request["report"]), bool(request["cells_ran"]))
            _send({"report": True})
        except Exception as exc:  # the parent writes the report itself
            _send({"error": f"{type(exc).__name__}: {exc}"})


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, allow_nan=False, default=str) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
