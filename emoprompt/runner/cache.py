"""A SQLite response cache keyed by everything that can change a model's output, and nothing else."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from emoprompt.chat import Chat, Completion, GenerateConfig, chat_to_dicts
from emoprompt.identity import stable_hash
from emoprompt.safe_files import PRIVATE_FILE, private_dir


def cache_key(model_identity: dict[str, Any], chat: Chat, config: GenerateConfig, repeat: int) -> str:
    """The key of one request: model identity, rendered messages, generation settings and repeat index.

    The repeat index keeps the K repeats of a cell distinct draws (it is never sent to the model).
    """
    return stable_hash({"model": model_identity, "messages": chat_to_dicts(chat),
                        "config": config.identity(), "repeat": repeat}, length=64)


class CacheUnavailable(Exception):
    """The cache's folder or database cannot be opened (read-only, full, not a folder): the run goes on without it."""


class ResponseCache:
    """Completions by key in one SQLite file; safe for concurrent readers and writers (WAL mode).

    Writes are buffered and committed together (every `batch` puts, `max_delay_s` seconds, or on `flush`/`close`):
    one commit per completion cost more than the rest of a cell on a fast server. A process killed meanwhile loses
    only cache entries, never records (the run folder is the source of truth, and resume reads it). A cache that
    cannot be written (a full or read-only disk) never costs an answer: it warns once and stops writing
    (`write_failure` says why).
    """

    def __init__(self, path: Path, batch: int = 256, max_delay_s: float = 0.5) -> None:
        try:
            private_dir(path.parent)
        except OSError as exc:
            raise CacheUnavailable(f"{path.parent}: {exc.strerror or exc}") from None
        self.path = path
        self.batch = batch
        self.max_delay_s = max_delay_s
        self._lock = threading.Lock()
        self._pending: dict[str, str] = {}
        self._oldest_pending = 0.0
        self.damaged = 0
        """Entries found unreadable (and dropped) so far: their cells ask the model again."""
        self.quarantined: Path | None = None
        """Where a damaged database was moved aside (a new, empty cache took its place)."""
        self.write_failure: str | None = None
        """Why the cache stopped writing (a full or read-only disk), if it did; answers kept coming."""
        self.unwritten = 0
        """Answers not cached because writing failed."""
        try:
            self._db = self._connect()
        except sqlite3.OperationalError as exc:  # read-only, full, or not a database folder
            raise CacheUnavailable(f"{path}: {exc}") from None
        except sqlite3.DatabaseError:
            self.quarantined = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            for suffix in ("", "-wal", "-shm"):
                source = Path(f"{path}{suffix}")
                if source.exists():
                    source.replace(Path(f"{self.quarantined}{suffix}"))
            self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        new = not self.path.exists()
        database = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        try:
            if new and os.name == "posix":
                os.chmod(self.path, PRIVATE_FILE)
            database.execute("PRAGMA journal_mode=WAL")
            database.execute("PRAGMA synchronous=NORMAL")
            database.execute("CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            database.execute("SELECT key FROM completions LIMIT 1").fetchall()
        except sqlite3.DatabaseError:
            database.close()
            raise
        return database

    def get(self, key: str) -> Completion | None:
        """The cached completion, marked `cached`, or None."""
        with self._lock:
            value = self._pending.get(key)
            if value is None:
                try:
                    row = self._db.execute("SELECT value FROM completions WHERE key = ?", (key,)).fetchone()
                except sqlite3.DatabaseError:  # a damaged page: a miss, counted and reported
                    self.damaged += 1
                    return None
                value = row[0] if row else None
        if value is None:
            return None
        try:
            return Completion.from_dict(json.loads(value), cached=True)
        except (ValueError, TypeError, RecursionError):
            self.damaged += 1
            self._forget(key)
            return None

    def put(self, key: str, completion: Completion) -> None:
        """Store a successful completion (committed with the next batch); never raises."""
        value = json.dumps(completion.to_dict())
        with self._lock:
            if self.write_failure is not None:
                self.unwritten += 1
                return
            if not self._pending:
                self._oldest_pending = time.monotonic()
            self._pending[key] = value
            due = len(self._pending) >= self.batch or time.monotonic() - self._oldest_pending >= self.max_delay_s
            if due:
                self._commit()

    def _forget(self, key: str) -> None:
        with self._lock:
            self._pending.pop(key, None)
            with contextlib.suppress(sqlite3.DatabaseError):
                self._db.execute("DELETE FROM completions WHERE key = ?", (key,))

    def flush(self) -> None:
        """Commit every buffered write now."""
        with self._lock:
            self._commit()

    def _commit(self) -> None:
        if not self._pending or self.write_failure is not None:
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO completions (key, value) VALUES (?, ?)",
                                     list(self._pending.items()))
                self._db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back itself ("cannot rollback")
                    self._db.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError) as exc:
            self.write_failure = str(exc) or type(exc).__name__
            self.unwritten += len(self._pending)
            logging.getLogger("emoprompt").warning(
                "emoprompt: the response cache %s cannot be written (%s); the run goes on without caching answers",
                self.path, self.write_failure)
        self._pending.clear()

    def close(self) -> None:
        """Commit buffered writes and close the database (a failure to do so is noted, never raised)."""
        with self._lock:
            self._commit()
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
