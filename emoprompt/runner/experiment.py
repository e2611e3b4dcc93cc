"""An experiment: models × conditions × tasks × samples × repeats, with its generation settings and plan."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoprompt.chat import GenerateConfig
from emoprompt.datafile import check_keys, expect, read_mapping
from emoprompt.errors import UsageError
from emoprompt.stimuli import FAMILIES, StimulusLibrary, load_library
from emoprompt.transforms import AttachStimulus, Baseline, Transform, chain
from emoprompt.transforms.feedback import HEART_CONDITIONS, HeartSettings, heart_condition
from emoprompt.transforms.stimulus import check_placement, check_separator

DEFAULT_CONDITIONS = ("baseline", "PL01", "EP02", "EP03", "NP01", "NP03")


@dataclass(frozen=True)
class AnalysisPlan:
    """What the summary and report compare, declared before the run."""

    control: str | None = None
    """The primary comparator for stimuli; default: the first placebo condition, else the baseline."""
    baseline: str = "baseline"
    alpha: float = 0.05
    sesoi: float = 0.03
    """Smallest effect size of interest, as a proportion (0.03 = 3 percentage points)."""


@dataclass(frozen=True)
class Experiment:
    """Everything that defines a run. Concurrency, caching and output folders are not part of it."""

    name: str = "default"
    models: tuple[str, ...] = ("hf/smollm2",)
    suite: str = "builtin"
    tasks: tuple[str, ...] = ()
    conditions: tuple[str, ...] = DEFAULT_CONDITIONS
    placement: str = "after_instruction"
    separator: str = "space"
    limit: int | None = 25
    repeats: int = 1
    seed: int = 0
    shots: int | None = None
    """Few-shot demonstrations per item for every task (None: each task's own setting)."""
    generation: GenerateConfig = field(default_factory=lambda: GenerateConfig(temperature=0.0, max_tokens=24))
    api_base: str | None = None
    engine_args: dict[str, Any] = field(default_factory=dict)
    """Arguments of the vLLM engine for vllm/<model> models (tensor_parallel_size, dtype, ...)."""
    stimuli_files: tuple[str, ...] = ()
    analysis: AnalysisPlan = field(default_factory=AnalysisPlan)
    heart: HeartSettings = field(default_factory=HeartSettings)
    """Settings of the heart, heart-neutral and heart-neutral-length conditions."""

    def __post_init__(self) -> None:
        check_placement(self.placement)
        check_separator(self.separator)
        if self.shots is not None and self.shots < 0:
            raise UsageError(f"shots must be 0 or more, not {self.shots}")
        if self.repeats < 1:
            raise UsageError(f"repeats must be 1 or more, not {self.repeats}")
        if self.limit is not None and self.limit < 1:
            raise UsageError(f"limit must be 1 or more, not {self.limit}; omit it to use every sample")
        if not self.models:
            raise UsageError("no model given; pass --model (the embedded default is hf/smollm2)")
        if not self.conditions:
            raise UsageError("no condition given; pass --condition baseline --condition EP02 ...")
        if self.generation.max_tokens < 1:
            raise UsageError(f"max_tokens must be 1 or more, not {self.generation.max_tokens}")
        if not 0 <= self.generation.temperature <= 5:
            raise UsageError(f"temperature must be between 0 and 5, not {self.generation.temperature}")
        if self.heart.max_iters < 1:
            raise UsageError(f"heart max_iters must be 1 or more, not {self.heart.max_iters}")
        if not 0 < self.analysis.alpha < 1:
            raise UsageError(f"alpha must be between 0 and 1, not {self.analysis.alpha}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; `from_dict` inverts it."""
        data = dataclasses.asdict(self)
        data["generation"]["stop"] = list(self.generation.stop)
        return json.loads(json.dumps(data))

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "experiment") -> Experiment:
        """Build from the nested form of `to_dict` or of an experiment file, validating keys and types."""
        allowed = {f.name for f in dataclasses.fields(cls)} | {"model", "condition", "task"}
        check_keys(where, data, allowed)
        values: dict[str, Any] = {}
        for key, value in data.items():
            target = {"model": "models", "condition": "conditions", "task": "tasks"}.get(key, key)
            values[target] = _coerce(where, target, value)
        return cls(**values)

    def resolve_conditions(self, library: StimulusLibrary | None = None) -> list[Condition]:
        """The conditions as named transforms, family names expanded, duplicates dropped."""
        library = library or load_library(Path(p) for p in self.stimuli_files)
        resolved: dict[str, Condition] = {}
        for name in self.conditions:
            for condition in self._expand_composite(name, library):
                resolved.setdefault(condition.name, condition)
        return list(resolved.values())

    def _expand_composite(self, name: str, library: StimulusLibrary) -> list[Condition]:
        """`a+b` chains conditions (`a` sees the call first), e.g. EP02+heart; otherwise one name or family."""
        parts = name.split("+")
        if len(parts) == 1:
            if name in HEART_CONDITIONS:
                return [Condition(name, heart_condition(name, self.heart, self.seed),
                                  "heart" if name == "heart" else "control")]
            return _expand(name, library, self.placement, self.separator)
        pieces = [self._expand_composite(part, library) for part in parts]
        if any(len(piece) != 1 for piece in pieces):
            raise UsageError(f"condition {name!r}: a family cannot be chained; chain single conditions")
        families = [piece[0].family for piece in pieces]
        family = "heart" if "heart" in families else families[0]
        return [Condition(name, chain(*(piece[0].transform for piece in pieces)), family)]

    def control_condition(self, conditions: list[Condition]) -> str:
        """The primary comparator: the declared control, else the first placebo, else the baseline."""
        names = [c.name for c in conditions]
        if self.analysis.control:
            if self.analysis.control not in names:
                raise UsageError(f"control {self.analysis.control!r} is not among the conditions; add it")
            return self.analysis.control
        placebos = [c.name for c in conditions if c.family == "placebo"]
        return placebos[0] if placebos else self.analysis.baseline


@dataclass(frozen=True)
class Condition:
    """A named prompt condition: the label in records and reports, and the transform that implements it."""

    name: str
    transform: Transform
    family: str


def _expand(name: str, library: StimulusLibrary, placement: str, separator: str) -> list[Condition]:
    base, _, where = name.partition("@")
    placement = check_placement(where) if where else placement
    if base == "baseline":
        return [Condition("baseline", Baseline(), "baseline")]
    if base in FAMILIES:
        members = library.family(base)
        if not members:
            raise UsageError(f"stimulus family {base!r} is empty; add stimuli to it or pick another")
        return [_stimulus_condition(s.label, library, placement, separator, where) for s in members]
    return [_stimulus_condition(base, library, placement, separator, where)]


def _stimulus_condition(name: str, library: StimulusLibrary, placement: str, separator: str, where: str
                        ) -> Condition:
    stimulus = library.get(name)
    label = f"{stimulus.label}@{where}" if where else stimulus.label
    return Condition(label, AttachStimulus.of(stimulus, placement, separator), stimulus.family)


_TYPES: dict[str, Any] = {
    "name": str, "suite": str, "placement": str, "separator": str, "repeats": int, "seed": int,
    "api_base": (str, type(None)), "limit": (int, type(None)), "shots": (int, type(None)),
}
_GENERATION_TYPES = {"temperature": (int, float), "max_tokens": int, "top_p": (int, float),
                     "seed": (int, type(None)), "stop": list}
_HEART_TYPES = {"verifier": str, "max_iters": int, "schedule": str, "aggregate": str}
_ANALYSIS_TYPES = {"control": (str, type(None)), "baseline": str, "alpha": (int, float), "sesoi": (int, float)}


def _coerce(where: str, key: str, value: Any) -> Any:
    if key in ("models", "conditions", "tasks", "stimuli_files"):
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
    from emoprompt.data_files import data_dir

    return sorted(p.stem for p in (data_dir("suites") / "protocols").glob("*.toml"))


def protocol_path(name: str) -> Path:
    """The file of a shipped protocol."""
    from emoprompt.data_files import data_dir

    return data_dir("suites") / "protocols" / f"{name}.toml"


def stable_hash(data: Any, length: int = 16) -> str:
    """sha256 of canonical JSON, truncated."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
