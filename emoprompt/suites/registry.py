"""The suites' registries — templates, scorers and suite sources: built-ins, then registered ones
(`emoprompt.register_template` and friends), then plugins' entry points — and the two look-ups that use them."""

from __future__ import annotations

from typing import Any

from emoprompt.errors import UsageError
from emoprompt.registration import Registry
from emoprompt.suites.formats import format_variant, split_spec
from emoprompt.suites.ii_scorers import II_SCORERS
from emoprompt.suites.scorers import SCORERS
from emoprompt.suites.sources import BUILTIN_SOURCES, SourceContext, TaskSource
from emoprompt.suites.study_sets import STUDY_SOURCES
from emoprompt.suites.suite import Sample
from emoprompt.suites.templates import TEMPLATE_FIELDS, TEMPLATES, Template

templates: Registry[Any] = Registry("template", lambda: dict(TEMPLATES))
"""Name → Template."""
scorers: Registry[Any] = Registry("scorer", lambda: {**SCORERS, **II_SCORERS})
"""Name → `scorer(text, sample) -> Score`."""
suite_sources: Registry[Any] = Registry("suite source", lambda: {**BUILTIN_SOURCES, **STUDY_SOURCES})
"""Key of a task's `source` table → `loader(spec, context) -> tuple[Sample, ...]`."""


def get_template(name_or_body: str) -> Template:
    """A named template (built-in, registered or from a plugin), or a custom body containing {input}; either with
    a format-variant suffix (`~format:SEED-N`, see `emoprompt.suites.formats`)."""
    base, variant = split_spec(name_or_body)
    if variant is not None:
        return format_variant(get_template(base), *variant)

    if "{input}" in name_or_body:
        return TEMPLATES.get(name_or_body) or Template(name_or_body)
    if "{" not in name_or_body:
        template: Template = templates.get(name_or_body)
        return template
    raise UsageError(f"template {name_or_body!r} lacks an {{input}} placeholder; use {', '.join(TEMPLATE_FIELDS)}")


def load_source(spec: dict[str, Any], context: SourceContext) -> TaskSource:
    """The samples (and task facts) of one `source` table, by its kind."""
    kinds = [key for key in spec if suite_sources.find(str(key)) is not None]
    if len(kinds) != 1:
        known = ", ".join(suite_sources.names())
        problem = "names no kind" if not kinds else f"names {len(kinds)} kinds ({', '.join(kinds)})"
        raise UsageError(f"{context.where}: the source {problem}; give exactly one of {known}")
    loaded = suite_sources.get(kinds[0])(spec, context)
    if isinstance(loaded, TaskSource):
        return loaded
    samples = tuple(loaded)
    if not all(isinstance(sample, Sample) for sample in samples):
        raise UsageError(f"{context.where}: the {kinds[0]!r} source returned something other than Samples")
    return TaskSource(samples)
