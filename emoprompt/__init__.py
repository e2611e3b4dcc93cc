"""emoprompt: prompt-level affect experiments on language models, with honest statistics."""

from emoprompt.ab import ab, current_call_id, record_outcome
from emoprompt.chat import Completion, GenerateConfig, Message, Query
from emoprompt.decorator import affect
from emoprompt.errors import EmopromptError, UsageError
from emoprompt.runner.experiment import AnalysisPlan, Experiment
from emoprompt.stimuli import Stimulus, load_library
from emoprompt.transforms import AttachStimulus, Baseline, Transform, chain

__version__ = "0.1.0"

__all__ = [
    "AnalysisPlan",
    "AttachStimulus",
    "Baseline",
    "Completion",
    "EmopromptError",
    "Experiment",
    "GenerateConfig",
    "Message",
    "Query",
    "Stimulus",
    "Transform",
    "UsageError",
    "ab",
    "affect",
    "chain",
    "current_call_id",
    "load_library",
    "record_outcome",
]
