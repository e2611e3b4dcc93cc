"""emoprompt: prompt-level affect experiments on language models, with honest statistics.

The public vocabulary: `Experiment`, `run`, `load_run` and `Run`; conditions as names in one grammar
(`parse_condition`) or `Transform` objects; `Query`, `GenerateConfig` and `Completion`, what transforms and backends
exchange; `affect` and `ab` around your own LLM calls; the registration points `register_backend`,
`register_scorer`, `register_transform`, `register_template`, `register_suite_source` and `register_importer`;
`Record` and `Manifest`, the schema of run folders.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emoprompt.abtest import ab, current_call_id, record_outcome
    from emoprompt.api import Run, load_run, resume, run
    from emoprompt.backends.base import Backend, BackendOptions
    from emoprompt.chat import Completion, GenerateConfig, LoopTrace, Message, Oracle, Query
    from emoprompt.conditions import Condition, ConditionDefaults, ConditionSpec, parse_condition, parse_conditions
    from emoprompt.decorator import affect
    from emoprompt.errors import EmopromptError, RequestError, RunStopped, UsageError
    from emoprompt.registry import (
        register_backend,
        register_importer,
        register_scorer,
        register_suite_source,
        register_template,
        register_transform,
    )
    from emoprompt.runner.experiment import Experiment
    from emoprompt.schema import SCHEMA_VERSION, AnalysisPlan, Manifest, Record
    from emoprompt.stimuli import Stimulus, load_library
    from emoprompt.suites.scorers import Score
    from emoprompt.suites.suite import Sample
    from emoprompt.suites.templates import Template
    from emoprompt.transforms import AttachStimulus, Baseline, Transform, chain
    from emoprompt.transforms.feedback import HeartSettings

_HOMES = {
    "AnalysisPlan": "emoprompt.schema",
    "AttachStimulus": "emoprompt.transforms",
    "Backend": "emoprompt.backends.base",
    "BackendOptions": "emoprompt.backends.base",
    "Baseline": "emoprompt.transforms",
    "Completion": "emoprompt.chat",
    "Condition": "emoprompt.conditions",
    "ConditionDefaults": "emoprompt.conditions",
    "ConditionSpec": "emoprompt.conditions",
    "EmopromptError": "emoprompt.errors",
    "Experiment": "emoprompt.runner.experiment",
    "GenerateConfig": "emoprompt.chat",
    "HeartSettings": "emoprompt.transforms.feedback",
    "LoopTrace": "emoprompt.chat",
    "Manifest": "emoprompt.schema",
    "Message": "emoprompt.chat",
    "Oracle": "emoprompt.chat",
    "Query": "emoprompt.chat",
    "Record": "emoprompt.schema",
    "RequestError": "emoprompt.errors",
    "Run": "emoprompt.api",
    "SCHEMA_VERSION": "emoprompt.schema",
    "Sample": "emoprompt.suites.suite",
    "Score": "emoprompt.suites.scorers",
    "Stimulus": "emoprompt.stimuli",
    "Template": "emoprompt.suites.templates",
    "Transform": "emoprompt.transforms",
    "UsageError": "emoprompt.errors",
    "ab": "emoprompt.abtest",
    "affect": "emoprompt.decorator",
    "current_call_id": "emoprompt.abtest",
    "record_outcome": "emoprompt.abtest",
    "chain": "emoprompt.transforms",
    "load_library": "emoprompt.stimuli",
    "load_run": "emoprompt.api",
    "parse_condition": "emoprompt.conditions",
    "parse_conditions": "emoprompt.conditions",
    "register_backend": "emoprompt.registry",
    "register_importer": "emoprompt.registry",
    "register_scorer": "emoprompt.registry",
    "register_suite_source": "emoprompt.registry",
    "register_template": "emoprompt.registry",
    "register_transform": "emoprompt.registry",
    "resume": "emoprompt.api",
    "run": "emoprompt.api",
    "RunStopped": "emoprompt.errors",
}
"""Where each public name lives: it is imported on first use, so `import emoprompt` (and the CLI) starts fast."""


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'emoprompt' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))


__version__ = "0.2.0"

__all__ = [
    "SCHEMA_VERSION",
    "AnalysisPlan",
    "AttachStimulus",
    "Backend",
    "BackendOptions",
    "Baseline",
    "Completion",
    "Condition",
    "ConditionDefaults",
    "ConditionSpec",
    "EmopromptError",
    "Experiment",
    "GenerateConfig",
    "HeartSettings",
    "LoopTrace",
    "Manifest",
    "Message",
    "Oracle",
    "Query",
    "Record",
    "RequestError",
    "Run",
    "RunStopped",
    "Sample",
    "Score",
    "Stimulus",
    "Template",
    "Transform",
    "UsageError",
    "ab",
    "affect",
    "chain",
    "current_call_id",
    "load_library",
    "load_run",
    "parse_condition",
    "parse_conditions",
    "record_outcome",
    "register_backend",
    "register_importer",
    "register_scorer",
    "register_suite_source",
    "register_template",
    "register_transform",
    "resume",
    "run",
]
