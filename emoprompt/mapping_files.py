"""Read TOML or YAML data files safely: no code runs, errors name the file and line."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError, unknown_name

MAX_DATA_FILE_BYTES = 20_000_000
MAX_DEPTH = 32
"""No emoprompt file nests deeper than this (tables in tables, lists in lists)."""


class _MalformedYAML(Exception):
    """A PyYAML error, as the one line `read_mapping` reports (PyYAML is imported lazily, so its classes are not
    at hand where the error is caught)."""


def _load_yaml(text: str) -> Any:
    """YAML without aliases (`*name`): emoprompt's files never need them, and a few bytes of nested aliases can
    expand to gigabytes (a "billion laughs" file). PyYAML is imported only here, for YAML and JSON files."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(None, None, "YAML aliases (*name) are not supported in emoprompt "
                                                  "files", event.start_mark)
            return super().compose_node(parent, index)

    try:
        return yaml.load(text, Loader=NoAliasLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise _MalformedYAML(f"malformed YAML{where}: {getattr(exc, 'problem', None) or 'invalid YAML'}") from None


MAPPING_SUFFIXES = (".toml", ".yaml", ".yml", ".json")
"""The file types `read_mapping` reads."""


def read_mapping(path: Path) -> dict[str, Any]:
    """Parse a `.toml`, `.yaml`, `.yml` or `.json` file into a dict, or raise a one-line UsageError."""
    if not path.is_file():
        raise UsageError(f"{path} not found; check the path")
    if path.stat().st_size > MAX_DATA_FILE_BYTES:
        raise UsageError(f"{path} is larger than {MAX_DATA_FILE_BYTES // 1_000_000} MB; split it")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text; save the file as UTF-8") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix in (".yaml", ".yml", ".json"):  # JSON is YAML (and read with the same limits)
            data = _load_yaml(text)
        else:
            raise UsageError(f"{path}: unsupported file type {suffix!r}; use .toml, .yaml, .yml or .json")
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: malformed TOML: {exc}; fix the file") from None
    except RecursionError:
        raise UsageError(f"{path}: nested too deeply to be an emoprompt file; fix the file") from None
    except ValueError as exc:
        problem = "a number has thousands of digits" if "digits" in str(exc) else str(exc).splitlines()[0]
        raise UsageError(f"{path}: {problem}; fix the file") from None
    except _MalformedYAML as exc:
        raise UsageError(f"{path}: {exc}; fix the file") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of keys at the top level")
    if not data:
        raise UsageError(f"{path} is empty; write its settings (see the README for an example)")
    if _depth(data) > MAX_DEPTH:
        raise UsageError(f"{path}: nested too deeply to be an emoprompt file (more than {MAX_DEPTH} levels); fix the "
                         "file")
    return data


def _depth(data: Any) -> int:
    """How deeply tables and lists nest in `data` (counted without recursion, so any depth is measured)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return deepest


def check_keys(where: str, data: dict[str, Any], allowed: set[str] | frozenset[str]) -> None:
    """Reject unknown keys with a suggestion."""
    for key in data:
        if key not in allowed:
            raise unknown_name(f"key in {where}", str(key), allowed)


def expect(where: str, key: str, value: Any, kind: type | tuple[type, ...]) -> Any:
    """Check a value's type; bool is not accepted where a number is asked for."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = False if isinstance(value, bool) and bool not in kinds else isinstance(value, kinds)
    if not ok:
        names = " or ".join(k.__name__ for k in kinds)
        raise UsageError(f"{where}: `{key}` must be {names}, not {type(value).__name__} ({value!r})")
    return value


def inside(base: Path, relative: str, where: str) -> Path:
    """Resolve `relative` against `base`, refusing paths that escape it (absolute paths or '..')."""
    base = base.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise UsageError(f"{where}: path {relative!r} leaves the suite's folder; "
                         "pass data outside it with --data-dir instead")
    return target
