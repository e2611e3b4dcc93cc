"""Wall time of the default `emoprompt run` on the embedded model, then of a rerun served from the cache.

    python benchmarks/default_run.py

Both runs are real subprocesses, as a user types them; the first uses a fresh response cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import save


def timed_run(out: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "emoprompt", "run", "--out", str(out), "--no-progress"],
                   check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        env = os.environ | {"EMOPROMPT_CACHE_DIR": str(Path(folder) / "cache")}
        if "EMOPROMPT_MODEL_DIR" not in os.environ:
            env["EMOPROMPT_MODEL_DIR"] = str(Path.home() / ".cache" / "emoprompt" / "models")
        first = timed_run(Path(folder) / "first", env)
        manifest = json.loads((Path(folder) / "first" / "manifest.json").read_text())
        rerun = timed_run(Path(folder) / "second", env)
        records = [json.loads(line) for line in (Path(folder) / "second" / "records.jsonl").read_text().splitlines()]
        save("default_run", {
            "cells": manifest["cells"],
            "default_run_wall_s": round(first, 1),
            "cells_per_s": round(manifest["cells"] / first, 2),
            "cached_rerun_wall_s": round(rerun, 2),
            "cached_rerun_all_from_cache": all(r["cached"] for r in records),
            "note": "wall time includes process start and model load (converted weights already cached)",
        })


if __name__ == "__main__":
    main()
