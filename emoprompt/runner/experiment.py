"""An experiment: models × conditions × tasks × samples × repeats, with its generation settings and plan."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoprompt.chat import GenerateConfig
from emoprompt.conditions import Condition, ConditionDefaults, parse_condition, parse_conditions
from emoprompt.errors import UsageError
from emoprompt.mapping_files import check_keys, expect, read_mapping
from emoprompt.schema import AnalysisPlan
from emoprompt.stimuli import StimulusLibrary, load_library
from emoprompt.transforms import Transform, as_transform
from emoprompt.transforms.feedback import HeartSettings
from emoprompt.transforms.stimulus import check_placement, check_separator

DEFAULT_CONDITIONS = ("baseline", "PL01", "EP02", "EP03", "NP01", "NP03")
MAX_REPEATS = 1000
MAX_TOKENS = 1_000_000
"""More output tokens than this per call are refused (no model answers that much; a typo)."""
"""More repeats than this per cell are refused (a typo, not a design)."""

ConditionLike = str | Transform
"""A condition in an experiment: a name in the condition grammar, or a Transform object."""


@dataclass(frozen=True)
class Experiment:
    """Everything that defines a run. Concurrency, caching and output folders are not part of it.

    `conditions` are names in the condition grammar (`baseline`, `EP02`, `emotionprompt`, `EP02@system`,
    `EP02+heart`, a registered transform) or Transform objects; sequences may be lists.
    """

    name: str = "default"
    models: tuple[str, ...] = ("hf/smollm2",)
    suite: str = "builtin"
    tasks: tuple[str, ...] = ()
    conditions: tuple[ConditionLike, ...] = DEFAULT_CONDITIONS
    placement: str = "after_instruction"
    separator: str = "space"
    limit: int | None = 25
    repeats: int = 1
    seed: int = 0
    shots: int | None = None
    """Few-shot demonstrations per item for every task (None: each task's own setting)."""
    generation: GenerateConfig = field(default_factory=lambda: GenerateConfig(temperature=0.0, max_tokens=24))
    api_base: str | tuple[str, ...] | None = None
    """The API's endpoint, or several replicas of one model (an endpoint pool)."""
    engine_args: dict[str, Any] = field(default_factory=dict)
    """Arguments of the vLLM engine for vllm/<model> models (tensor_parallel_size, dtype, ...)."""
    stimuli_files: tuple[str, ...] = ()
    analysis: AnalysisPlan = field(default_factory=AnalysisPlan)
    heart: HeartSettings = field(default_factory=HeartSettings)
    """Settings of the heart, heart-neutral and heart-neutral-length conditions."""
    paraphrases: int = 1
    """K wordings of every task (1: the task as written); see `emoprompt.suites.paraphrase`."""
    paraphrase_source: str = "bank+format"
    """Where wordings p1… come from: bank+format, bank, format, a file of {task: [instruction, ...]}, or
    model:<model>."""
    rpm: float | None = None
    """Requests per minute at most, per model (your API tier's limit); not part of the experiment's identity."""
    tpm: float | None = None
    """Tokens per minute at most, per model (prompt plus max_tokens per request)."""
    paraphrase_texts: dict[str, list[str]] = field(default_factory=dict)
    """Rewordings written by a model (`model:` sources), kept verbatim so a resumed run uses the same texts."""

    def __post_init__(self) -> None:
        for name in ("models", "tasks", "stimuli_files"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(str(v) for v in value))
        if self.api_base is not None and not isinstance(self.api_base, str):
            bases = tuple(str(base) for base in self.api_base)
            object.__setattr__(self, "api_base", bases[0] if len(bases) == 1 else bases or None)
        conditions = (self.conditions,) if isinstance(self.conditions, str) else tuple(self.conditions)
        object.__setattr__(self, "conditions", tuple(c if isinstance(c, str) else as_transform(c)
                                                     for c in conditions))
        check_placement(self.placement)
        check_separator(self.separator)
        if self.shots is not None and self.shots < 0:
            raise UsageError(f"shots must be 0 or more, not {self.shots}")
        if self.repeats < 1:
            raise UsageError(f"repeats must be 1 or more, not {self.repeats}")
        if self.repeats > MAX_REPEATS:
            raise UsageError(f"repeats must be at most {MAX_REPEATS:,}, not {self.repeats:,}; run more repeats as "
                             "separate experiments")
        from emoprompt.suites.paraphrase import MAX_PARAPHRASES, check_source

        if not 1 <= self.paraphrases <= MAX_PARAPHRASES:
            raise UsageError(f"paraphrases must be between 1 and {MAX_PARAPHRASES}, not {self.paraphrases}")
        check_source(self.paraphrase_source)
        if self.limit is not None and self.limit < 1:
            raise UsageError(f"limit must be 1 or more, not {self.limit}; use 'all' (or omit it) for every sample")
        if not self.models:
            raise UsageError("no model given; pass --model (the embedded default is hf/smollm2)")
        if not self.conditions:
            raise UsageError("no condition given; pass --condition baseline --condition EP02 ...")
        if not 1 <= self.generation.max_tokens <= MAX_TOKENS:
            raise UsageError(f"max_tokens must be between 1 and {MAX_TOKENS:,}, not {self.generation.max_tokens}")
        if not 0 <= self.generation.temperature <= 5:  # NaN fails every comparison
            raise UsageError(f"temperature must be between 0 and 5, not {self.generation.temperature}")
        if not 0 < self.generation.top_p <= 1:
            raise UsageError(f"top_p must be above 0 and at most 1, not {self.generation.top_p}")
        if self.heart.max_iters < 1:
            raise UsageError(f"heart max_iters must be 1 or more, not {self.heart.max_iters}")
        if not 0 < self.analysis.alpha < 1:
            raise UsageError(f"alpha must be between 0 and 1, not {self.analysis.alpha}")
        if not 0 < self.analysis.sesoi < float("inf"):
            raise UsageError(f"sesoi (the smallest effect of interest) must be a positive number, not "
                             f"{self.analysis.sesoi}")
        for budget in ("rpm", "tpm"):
            value = getattr(self, budget)
            if value is not None and not 0 < value < float("inf"):
                raise UsageError(f"{budget} must be a positive number (per minute), not {value}")
        if self.analysis.select not in (None, "overall", "task", "length"):
            raise UsageError(f"analysis select must be overall, task or length, not {self.analysis.select!r}")

    @property
    def python_conditions(self) -> list[Transform]:
        """The conditions given as Transform objects (an experiment file cannot hold them)."""
        return [c for c in self.conditions if not isinstance(c, str)]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; `from_dict` inverts it for every experiment whose conditions are names."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["conditions"] = [c if isinstance(c, str) else {"python": c.label, "identity": c.identity()}
                              for c in self.conditions]
        data["generation"] = dataclasses.asdict(self.generation)
        data["generation"]["stop"] = list(self.generation.stop)
        data["analysis"] = {key: getattr(self.analysis, key) for key in _ANALYSIS_TYPES}
        data["heart"] = dataclasses.asdict(self.heart)
        return json.loads(json.dumps(data, default=list))

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "experiment") -> Experiment:
        """Build from the nested form of `to_dict` or of an experiment file, validating keys and types."""
        if not isinstance(data, dict):
            raise UsageError(f"{where}: an experiment is a table of keys, not {type(data).__name__}")
        allowed = {f.name for f in dataclasses.fields(cls)} | {"model", "condition", "task"}
        check_keys(where, data, allowed)
        values: dict[str, Any] = {}
        for key, value in data.items():
            target = {"model": "models", "condition": "conditions", "task": "tasks"}.get(key, key)
            values[target] = _coerce(where, target, value)
        return cls(**values)

    def condition_defaults(self, library: StimulusLibrary | None = None) -> ConditionDefaults:
        """What condition names mean in this experiment (placement, separator, HEART settings, seed, stimuli)."""
        library = library or load_library(Path(p) for p in self.stimuli_files)
        return ConditionDefaults(self.placement, self.separator, self.heart, self.seed, True, library)

    def resolve_conditions(self, library: StimulusLibrary | None = None) -> list[Condition]:
        """The conditions, families expanded and duplicates (one transform, several spellings) merged."""
        return parse_conditions(self.conditions, self.condition_defaults(library))[0]

    def control_condition(self, conditions: list[Condition]) -> str:
        """The primary comparator: the declared control, else the first placebo, else the baseline."""
        names = [c.name for c in conditions]
        if self.analysis.control:
            control = self._canonical(self.analysis.control, conditions)
            if control not in names:
                raise UsageError(f"control {self.analysis.control!r} is not among the conditions; add it")
            return control
        placebos = [c.name for c in conditions if c.family == "placebo"]
        return placebos[0] if placebos else self.analysis.baseline

    def _canonical(self, name: str, conditions: list[Condition]) -> str:
        """A condition name as the conditions spell it (`pl01` → `PL01`; a spelling merged into another)."""
        for condition in conditions:
            if name == condition.name or name in condition.spellings:
                return condition.name
        try:
            return parse_condition(name, self.condition_defaults()).name
        except UsageError:
            return name


