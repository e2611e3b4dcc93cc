"""Benchmark data folders: found under --data-dir / EMOPROMPT_DATA_DIR, or fetched into the user cache."""

from __future__ import annotations

import hashlib
import os
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError, unknown_name
from emoprompt.package_data import shipped_dir
from emoprompt.paths import data_root


def catalogue() -> dict[str, Any]:
    """The fetchable data sets (suites/datasets.toml): base URL, files and their sha256."""
    return tomllib.loads((shipped_dir("suites") / "datasets.toml").read_text(encoding="utf-8"))["dataset"]


def dataset_dir(name: str, fetch: bool = True, data_dir: Path | None = None) -> Path:
    """The folder of a data set under `data_dir` (None: EMOPROMPT_DATA_DIR, else the user cache), fetched on first
    use if it is missing and `fetch` is set."""
    root = data_root(data_dir)
    folder = root / name
    if folder.is_dir() and any(folder.iterdir()):
        return folder
    if fetch and name in catalogue():
        try:
            return fetch_dataset(name, data_dir=data_dir)
        except UsageError as exc:
            raise UsageError(f"{name} data not found in {root} and could not be downloaded ({exc}); "
                             f"pass --data-dir DIR holding a {name}/ folder, or set EMOPROMPT_DATA_DIR") from None
    raise UsageError(f"{name} data not found in {root}; pass --data-dir DIR holding a {name}/ folder "
                     f"or run `emoprompt data fetch {name}`")


def fetch_dataset(name: str, verify: bool = True, base_url: str | None = None, data_dir: Path | None = None
                  ) -> Path:
    """Download every file of a catalogued data set into `data_dir` (None: EMOPROMPT_DATA_DIR, else the user
    cache), checking each sha256; files already there are kept."""
    entries = catalogue()
    if name not in entries:
        raise unknown_name("data set", name, entries)
    entry = entries[name]
    base = (base_url or os.environ.get("EMOPROMPT_DATA_URL_" + name.upper()) or entry["base_url"]).rstrip("/")
    folder = data_root(data_dir) / name
    for relative, checksum in entry["files"].items():
        target = folder / relative
        if target.is_file() and (not verify or _sha256(target.read_bytes()) == checksum):
            continue
        try:
            with urllib.request.urlopen(f"{base}/{entry['remote_prefix']}{relative}", timeout=30) as response:
                payload = response.read()
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise UsageError(f"cannot download {relative} from {base}: {getattr(exc, 'reason', exc)}") from None
        if verify and _sha256(payload) != checksum:
            raise UsageError(f"{relative} from {base} does not match its checksum; the upstream file changed. "
                             "Use --no-verify to accept it, or point --data-dir at a copy you trust")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(payload)
        partial.replace(target)
    return folder


def _sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()
