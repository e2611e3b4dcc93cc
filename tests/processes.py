"""emoprompt as a user runs it: a real process, with the test's environment as it is when called."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test's environment as it is when called (with the test's own cache folder), for emoprompt subprocesses.
    A copy taken at import would point every subprocess at the user's cache, where a recycled loopback port can
    serve another test's answers."""
    return os.environ | {"PYTHONPATH": "."} | extra


def emoprompt(*args: Any, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m emoprompt ARGS` to completion."""
    return subprocess.run([sys.executable, "-m", "emoprompt", *map(str, args)], capture_output=True, text=True,
                          env=env or subprocess_env(), timeout=timeout)


def records(run_dir: Path | str) -> list[dict[str, Any]]:
    """A run folder's records as plain data."""
    return [json.loads(line) for line in (Path(run_dir) / "records.jsonl").read_text().splitlines()]
