"""A run folder: `manifest.json` and `records.jsonl` (append-only, flushed per record, the source of truth)."""

from __future__ import annotations

import errno
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from emoprompt.errors import UsageError

MANIFEST = "manifest.json"
RECORDS = "records.jsonl"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file and rename it over `path`, so a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(partial, path)


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """A run's manifest, or a one-line error saying the folder is not a run."""
    path = run_dir / MANIFEST
    if not path.is_file():
        raise UsageError(f"{run_dir} is not an emoprompt run folder (no {MANIFEST}); check the path")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UsageError(f"{path} is corrupt; restore it or start a new run") from None


def iter_records(run_dir: Path) -> Iterator[dict[str, Any]]:
    """Every complete record of a run; a torn last line (from a kill mid-write) is skipped."""
    path = run_dir / RECORDS
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                return
            yield json.loads(line)


class RunStore:
    """Exclusive, append-only access to one run folder."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._lock_handle: IO[str] | None = None
        self._records: IO[str] | None = None

    def open(self) -> None:
        """Create the folder if needed, take the lock, repair a torn tail, open records for appending."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._lock_handle = (self.run_dir / ".lock").open("w")
        except OSError as exc:
            raise UsageError(f"cannot write to {self.run_dir} ({exc.strerror}); choose a writable --out") from None
        try:
            fcntl.flock(self._lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"{self.run_dir} is in use by another emoprompt process; wait for it "
                             "or choose another --out") from None
        self.repair()
        self._records = (self.run_dir / RECORDS).open("a", encoding="utf-8")

    def repair(self) -> int:
        """Cut a torn last line from records.jsonl; returns the bytes removed."""
        path = self.run_dir / RECORDS
        if not path.is_file():
            return 0
        with path.open("rb+") as handle:
            data = handle.read()
            keep = data.rfind(b"\n") + 1
            if keep == len(data):
                return 0
            handle.truncate(keep)
            return len(data) - keep

    def append(self, record: dict[str, Any]) -> None:
        """Append one record and flush it to the OS, so a kill cannot lose it."""
        assert self._records is not None, "RunStore.open() first"
        try:
            self._records.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._records.flush()
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
                raise UsageError(f"cannot write to {self.run_dir / RECORDS} ({exc.strerror}); every finished cell "
                                 f"is kept: free space, then continue with emoprompt run --resume {self.run_dir}"
                                 ) from None
            raise

    def drop_errors(self) -> int:
        """Rewrite records.jsonl without its error records (for --retry-errors); returns how many went."""
        records = list(iter_records(self.run_dir))
        kept = [r for r in records if not r.get("error")]
        if len(kept) != len(records):
            if self._records:
                self._records.close()
            partial = self.run_dir / f".{RECORDS}.partial"
            with partial.open("w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in kept)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, self.run_dir / RECORDS)
            self._records = (self.run_dir / RECORDS).open("a", encoding="utf-8")
        return len(records) - len(kept)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest atomically."""
        write_json_atomic(self.run_dir / MANIFEST, manifest)

    def close(self) -> None:
        """Flush, sync and release the lock."""
        if self._records:
            self._records.flush()
            os.fsync(self._records.fileno())
            self._records.close()
            self._records = None
        if self._lock_handle:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None
