"""An endpoint pool at scale: one `emoprompt run` of N cells spread over three loopback OpenAI-compatible servers
(each its own process, with a fixed latency), wall time against the ideal.

    python benchmarks/pool_run.py [--cells 100000] [--latency 0.1] [--per-endpoint 64] [--stop-one]

Ideal = cells ÷ (endpoints × per-endpoint limit ÷ latency): every endpoint always full, no harness cost. The whole
`emoprompt run` process is timed (spawn to exit, planning, records and summary included; --no-report). With
--stop-one, the second server is killed a third of the way in and its requests go to the other two (the ideal then
counts its capacity only until then).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.request import urlopen

from _common import save
from harness_overhead import write_suite

ROOT = Path(__file__).resolve().parent.parent


def start_server(latency_s: float) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "loopback_server.py"), str(latency_s)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())["url"]


def served(url: str) -> int:
    with urlopen(f"{url}/stats", timeout=5) as response:
        return int(json.loads(response.read())["requests"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--per-endpoint", type=int, default=64)
    parser.add_argument("--stop-one", action="store_true")
    args = parser.parse_args()
    servers = [start_server(args.latency) for _ in range(3)]
    urls = [url for _, url in servers]
    stopped_at: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            suite = write_suite(folder, args.cells)
            env = os.environ | {"OPENAI_API_KEY": "sk-bench", "EMOPROMPT_CACHE_DIR": str(folder / "cache"),
                                "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
            command = [sys.executable, "-m", "emoprompt", "run", "--model", "openai/test-model", "--suite", str(suite),
                       "--condition", "baseline", "--limit", "all", "--endpoint-concurrency", str(args.per_endpoint),
                       "--no-cache", "--no-progress", "--no-report", "--out", str(folder / "run"),
                       *[part for url in urls for part in ("--api-base", url)]]
            started = time.perf_counter()
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)

            def stop_second() -> None:
                while served(urls[1]) < args.cells // 9 and process.poll() is None:
                    time.sleep(0.05)
                servers[1][0].send_signal(signal.SIGKILL)
                stopped_at.append(time.perf_counter() - started)

            stopper = threading.Thread(target=stop_second) if args.stop_one else None
            if stopper:
                stopper.start()
            code = process.wait()
            wall = time.perf_counter() - started
            if stopper:
                stopper.join()
            assert code == 0, f"emoprompt run exited {code}"
            lines = (folder / "run" / "records.jsonl").read_text().splitlines()
            keys = {json.loads(line)["key"] for line in lines}
            errors = sum(1 for line in lines if json.loads(line).get("error"))
            per_endpoint = [served(url) if index != 1 or not args.stop_one else None for index, url in enumerate(urls)]
    finally:
        for process, _ in servers:
            process.kill()
    rate = args.per_endpoint / args.latency
    if stopped_at:  # three endpoints until the stop, two after it
        before = min(stopped_at[0], args.cells / (3 * rate))
        ideal = before + (args.cells - before * 3 * rate) / (2 * rate)
    else:
        ideal = args.cells / (3 * rate)
    save("pool_run" + ("_stop_one" if args.stop_one else ""), {
        "cells": args.cells, "endpoints": 3, "per_endpoint_limit": args.per_endpoint, "latency_s": args.latency,
        "records": len(lines), "distinct_cells": len(keys), "error_cells": errors,
        "answers_per_endpoint": per_endpoint, "stopped_second_at_s": round(stopped_at[0], 2) if stopped_at else None,
        "wall_s": round(wall, 2), "ideal_s": round(ideal, 2), "wall_over_ideal": round(wall / ideal, 3),
        "cells_per_s": round(args.cells / wall, 1),
        "note": "whole emoprompt run process (spawn to exit, --no-report); servers are separate processes",
    })


if __name__ == "__main__":
    main()
