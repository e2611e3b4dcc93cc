"""The cells that other harnesses (lm-eval, inspect_ai, promptfoo) and emoprompt's own runner both run, so their
statistics can be compared number for number.

Item i asks `Input: ans=w<i>` (plus whatever the condition adds). The loopback server's `affect_reply` answers
`w<i>` or `wrong`, decided by a hash of the answer and of every other word of the message, so each condition
changes which items are right (real discordant pairs) while any harness that sends the same words gets the same
answers, wherever on the line the stimulus goes.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

COMPARED = ("primary", "generic", "pooled", "per_task", "aggregate", "heatmap")
"""The parts of analysis.json that depend only on the scores (not on token counts, which not every harness logs)."""


def affect_reply(messages: list[dict[str, str]]) -> str:
    """`w<i>` for two thirds of (answer, other words of the user's messages) combinations, else `wrong`; feedback
    turns change the words, so a feedback loop can recover."""
    words = " ".join(m["content"] for m in messages if m["role"] == "user").split()
    answer = next((w[4:] for w in words if w.startswith("ans=")), "")
    rest = " ".join(sorted(w for w in words if not w.startswith("ans=")))
    return answer if int(hashlib.sha256((answer + rest).encode()).hexdigest(), 16) % 3 else "wrong"


def write_items(path: Path, n: int) -> Path:
    """n items as JSONL (no id field, so ids are the row numbers 0..n-1, as lm-eval's doc_id and promptfoo's
    testIdx)."""
    path.write_text("".join(json.dumps({"input": f"ans=w{i}", "target": f"w{i}"}) + "\n" for i in range(n)))
    return path


def own_run(folder: Path, url: str, conditions: list[str], n: int, task: str = "echo") -> Path:
    """emoprompt's own run of the same cells against the loopback server at `url`; returns the run folder."""
    import emoprompt

    folder.mkdir(parents=True, exist_ok=True)
    write_items(folder / "items.jsonl", n)
    (folder / "suite.toml").write_text(f'name = "cells"\ntemplate = "Input: {{input}}"\n[[task]]\nname = "{task}"\n'
                                       'scorer = "exact"\nsource = { file = "items.jsonl" }\n')
    listed = ", ".join(f'"{c}"' for c in conditions)
    suite = json.dumps(str((folder / "suite.toml").resolve()))
    (folder / "experiment.toml").write_text(f'models = ["openai/test-model"]\napi_base = "{url}"\nsuite = {suite}\n'
                                            f'conditions = [{listed}]\nlimit = {n}\n')
    return emoprompt.run(folder / "experiment.toml", folder / "run").path


def analysis(run_dir: Path) -> dict[str, Any]:
    """A run folder's analysis.json."""
    return json.loads((run_dir / "analysis.json").read_text())


def assert_same_statistics(imported: Path, own: Path, model: str = "openai/test-model", own_model: str | None = None
                           ) -> None:
    """Every score-based statistic of two reported run folders agrees (to 1e-9; GEE iterates in float)."""
    ours, theirs = analysis(own)["models"][own_model or model], analysis(imported)["models"][model]
    for part in COMPARED:
        _assert_close(theirs[part], ours[part], part)
    accuracy = {c["condition"]: c["accuracy"] for c in ours["conditions"]}
    assert {c["condition"]: c["accuracy"] for c in theirs["conditions"]} == accuracy


def _assert_close(got: Any, expected: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), where
        for key in expected:
            _assert_close(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), where
        for index, (a, b) in enumerate(zip(got, expected, strict=True)):
            _assert_close(a, b, f"{where}[{index}]")
    elif isinstance(expected, float) and isinstance(got, float) and math.isfinite(expected):
        assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12), f"{where}: {got} != {expected}"
    else:
        assert got == expected, f"{where}: {got!r} != {expected!r}"
