"""What recording an A/B call costs the service: `emoprompt.ab` around a function that returns at once, with the
outcome recorded too, per call (every record appended and flushed before the call returns).

    python benchmarks/ab_recording.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import save


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    import emoprompt

    with tempfile.TemporaryDirectory() as folder:
        plain_calls = 0

        def plain(prompt: str) -> str:
            nonlocal plain_calls
            plain_calls += 1
            return "yes"

        started = time.perf_counter()
        for number in range(args.calls):
            plain(f"question {number}")
        bare = time.perf_counter() - started

        test = emoprompt.ab(["baseline", "EP02"], Path(folder) / "ab", seed=1)
        wrapped = test(plain)
        started = time.perf_counter()
        for number in range(args.calls):
            wrapped(f"question {number}")
        recorded = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(args.calls):
            emoprompt.record_outcome(emoprompt.current_call_id() or "", 1.0)
        outcomes = time.perf_counter() - started
        test.close()
        lines = len((Path(folder) / "ab" / "records.jsonl").read_text().splitlines())
    save("ab_recording", {
        "calls": args.calls, "records_written": lines,
        "call_with_recording_us": round(1e6 * (recorded - bare) / args.calls, 1),
        "record_outcome_us": round(1e6 * outcomes / args.calls, 1),
        "note": "microseconds per call added by emoprompt.ab (assignment, transform, record appended and flushed) "
                "over the bare function, and per record_outcome call"})


if __name__ == "__main__":
    main()
