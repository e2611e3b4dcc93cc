"""A run folder: `manifest.json` and `records.jsonl` (append-only, flushed per record, the source of truth), both in
the schema of `emoprompt.schema`."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError
from emoprompt.safe_files import open_private, private_dir, scrub, write_json_atomic
from emoprompt.schema import (
    SCHEMA_VERSION,
    Manifest,
    Record,
    SchemaError,
    from_plain,
    upgrade_manifest,
    upgrade_record,
)

MANIFEST = "manifest.json"
RECORDS = "records.jsonl"
REJECTED = "records.rejected.jsonl"
LOCK = ".lock"

__all__ = ["MANIFEST", "RECORDS", "REJECTED", "RunStore", "cut_torn_tail", "iter_records", "read_manifest",
           "read_records", "scrub", "write_json_atomic"]


def read_manifest(run_dir: Path) -> Manifest:
    """A run's manifest (version-1 manifests upgraded), or a one-line error saying what is wrong with it."""
    path = run_dir / MANIFEST
    if not path.is_file():
        raise UsageError(f"{run_dir} is not an emoprompt run folder (no {MANIFEST}); check the path")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise UsageError(f"{path} is corrupt (not JSON); restore it or start a new run") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a manifest (a JSON object); restore it or start a new run")
    data = upgrade_manifest(data)
    _check_version(path, data.get("schema_version"))
    try:
        return from_plain(Manifest, data)
    except SchemaError as exc:
        raise UsageError(f"{path}: {exc}; restore the file or start a new run") from None


def _check_version(path: Path | str, version: Any) -> None:
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise UsageError(f"{path} was written by a newer emoprompt (schema {version}, this one reads up to "
                         f"{SCHEMA_VERSION}); upgrade emoprompt")


def parse_record_line(line: str, where: str) -> Record:
    """One line of records.jsonl as a Record; raises UsageError naming `where` (file:line)."""
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        raise UsageError(f"{where}: not a JSON record") from None
    if not isinstance(data, dict):
        raise UsageError(f"{where}: a record is a JSON object, not {type(data).__name__}")
    data = upgrade_record(data)
    try:
        _check_version(where, data.get("schema_version"))
        return from_plain(Record, data)
    except SchemaError as exc:
        raise UsageError(f"{where}: {exc}") from None


def iter_records(run_dir: Path) -> Iterator[Record]:
    """Every complete record of a run, validated; a torn last line (from a kill mid-write) is skipped. A bad line
    anywhere else stops with one line naming the file and line number."""
    path = run_dir / RECORDS
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not a records file; move it away")
    if not path.is_file():
        return
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                return
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise UsageError(f"{where}: not UTF-8 text{_REPAIR_HINT.format(run_dir=run_dir)}") from None
            if not line.strip():
                raise UsageError(f"{where}: blank line{_REPAIR_HINT.format(run_dir=run_dir)}")
            try:
                yield parse_record_line(line, where)
            except UsageError as exc:
                raise UsageError(f"{exc}{_REPAIR_HINT.format(run_dir=run_dir)}") from None


_REPAIR_HINT = ("; set bad lines aside and run their cells again with: emoprompt run --resume {run_dir} --repair "
                "(or fix the line by hand)")


def read_records(run_dir: Path) -> list[Record]:
    """Every record of a run, as a list."""
    return list(iter_records(run_dir))


def cut_torn_tail(path: Path) -> int:
    """Cut a last line that has no newline (a process killed mid-write) from a JSON-lines file, reading only its
    end; returns the bytes removed."""
    if not path.is_file():
        return 0
    with path.open("rb+") as handle:
        end = position = handle.seek(0, os.SEEK_END)
        keep = 0
        while position > 0:
            step = min(1 << 16, position)
            handle.seek(position - step)
            newline = handle.read(step).rfind(b"\n")
            if newline >= 0:
                keep = position - step + newline + 1
                break
            position -= step
        if keep < end:
            handle.truncate(keep)
        return end - keep


