"""Files that hold prompts and outputs: created owner-only (folders 0700, files 0600), written atomically (a reader
or a crash never sees half a file), and always valid UTF-8."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def scrub(text: str) -> str:
    """`text` without lone surrogates (which UTF-8 cannot hold): each becomes U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def private_dir(path: Path) -> Path:
    """Create `path` owner-only if it does not exist (parents as usual); an existing folder is left as it is."""
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            return path
        if os.name == "posix":
            os.chmod(path, PRIVATE_DIR)
    return path


NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
"""A symbolic link where emoprompt writes is refused (ELOOP), never followed to its target."""


def open_private(path: Path, mode: str = "a") -> IO[str]:
    """Open a text file (append `a` or write `w`) that is created owner-only, as UTF-8; a symbolic link at `path`
    is refused (OSError), never followed."""
    flags = os.O_WRONLY | os.O_CREAT | NO_FOLLOW | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    descriptor = os.open(path, flags, PRIVATE_FILE)
    if os.name == "posix":
        os.fchmod(descriptor, PRIVATE_FILE)
    return os.fdopen(descriptor, mode, encoding="utf-8")


def write_private_bytes(path: Path, data: bytes) -> None:
    """Write `data` to an owner-only file (a symbolic link at `path` is refused, never followed)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | NO_FOLLOW, PRIVATE_FILE)
    if os.name == "posix":
        os.fchmod(descriptor, PRIVATE_FILE)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def write_text_atomic(path: Path, text: str) -> None:
    """Write text to an owner-only temporary file beside `path`, then rename it over `path`: readers see the old
    file or the new one, never half of one."""
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with open_private(partial, "w") as handle:
            handle.write(scrub(text))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: Any) -> None:
    """`write_text_atomic` of indented JSON."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
