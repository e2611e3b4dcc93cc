"""Registration points: how code or an installed plugin adds a backend, scorer, named transform, template, suite
source or record importer. This module is a façade over each area's own registry
(`emoprompt.registration.Registry`), kept beside its built-ins.

In code, call `emoprompt.register_backend(prefix, factory)` and friends. An installed package declares Python entry
points instead, one group per kind, the entry point's name being the name it adds and its object the thing itself:

    [project.entry-points."emoprompt.backends"]
    myprefix = "my_plugin:make_backend"          # --model myprefix/<anything>

Entry points are read the first time a name is not found among the built-in and registered ones, so a plugin
costs nothing to a run that does not use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emoprompt.backends.registry import backends
from emoprompt.importers.registry import importers
from emoprompt.registration import ENTRY_POINT_GROUPS, Registry
from emoprompt.suites.registry import scorers, suite_sources, templates
from emoprompt.transforms.registry import transforms

__all__ = ["ENTRY_POINT_GROUPS", "Registry", "backends", "importers", "register_backend", "register_importer",
           "register_scorer", "register_suite_source", "register_template", "register_transform", "scorers",
           "suite_sources", "templates", "transforms"]


def register_backend(prefix: str, factory: Callable[..., Any], *, replace: bool = False) -> None:
    """Make `--model PREFIX/<anything>` use `factory(model, options)`, which returns a Backend."""
    backends.register(prefix, factory, replace=replace)


def register_scorer(name: str, scorer: Callable[..., Any], *, replace: bool = False) -> None:
    """Make `scorer = "NAME"` in suite files use `scorer(text, sample) -> Score`."""
    scorers.register(name, scorer, replace=replace)


def register_transform(name: str, transform: Any, *, replace: bool = False) -> None:
    """Make NAME a condition (`--condition NAME`, `affect("NAME")`, `NAME+EP02`, `NAME:arg`): a Transform, or a
    factory taking a ConditionSpec (its `argument` is the text after `:`, its `placement` after `@`)."""
    transforms.register(name, transform, replace=replace)


def register_template(name: str, template: Any, *, replace: bool = False) -> None:
    """Make `template = "NAME"` in suite files render with `template` (an emoprompt Template)."""
    templates.register(name, template, replace=replace)


def register_suite_source(kind: str, loader: Callable[..., Any], *, replace: bool = False) -> None:
    """Make `source = { KIND = ... }` in suite files load samples with `loader(spec, context)`."""
    suite_sources.register(kind, loader, replace=replace)


def register_importer(name: str, importer: Callable[..., Any], *, replace: bool = False) -> None:
    """Make `emoprompt report --from NAME PATH...` read other harnesses' results with `importer(paths, options)`."""
    importers.register(name, importer, replace=replace)
