"""A SQLite response cache keyed by everything that can change a model's output, and nothing else."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from emoprompt.chat import Chat, Completion, GenerateConfig, chat_to_dicts
from emoprompt.runner.experiment import stable_hash


def cache_key(model_identity: dict[str, Any], chat: Chat, config: GenerateConfig, repeat: int) -> str:
    """The key of one request: model identity, rendered messages, generation settings and repeat index.

    The repeat index keeps the K repeats of a cell distinct draws (it is never sent to the model).
    """
    return stable_hash({"model": model_identity, "messages": chat_to_dicts(chat),
                        "config": config.identity(), "repeat": repeat}, length=64)


class ResponseCache:
    """Completions by key in one SQLite file; safe for concurrent readers and writers (WAL mode)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def get(self, key: str) -> Completion | None:
        """The cached completion, marked `cached`, or None."""
        with self._lock:
            row = self._db.execute("SELECT value FROM completions WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        completion = Completion.from_dict(json.loads(row[0]))
        completion.cached = True
        return completion

    def put(self, key: str, completion: Completion) -> None:
        """Store a successful completion."""
        value = json.dumps({**completion.to_dict(), "cached": False})
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO completions (key, value) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
