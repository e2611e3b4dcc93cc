"""Benchmark data folders: found under --data-dir / EMOPROMPT_DATA_DIR, or fetched into the user cache.

Every file is checked against a sha256: the catalogue's (suites/datasets.toml) where the publisher's release let one
be pinned, else the one recorded in the folder's SHA256SUMS at the first fetch (trust on first use, said aloud), or
one the user gives. Gated sets (GPQA) are fetched with the user's own token; nothing is ever shipped.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError, unknown_name
from emoprompt.package_data import shipped_dir
from emoprompt.paths import data_root

RECORDED_SUMS = "SHA256SUMS"
"""The file in a data folder that holds the checksums recorded at its first fetch (sha256sum's format)."""


def catalogue() -> dict[str, Any]:
    """The fetchable data sets (suites/datasets.toml): base URL, files and their sha256 (empty: not pinned)."""
    return tomllib.loads((shipped_dir("suites") / "datasets.toml").read_text(encoding="utf-8"))["dataset"]


def dataset_dir(name: str, fetch: bool = True, data_dir: Path | None = None) -> Path:
    """The folder of a data set under `data_dir` (None: EMOPROMPT_DATA_DIR, else the user cache), fetched on first
    use if it is missing and `fetch` is set; files of an unpinned set are checked against their recorded sums."""
    root = data_root(data_dir)
    folder = root / name
    if folder.is_dir() and any(folder.iterdir()):
        check_recorded(folder)
        return folder
    if fetch and name in catalogue():
        try:
            return fetch_dataset(name, data_dir=data_dir)
        except UsageError as exc:
            raise UsageError(f"{name} data not found in {root} and could not be downloaded ({exc}); "
                             f"pass --data-dir DIR holding a {name}/ folder, or set EMOPROMPT_DATA_DIR") from None
    raise UsageError(f"{name} data not found in {root}; pass --data-dir DIR holding a {name}/ folder "
                     f"or run `emoprompt data fetch {name}`")


def fetch_dataset(name: str, verify: bool = True, base_url: str | None = None, data_dir: Path | None = None,
                  token: str | None = None, local: Path | None = None, expected: dict[str, str] | None = None,
                  say: Callable[[str], None] | None = None) -> Path:
    """Put every file of a catalogued data set into `data_dir` (None: EMOPROMPT_DATA_DIR, else the user cache),
    checking each sha256; files already there and matching are kept.

    Files come from the catalogue's URL (or `base_url`, or `EMOPROMPT_DATA_URL_<NAME>`), sent with `token` (else the
    set's `token_env` variable) where the set is gated, or from `local`: a copy you have (a file for a one-file set,
    or a folder holding the set's paths). `expected` maps a file to a sha256 you trust; `say` hears what was
    recorded on first use.
    """
    entries = catalogue()
    if name not in entries:
        raise unknown_name("data set", name, entries)
    entry = entries[name]
    folder = data_root(data_dir) / name
    recorded = read_recorded(folder)
    unknown = sorted(set(expected or {}) - set(entry["files"]))
    if unknown:
        raise UsageError(f"--sha256 names {unknown[0]!r}, which is not a file of {name}; its files are: "
                         + ", ".join(entry["files"]))
    fetch = _local_reader(name, entry, local) if local is not None else _remote_reader(name, entry, base_url, token)
    newly_recorded: dict[str, str] = {}
    for relative, pinned in entry["files"].items():
        target = folder / relative
        checksum = (expected or {}).get(relative) or pinned or recorded.get(relative)
        if target.is_file() and (not verify or checksum is None or _sha256(target.read_bytes()) == checksum):
            if checksum is None:
                newly_recorded[relative] = _sha256(target.read_bytes())
            continue
        payload = fetch(relative)
        actual = _sha256(payload)
        if verify and checksum is not None and actual != checksum:
            origin = "the copy given" if local is not None else "upstream"
            raise UsageError(f"{relative} of {name} does not match its checksum ({actual[:12]}… against "
                             f"{checksum[:12]}…): {origin} is not the file emoprompt expects. Use --no-verify to "
                             "accept it, or point --data-dir at a copy you trust")
        if not pinned:
            newly_recorded[relative] = actual
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(payload)
        partial.replace(target)
    if newly_recorded:
        _write_recorded(folder, {**recorded, **newly_recorded})
        for relative, checksum in newly_recorded.items():
            if say is not None and relative not in recorded:
                say(f"{name}/{relative}: no published checksum to pin; recorded sha256 {checksum} in "
                    f"{folder / RECORDED_SUMS} (compare it with a copy you trust; every later use is checked "
                    "against it)")
    return folder


def read_recorded(folder: Path) -> dict[str, str]:
    """The checksums recorded in a data folder's SHA256SUMS (empty when there is none)."""
    path = folder / RECORDED_SUMS
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        checksum, _, relative = line.strip().partition("  ")
        if checksum and relative:
            sums[relative] = checksum
    return sums


def check_recorded(folder: Path) -> None:
    """Refuse a data folder whose files differ from the sums recorded when they were fetched."""
    for relative, checksum in read_recorded(folder).items():
        path = folder / relative
        if path.is_file() and _sha256(path.read_bytes()) != checksum:
            raise UsageError(f"{path} changed since it was fetched (its sha256 is not the one in "
                             f"{folder / RECORDED_SUMS}); fetch it again with `emoprompt data fetch {folder.name}`, "
                             "or delete that line if you changed it on purpose")


def _write_recorded(folder: Path, sums: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"{checksum}  {relative}\n" for relative, checksum in sorted(sums.items()))
    (folder / RECORDED_SUMS).write_text(lines, encoding="utf-8")


def _remote_reader(name: str, entry: dict[str, Any], base_url: str | None, token: str | None
                   ) -> Callable[[str], bytes]:
    base = (base_url or os.environ.get("EMOPROMPT_DATA_URL_" + name.upper()) or entry["base_url"]).rstrip("/")
    token_env = entry.get("token_env")
    token = token or (os.environ.get(token_env) if token_env else None)
    terms = entry.get("terms")
    if terms and not token:
        raise UsageError(f"{name} is gated: accept its terms at {terms} with your Hugging Face account, then pass "
                         f"--token or set {token_env}")
    headers = {"User-Agent": "emoprompt"}
    if token:
        headers["Authorization"] = f"Bearer {token}"

    def read(relative: str) -> bytes:
        url = f"{base}/{entry.get('remote_prefix', '')}{relative}"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403) and terms:
                raise UsageError(f"access to {name} refused (HTTP {exc.code}): accept its terms at {terms} with the "
                                 f"account behind the token, and check the token ({token_env})") from None
            raise UsageError(f"cannot download {relative} from {base}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise UsageError(f"cannot download {relative} from {base}: {getattr(exc, 'reason', exc)}") from None

    return read


def _local_reader(name: str, entry: dict[str, Any], local: Path) -> Callable[[str], bytes]:
    local = Path(local)
    if not local.exists():
        raise UsageError(f"--from {local}: no such file or folder; give the path of your copy of {name}")
    if local.is_file() and len(entry["files"]) > 1:
        raise UsageError(f"--from {local}: {name} has {len(entry['files'])} files; give the folder that holds them")

    def read(relative: str) -> bytes:
        path = local if local.is_file() else local / relative
        if not path.is_file():
            raise UsageError(f"--from {local}: no {relative} there; give the folder that holds {name}'s files")
        with path.open("rb") as handle:
            return handle.read()

    return read


def _sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()
