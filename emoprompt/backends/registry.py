"""Model prefix → `factory(model, options) -> Backend` (`model` is the whole model string); built-ins from
`emoprompt.backends.factories`."""

from __future__ import annotations

from typing import Any

from emoprompt.backends.factories import BUILTIN_BACKENDS
from emoprompt.registration import Registry

backends: Registry[Any] = Registry("backend", lambda: dict(BUILTIN_BACKENDS))
