"""Name → `importer(paths, options) -> Imported` (for `emoprompt report --from NAME`): the built-in importers are
loaded on first use, so naming one imports only that one."""

from __future__ import annotations

from typing import Any

from emoprompt.importers.base import Imported, ImportOptions
from emoprompt.registration import Registry


def _table(paths: Any, options: ImportOptions) -> Imported:
    from emoprompt.importers.table import import_table

    return import_table(paths, options)


def _lm_eval(paths: Any, options: ImportOptions) -> Imported:
    from emoprompt.importers.lm_eval import import_lm_eval

    return import_lm_eval(paths, options)


def _inspect(paths: Any, options: ImportOptions) -> Imported:
    from emoprompt.importers.inspect_logs import import_inspect

    return import_inspect(paths, options)


def _promptfoo(paths: Any, options: ImportOptions) -> Imported:
    from emoprompt.importers.promptfoo import import_promptfoo

    return import_promptfoo(paths, options)


BUILTIN_IMPORTERS: dict[str, Any] = {"table": _table, "lm-eval": _lm_eval, "inspect": _inspect,
                                     "promptfoo": _promptfoo}


importers: Registry[Any] = Registry("importer", lambda: dict(BUILTIN_IMPORTERS))
