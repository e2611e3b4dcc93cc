"""emoprompt: prompt-level affect experiments on language models, with honest statistics.

The public vocabulary: `Experiment`, `run`, `load_run` and `Run`; conditions as names in one grammar
(`parse_condition`) or `Transform` objects; `Query`, `GenerateConfig` and `Completion`, what transforms and backends
exchange; `affect` and `ab` around your own LLM calls; the registration points `register_backend`,
`register_scorer`, `register_transform`, `register_template`, `register_suite_source` and `register_importer`;
`Record` and `Manifest`, the schema of run folders.
"""

from emoprompt.ab import ab, current_call_id, record_outcome
from emoprompt.api import Run, load_run, run
from emoprompt.backends.base import Backend, BackendOptions
from emoprompt.chat import Completion, GenerateConfig, LoopTrace, Message, Oracle, Query
from emoprompt.conditions import Condition, ConditionDefaults, ConditionSpec, parse_condition, parse_conditions
from emoprompt.decorator import affect
from emoprompt.errors import EmopromptError, RequestError, UsageError
from emoprompt.registry import (
    register_backend,
    register_importer,
    register_scorer,
    register_suite_source,
    register_template,
    register_transform,
)
from emoprompt.runner.experiment import AnalysisPlan, Experiment
from emoprompt.schema import SCHEMA_VERSION, Manifest, Record
from emoprompt.stimuli import Stimulus, load_library
from emoprompt.suites.scorers import Score
from emoprompt.suites.suite import Sample
from emoprompt.suites.templates import Template
from emoprompt.transforms import AttachStimulus, Baseline, Transform, chain
from emoprompt.transforms.feedback import HeartSettings

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
    "run",
]