class RunStore:
    """Exclusive, append-only access to one run folder (a lock file that works on every OS)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._lock: Any = None
        self._records: Any = None
        self._manifest: Manifest | None = None
        self.batches: list[dict[str, Any]] = []
        """Batch API batches of this run (kept in the manifest; see `emoprompt.backends.batch`)."""
        self.scrubbed = 0
        """Records written with lone surrogates replaced (so they differ from the records appended)."""

    def open(self) -> None:
        """Create the folder if needed, take the lock, repair a torn tail, open records for appending."""
        from filelock import FileLock, Timeout

        lock_path = self.run_dir / LOCK
        if lock_path.is_symlink():
            raise UsageError(f"{lock_path} is a symbolic link; emoprompt never follows it. Remove it and run again")
        records_path = self.run_dir / RECORDS
        if records_path.is_dir():
            raise UsageError(f"{records_path} is a folder, not a records file; move it away")
        if records_path.is_symlink():
            raise UsageError(f"{records_path} is a symbolic link; emoprompt never writes through one. Replace it with "
                             "the file itself and run again")
        try:
            private_dir(self.run_dir)
            self._lock = FileLock(str(lock_path), timeout=0)
            self._lock.acquire()
        except Timeout:
            self._lock = None
            raise UsageError(f"{self.run_dir} is in use by another emoprompt process; wait for it "
                             "or choose another --out") from None
        except OSError as exc:
            self._lock = None
            raise UsageError(f"cannot write to {self.run_dir} ({exc.strerror or exc}); choose a writable --out"
                             ) from None
        self.repair()
        self._records = open_private(records_path)

    def repair(self) -> int:
        """Cut a torn last line from records.jsonl; returns the bytes removed."""
        return cut_torn_tail(self.run_dir / RECORDS)

    def append(self, record: Record) -> None:
        """Append one record and flush it to the OS, so a kill cannot lose it."""
        assert self._records is not None, "RunStore.open() first"
        line = json.dumps(record.to_dict(), ensure_ascii=False) + "\n"
        try:
            try:
                self._records.write(line)
            except UnicodeEncodeError:
                self._records.write(scrub(line))
                self.scrubbed += 1
            self._records.flush()
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
                raise UsageError(f"cannot write to {self.run_dir / RECORDS} ({exc.strerror}); every finished cell "
                                 f"is kept: free space, then continue with emoprompt run --resume {self.run_dir}"
                                 ) from None
            raise

    def set_aside_bad_lines(self, cell_keys: set[str] | None = None) -> int:
        """Move every line of records.jsonl that is not a valid record — or, given the run's `cell_keys`, that
        repeats an earlier line's cell or belongs to no cell of the run — to records.rejected.jsonl (with its line
        number and the reason), so that their cells run again; returns how many moved."""
        path = self.run_dir / RECORDS
        if not path.is_file():
            return 0
        kept: list[Record] = []
        rejected: list[str] = []
        seen: set[str] = set()
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8")
                    if not line.strip():
                        raise UsageError("blank line")
                    record = parse_record_line(line, f"{path}:{number}")
                    if cell_keys is not None and record.key in seen:
                        raise UsageError("a duplicate of an earlier line's cell")
                    if cell_keys is not None and record.key not in cell_keys:
                        raise UsageError("a record of no cell of this run")
                    seen.add(record.key)
                    kept.append(record)
                except (UsageError, UnicodeDecodeError) as exc:
                    rejected.append(json.dumps({"line": number, "reason": str(exc),
                                                "text": raw.decode("utf-8", "replace")}, ensure_ascii=False))
        if rejected:
            with open_private(self.run_dir / REJECTED) as handle:
                handle.writelines(scrub(line) + "\n" for line in rejected)
            self._rewrite(kept)
        return len(rejected)

    def drop_errors(self) -> int:
        """Rewrite records.jsonl without its error records (for --retry-errors); returns how many went."""
        records = read_records(self.run_dir)
        kept = [r for r in records if r.error is None]
        if len(kept) != len(records):
            self._rewrite(kept)
        return len(records) - len(kept)

    def _rewrite(self, records: list[Record]) -> None:
        if self._records:
            self._records.close()
        partial = self.run_dir / f".{RECORDS}.partial"
        with open_private(partial, "w") as handle:
            handle.writelines(scrub(json.dumps(r.to_dict(), ensure_ascii=False)) + "\n" for r in records)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, self.run_dir / RECORDS)
        self._records = open_private(self.run_dir / RECORDS)

    def write_manifest(self, manifest: Manifest) -> None:
        """Replace the manifest atomically (with the batches this store tracks, whatever `manifest` says)."""
        if self.batches:
            manifest = manifest.replace(batches=list(self.batches))
        elif manifest.batches:
            self.batches = list(manifest.batches)
        self._manifest = manifest
        write_json_atomic(self.run_dir / MANIFEST, manifest.to_dict())

    def save_batch(self, entry: dict[str, Any]) -> None:
        """Enter or update one Batch API batch (by its `local` id) in the manifest, durably, before the next step."""
        assert self._manifest is not None, "write the manifest first"
        batches = list(self.batches)
        index = next((i for i, b in enumerate(batches) if b.get("local") == entry.get("local")), None)
        if index is None:
            batches.append(entry)
        else:
            batches[index] = entry
        self.batches = batches
        self.write_manifest(self._manifest)

    def close(self) -> None:
        """Flush, sync and release the lock (also when the disk is full: then one line says what to do)."""
        records, self._records = self._records, None
        try:
            if records:
                try:
                    records.flush()
                    os.fsync(records.fileno())
                finally:
                    records.close()
        except OSError as exc:
            raise UsageError(f"cannot finish writing {self.run_dir / RECORDS} ({exc.strerror or exc}); every cell "
                             f"written before is kept: free space, then continue with emoprompt run --resume "
                             f"{self.run_dir}") from None
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None