_TYPES: dict[str, Any] = {
    "name": str, "suite": str, "placement": str, "separator": str, "repeats": int, "seed": int,
    "api_base": (str, type(None)), "limit": (int, type(None)), "shots": (int, type(None)), "paraphrases": int,
    "rpm": (int, float, type(None)), "tpm": (int, float, type(None)),
    "paraphrase_source": str,
}
_GENERATION_TYPES = {"temperature": (int, float), "max_tokens": int, "top_p": (int, float),
                     "seed": (int, type(None)), "stop": list}
_HEART_TYPES = {"verifier": str, "max_iters": int, "schedule": str, "aggregate": str}
_ANALYSIS_TYPES = {"control": (str, type(None)), "baseline": str, "alpha": (int, float), "sesoi": (int, float),
                   "select": (str, type(None))}


def _coerce(where: str, key: str, value: Any) -> Any:
    if key == "conditions":
        items = [value] if isinstance(value, str) else expect(where, key, value, list)
        for item in items:
            if isinstance(item, dict) and "python" in item:
                raise UsageError(f"{where}: condition {item['python']!r} is a Python transform object, which a file "
                                 "cannot hold; run or resume this experiment from Python with emoprompt.run(...)")
        return tuple(expect(where, key, item, str) for item in items)
    if key in ("models", "tasks", "stimuli_files"):
        items = [value] if isinstance(value, str) else expect(where, key, value, list)
        return tuple(expect(where, key, item, str) for item in items)
    if key == "generation":
        table = _table(where, key, value, _GENERATION_TYPES)
        if "stop" in table:
            table["stop"] = tuple(expect(where, "stop", s, str) for s in table["stop"])
        return GenerateConfig(**table)
    if key == "analysis":
        return AnalysisPlan(**_table(where, key, value, _ANALYSIS_TYPES))
    if key == "heart":
        return HeartSettings(**_table(where, key, value, _HEART_TYPES))
    if key == "paraphrase_texts":
        table = expect(where, key, value, dict)
        return {str(task): [expect(f"{where} [paraphrase_texts]", str(task), t, str)
                            for t in expect(f"{where} [paraphrase_texts]", str(task), texts, list)]
                for task, texts in table.items()}
    if key == "api_base" and isinstance(value, list):
        return tuple(expect(where, key, item, str) for item in value)
    if key == "engine_args":
        table = expect(where, key, value, dict)
        for name, item in table.items():
            expect(f"{where} [engine_args]", name, item, (str, int, float, bool, type(None)))
        return dict(table)
    return expect(where, key, value, _TYPES[key])


def _table(where: str, key: str, value: Any, types: dict[str, Any]) -> dict[str, Any]:
    table = expect(where, key, value, dict)
    check_keys(f"{where} [{key}]", table, set(types))
    return {k: expect(f"{where} [{key}]", k, v, types[k]) for k, v in table.items()}


def load_experiment(path: Path) -> Experiment:
    """Read an experiment file (TOML or YAML), or a shipped protocol by name (see `emoprompt protocols`)."""
    if not path.exists() and path.suffix == "" and path.name in protocol_names():
        path = protocol_path(path.name)
    data = read_mapping(path)
    data.pop("protocol", None)  # the protocol's own notes: where it follows the paper, where it chose
    return Experiment.from_dict(data, where=path.name)


def protocol_names() -> list[str]:
    """Shipped protocol files (suites/protocols/*.toml)."""
    from emoprompt.package_data import shipped_dir

    return sorted(p.stem for p in (shipped_dir("suites") / "protocols").glob("*.toml"))


def protocol_path(name: str) -> Path:
    """The file of a shipped protocol."""
    from emoprompt.package_data import shipped_dir

    return shipped_dir("suites") / "protocols" / f"{name}.toml"
