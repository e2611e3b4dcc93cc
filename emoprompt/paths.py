"""The user's folders: the cache (responses, converted weights) and benchmark data. Read, never written to the
environment: a caller that wants another folder passes it."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """emoprompt's user cache folder (`EMOPROMPT_CACHE_DIR`, else ~/.cache/emoprompt)."""
    configured = os.environ.get("EMOPROMPT_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "emoprompt"


def models_dir() -> Path:
    """Where converted model weights are kept (`EMOPROMPT_MODEL_DIR`, else <cache>/models)."""
    configured = os.environ.get("EMOPROMPT_MODEL_DIR")
    return Path(configured) if configured else cache_dir() / "models"


def data_root(explicit: Path | str | None = None) -> Path:
    """Where benchmark data lives: `explicit` (--data-dir), else `EMOPROMPT_DATA_DIR`, else <cache>/data."""
    if explicit is not None:
        return Path(explicit)
    configured = os.environ.get("EMOPROMPT_DATA_DIR")
    return Path(configured) if configured else cache_dir() / "data"
