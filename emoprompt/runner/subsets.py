"""Running an experiment's items in rounds, in one run folder: the order the items are taken in, and one round of
cells. Earlier rounds' cells are reused (a round is an ordinary continuation of the run), so a search or a
sequential gate resumes where it stopped."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from emoprompt.runner.plan import RunPlan
from emoprompt.runner.run import RunResult, run


def item_order(plan: RunPlan, seed: int) -> list[tuple[str, str]]:
    """The plan's items, (task, sample id), in a seeded order that does not depend on how many there are (a
    benchmark file sorted by difficulty or topic is not taken from one end)."""
    return sorted({(cell.task.name, cell.sample.id) for cell in plan.cells},
                  key=lambda item: hashlib.sha256(f"{seed}:{item[0]}:{item[1]}".encode()).hexdigest())


def run_items(plan: RunPlan, out: Path, conditions: list[str], items: list[tuple[str, str]], progress: bool = False,
              **settings: Any) -> RunResult:
    """Run the cells of `conditions` on `items` into the run folder `out` (cells already recorded are kept);
    `settings` go to `emoprompt.runner.run.run` (concurrency, settings, grace_s)."""
    wanted, names = set(items), set(conditions)
    cells = [c for c in plan.cells if c.condition.name in names and (c.task.name, c.sample.id) in wanted]
    return run(dataclasses.replace(plan, cells=cells), out, progress=progress, **settings)
