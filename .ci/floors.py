"""Print the declared minimum versions of emoprompt's direct dependencies as pins (`name==version`), one per line,
for CI's floors step: every `>=` floor of [project].dependencies in pyproject.toml, installed exactly."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
floors = []
for requirement in project["dependencies"]:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*", requirement)
    if match is None:
        sys.exit(f"floors: {requirement!r} has no plain >= floor; give every direct dependency one")
    floors.append(f"{match.group(1)}=={match.group(2)}")
print("\n".join(floors))
