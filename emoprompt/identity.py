"""Identities: what can change a model's output, as plain JSON data, and the hashes of it that key cells, the
response cache and experiments."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
from typing import Any


def stable_hash(data: Any, length: int = 16) -> str:
    """sha256 of canonical JSON, truncated."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def source_hash(code_owner: Any) -> str | None:
    """A hash of the source of a function or class, or None when it cannot be read (a REPL, a C extension)."""
    return _source_hash(code_owner)


@functools.cache
def _source_hash(code_owner: Any) -> str | None:
    try:
        source = inspect.getsource(code_owner)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def callable_identity(function: Any) -> dict[str, Any]:
    """A function's identity: its qualified name, its source's hash, and its plain-data defaults and closure
    values (so editing the function, or what it captured, changes it)."""
    captured = [cell.cell_contents for cell in (getattr(function, "__closure__", None) or ())]
    target = function if inspect.isfunction(function) or inspect.ismethod(function) else type(function)
    return {"name": getattr(function, "__qualname__", type(function).__qualname__),
            "source": source_hash(target), "defaults": plain(getattr(function, "__defaults__", None)),
            "captured": plain(captured)}


def is_complete(identity: Any) -> bool:
    """False when an identity holds something known only by its repr, or code whose source was unreadable:
    then it cannot tell two versions apart, and answers must not be cached under it."""
    if isinstance(identity, dict):
        if "repr" in identity or identity.get("source", "") is None:
            return False
        return all(is_complete(value) for value in identity.values())
    if isinstance(identity, list):
        return all(is_complete(value) for value in identity)
    return True


def plain(value: Any) -> Any:
    """`value` as JSON data: dataclasses by their `identity()` or fields, tuples and sets as lists, functions by
    `callable_identity`, anything else that JSON cannot hold by its type and repr."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        identity = getattr(value, "identity", None)
        if callable(identity):
            return identity()
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    if isinstance(value, frozenset | set):
        return sorted((plain(item) for item in value), key=repr)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if inspect.isfunction(value) or inspect.ismethod(value):
        return callable_identity(value)
    return {"type": type(value).__qualname__, "repr": repr(value)}
