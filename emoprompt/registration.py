"""The registry that every area of emoprompt keeps its named things in: built-ins, then what code registers, then
what installed plugins declare as Python entry points (read the first time a name is not found, so a plugin costs
nothing to a run that does not use it). Each area holds its own registry beside its built-ins
(`emoprompt.backends.registry`, `emoprompt.suites.registry`, `emoprompt.transforms.registry`,
`emoprompt.importers.registry`); `emoprompt.registry` is the façade users register through.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from emoprompt.errors import UsageError, unknown_name

T = TypeVar("T")

ENTRY_POINT_GROUPS = {
    "backend": "emoprompt.backends",
    "scorer": "emoprompt.scorers",
    "transform": "emoprompt.transforms",
    "template": "emoprompt.templates",
    "suite source": "emoprompt.suite_sources",
    "importer": "emoprompt.importers",
}


class Registry(Generic[T]):
    """Names → things of one kind: built-ins (loaded on first use), then registered ones, then entry points."""

    def __init__(self, kind: str, builtins: Callable[[], dict[str, T]], hint: str = "") -> None:
        self.kind = kind
        self.group = ENTRY_POINT_GROUPS[kind]
        self.hint = hint
        self._builtins = builtins
        self._items: dict[str, T] | None = None
        self._origins: dict[str, str] = {}
        self._entry_points_read = False
        self._lock = threading.RLock()

    def _loaded(self) -> dict[str, T]:
        with self._lock:
            if self._items is None:
                self._items = dict(self._builtins())
                self._origins.update(dict.fromkeys(self._items, "emoprompt"))
            return self._items

    def register(self, name: str, item: T, *, replace: bool = False, origin: str = "code") -> T:
        """Add `item` under `name`; an existing name is refused unless `replace`."""
        if not isinstance(name, str) or not name or any(c in name for c in "/+@: \t\n"):
            raise UsageError(f"cannot register {self.kind} {name!r}: a name is a non-empty word without / + @ : "
                             "or spaces")
        with self._lock:
            items = self._loaded()
            if name in items and not replace and items[name] is not item:
                raise UsageError(f"a {self.kind} named {name!r} exists already (from {self._origins[name]}); "
                                 "pick another name or pass replace=True")
            items[name] = item
            self._origins[name] = origin
        return item

    def unregister(self, name: str) -> None:
        """Remove a registered name (built-ins come back only with a new process)."""
        with self._lock:
            self._loaded().pop(name, None)
            self._origins.pop(name, None)

    def find(self, name: str) -> T | None:
        """The thing named `name`, or None."""
        items = self._loaded()
        if name not in items:
            self._read_entry_points()
        return items.get(name)

    def get(self, name: str) -> T:
        """The thing named `name`, or a one-line error with a suggestion."""
        found = self.find(name)
        if found is None:
            raise unknown_name(self.kind, name, self.names(), hint=self.hint)
        return found

    def origin(self, name: str) -> str:
        """Where a name came from: 'emoprompt', 'code' or the plugin distribution."""
        self.find(name)
        return self._origins.get(name, "?")

    def names(self) -> list[str]:
        """Every known name, entry points included."""
        self._read_entry_points()
        return sorted(self._loaded())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def _read_entry_points(self) -> None:
        with self._lock:
            if self._entry_points_read:
                return
            self._entry_points_read = True
            items = self._loaded()
            for entry_point in importlib.metadata.entry_points(group=self.group):
                if entry_point.name in items:
                    continue
                distribution = entry_point.dist.name if entry_point.dist else entry_point.value
                try:
                    loaded = entry_point.load()
                except Exception as exc:
                    raise UsageError(f"the {self.kind} plugin {entry_point.name!r} from {distribution} failed to "
                                     f"load ({type(exc).__name__}: {exc}); reinstall or uninstall it") from None
                items[entry_point.name] = loaded
                self._origins[entry_point.name] = distribution
