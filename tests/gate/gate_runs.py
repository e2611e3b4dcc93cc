"""Run folders for gate tests: real runs against a loopback server whose answers a stimulus can make worse."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

STIMULUS_WORD = "career"
"""EP02 ("This is very important to my career.") carries it; baseline, PL01 and EP03 do not."""


def answers(regress_every: int = 0, wrong_every: int = 7) -> Callable[[list[dict[str, str]]], str]:
    """A reply function: item N's answer, except every `wrong_every`-th item (wrong under every condition) and,
    when the prompt holds the stimulus word, every `regress_every`-th item (0: never)."""

    def reply(messages: list[dict[str, str]]) -> str:
        text = " ".join(m["content"] for m in messages if m["role"] == "user")
        answer = next((w[4:] for w in text.split() if w.startswith("ans=")), "")
        number = int(answer[1:]) if answer[1:].isdigit() else 0
        if regress_every and STIMULUS_WORD in text and number % regress_every == 0:
            return "wrong"
        return "wrong" if number % wrong_every == 0 else answer

    return reply


def write_experiment(folder: Path, url: str, conditions: list[str], n: int, limit: int | None = None) -> Path:
    """An experiment file over `n` items (ans=wN → wN) of one task; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "items.jsonl").write_text("".join(json.dumps({"input": f"ans=w{i}", "target": f"w{i}"}) + "\n"
                                                for i in range(n)))
    (folder / "suite.toml").write_text('name = "cells"\ntemplate = "Input: {input}"\n[[task]]\nname = "echo"\n'
                                       'scorer = "exact"\nsource = { file = "items.jsonl" }\n')
    listed = ", ".join(f'"{c}"' for c in conditions)
    suite = json.dumps(str((folder / "suite.toml").resolve()))
    path = folder / "experiment.toml"
    path.write_text(f'models = ["openai/test-model"]\napi_base = "{url}"\nsuite = {suite}\nconditions = [{listed}]\n'
                    f"limit = {limit or n}\n")
    return path


def run_folder(folder: Path, url: str, conditions: list[str], n: int) -> Path:
    """A finished run of `conditions` on `n` items; returns the run folder."""
    import emoprompt

    return emoprompt.run(write_experiment(folder, url, conditions, n), folder / "run", report=False).path
