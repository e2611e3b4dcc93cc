"""Locate the shipped data folders (`stimuli/`, `suites/`) in a source checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """The folder holding the shipped `stimuli` or `suites` data files."""
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"emoprompt's {name}/ folder is missing; reinstall emoprompt")
