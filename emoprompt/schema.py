"""The one record and manifest schema, versioned, used by every writer and reader: the runner, A/B, DSPy and the
importers. The JSON Schema files in `emoprompt/schemas/` are generated from these dataclasses
(`python -c "import emoprompt.schema as s; s.write_schema_files()"` rewrites them; a test checks they agree).

Version history: 1 (unversioned, wave 1) → 2 (this module: `schema_version`, typed A/B and loop fields, token
counts that may be unknown). Version-1 files still read: missing fields take their defaults.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

SCHEMA_VERSION = 2
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


class SchemaError(ValueError):
    """A record or manifest that breaks the schema; the message names the field."""


@dataclass(frozen=True)
class ErrorInfo:
    """Why a cell has no answer: a named kind (rate_limit, server_error, malformed_response, exception, ...)."""

    kind: str
    message: str


@dataclass(frozen=True)
class ChatTurn:
    """One message as it was sent."""

    role: str
    content: str


@dataclass(frozen=True)
class CallRecord:
    """One model call of a cell that made several (a feedback loop)."""

    messages: list[ChatTurn]
    response: str
    finish_reason: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cached: bool = False


@dataclass(frozen=True)
class Record:
    """One cell: (model, task, sample, condition, repeat), what was sent, what came back, and its score.

    An error cell has `error` set and `score`, `correct` and `parsed` None: a failure is never a wrong answer.
    """

    key: str
    model: str
    task: str
    sample_id: str
    condition: str
    schema_version: int = SCHEMA_VERSION
    family: str = "user"
    repeat: int = 0
    paraphrase: str | None = None
    """The wording of the task (`p0`: as written) when the experiment crosses wordings (`--paraphrases`)."""
    target: list[str] | None = None
    response: str | None = None
    finish_reason: str | None = None
    answer: str | None = None
    score: float | None = None
    correct: bool | None = None
    parsed: bool | None = None
    error: ErrorInfo | None = None
    messages: list[ChatTurn] | None = None
    calls: list[CallRecord] | None = None
    attempt_scores: list[float] | None = None
    """Feedback loops: the score of every attempt, in order."""
    feedback: list[str] | None = None
    """Feedback loops: the emotion of the feedback given after each wrong attempt."""
    verdicts: list[bool] | None = None
    verifier: str | None = None
    n_calls: int = 1
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    cost_usd: float | None = None
    cached: bool = False
    time: str | None = None
    call_id: str | None = None
    """A/B: the id `record_outcome` refers to."""
    input_hash: str | None = None
    """A/B and DSPy: a hash of the input, never the input itself."""
    metadata: dict[str, Any] | None = None
    """Anything else a writer (an importer, a plugin) wants kept with the record."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (what a line of records.jsonl holds)."""
        return to_plain(self)

    def replace(self, **changes: Any) -> Record:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ConditionInfo:
    """A condition as the manifest describes it."""

    name: str
    family: str = "user"
    transform: dict[str, Any] | None = None
    """The transform's identity."""
    spellings: list[str] | None = None


@dataclass(frozen=True)
class AnalysisPlan:
    """What a run's analysis compares and at which thresholds — the one plan type of emoprompt: declared before the
    run (an experiment's `analysis`), kept in the manifest, changed only where `emoprompt report` is told to
    (`changed`), and handed to the statistics with the facts of the run's design (families, conditions, task
    facts, repeats)."""

    control: str | None = None
    """The primary comparator for stimuli; default: the first placebo condition, else the baseline."""
    baseline: str = "baseline"
    alpha: float = 0.05
    sesoi: float = 0.03
    """Smallest effect size of interest, in the scores' unit (a proportion for 0–1 scores: 0.03 = 3 pp)."""
    select: str | None = None
    """How the report's "best stimulus" section picks (overall, task, length); it always estimates the pick on
    items that did not choose it."""
    select_seed: int = 0
    """The seed of that section's split of items (which choose, which estimate)."""
    families: dict[str, str] = field(default_factory=dict)
    """condition → family (emotionprompt, negativeprompt, placebo, control, user, baseline)."""
    conditions: list[str] = field(default_factory=list)
    """Report order; default: the order of first appearance."""
    task_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per task: BIG-Bench preferred_score and random_baseline, for the normalized preferred score."""
    repeats: int | None = None
    """K as the run declared it; None: the number of distinct repeats found per cell."""

    @property
    def comparator(self) -> str:
        """The control, or the baseline when none is named."""
        return self.control or self.baseline

    def changed(self, **changes: Any) -> AnalysisPlan:
        """This plan with the changes that are not None; a control or baseline that is not a condition of the run is
        refused, never ignored."""
        from emoprompt.errors import UsageError

        given = {key: value for key, value in changes.items() if value is not None}
        for role in ("control", "baseline"):
            name = given.get(role)
            if name is not None and self.conditions and name not in self.conditions:
                raise UsageError(f"--{role} {name!r} is not a condition of this run; choose from "
                                 f"{', '.join(self.conditions[:12])}")
        return dataclasses.replace(self, **given)


@dataclass(frozen=True)
class Manifest:
    """A run folder's description: what ran (experiment, identity, conditions), with what (versions), when, and
    how it ended. `kind` is experiment, ab, dspy or import."""

    run_id: str
    schema_version: int = SCHEMA_VERSION
    kind: str = "experiment"
    experiment: dict[str, Any] = field(default_factory=dict)
    experiment_hash: str | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    conditions: list[ConditionInfo] = field(default_factory=list)
    control: str | None = None
    analysis: AnalysisPlan = field(default_factory=AnalysisPlan)
    cells: int | None = None
    versions: dict[str, str] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    data_dir: str | None = None
    notes: list[str] = field(default_factory=list)
    started: str | None = None
    finished: str | None = None
    status: str = "running"
    records: int | None = None
    errors: int | None = None
    summary: list[dict[str, Any]] | None = None
    usage: list[dict[str, Any]] | None = None
    invocations: list[dict[str, Any]] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    assignment: str | None = None
    """A/B: balanced, weighted or sticky."""
    seed: int | None = None
    source: str | None = None
    """Imported runs: what they were read from."""
    metadata: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None
    """The run's settings that change what a cell records (timeout, retries, backoff, the longest answer kept):
    restored on --resume unless given again."""
    batches: list[dict[str, Any]] | None = None
    """Batch API runs: every batch sent (local id, provider ids, status, input file), so a resumed run polls
    instead of paying again."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (what manifest.json holds)."""
        return to_plain(self)

    def replace(self, **changes: Any) -> Manifest:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @property
    def condition_names(self) -> list[str]:
        """The conditions in their declared order."""
        return [c.name for c in self.conditions]


Typed = TypeVar("Typed")


def to_plain(value: Any) -> Any:
    """A dataclass of this module as JSON data (fields left at None are kept: the schema names them all)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _writer(type(value))(value)
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    return value


def from_plain(cls: type[Typed], data: Any, where: str = "") -> Typed:
    """Build `cls` from JSON data, checking every field's type; raises SchemaError naming the field."""
    result: Typed = _reader(cls)(data, where)
    return result


def upgrade_record(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 record in version-2 form (every v1 field exists in v2; the ones v1 never wrote keep their
    defaults)."""
    return data if "schema_version" in data else {**data, "schema_version": 1}


def upgrade_manifest(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 manifest (`format: 1`) in version-2 form."""
    if "schema_version" in data:
        return data
    upgraded = {key: value for key, value in data.items() if key != "format"}
    upgraded["schema_version"] = 1
    upgraded.setdefault("run_id", "")
    return upgraded


# --- checking JSON data against the dataclasses, and writing it ------------------------------------------------
# Readers and writers are built once per dataclass; they touch `__dict__` directly because a run reads and writes
# one record per cell (100,000 records read in about a second).

Reader = Callable[[Any, str], Any]
_READERS: dict[Any, Reader] = {}
_WRITERS: dict[Any, Callable[[Any], dict[str, Any]]] = {}
_SCALAR_NAMES = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}


def _reader(annotation: Any) -> Reader:
    if annotation not in _READERS:
        _READERS[annotation] = _build_reader(annotation)
    return _READERS[annotation]


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} ({text[:40] + '...' if len(text) > 40 else text})"


def _build_reader(annotation: Any) -> Reader:
    if dataclasses.is_dataclass(annotation):
        return _dataclass_reader(annotation)
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        inner = [o for o in typing.get_args(annotation) if o is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported union {annotation}")
        read_inner = _reader(inner[0])

        def read_optional(value: Any, where: str) -> Any:
            return None if value is None else read_inner(value, where)
        return read_optional
    if origin is list:
        read_item = _reader(typing.get_args(annotation)[0])

        def read_list(value: Any, where: str) -> Any:
            if type(value) is not list:
                raise SchemaError(f"{where} must be a list, not {_describe(value)}")
            return [read_item(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return read_list
    if origin is dict:
        def read_dict(value: Any, where: str) -> Any:
            if type(value) is not dict:
                raise SchemaError(f"{where} must be an object, not {_describe(value)}")
            return value
        return read_dict
    if annotation is Any:
        return lambda value, where: value
    if annotation not in _SCALAR_NAMES:
        raise TypeError(f"unsupported field type {annotation}")

    def read_scalar(value: Any, where: str) -> Any:
        if type(value) is annotation:
            return value
        if annotation is float and type(value) is int:
            return float(value)
        raise SchemaError(f"{where} must be {_SCALAR_NAMES[annotation]}, not {_describe(value)}")
    return read_scalar


def _plain_type(annotation: Any) -> tuple[type | None, bool]:
    """(the scalar type, nullable) of a scalar or optional-scalar annotation; (None, _) for anything else."""
    if annotation in _SCALAR_NAMES:
        return annotation, False
    if typing.get_origin(annotation) in (Union, types.UnionType):
        inner = [o for o in typing.get_args(annotation) if o is not type(None)]
        if len(inner) == 1 and inner[0] in _SCALAR_NAMES:
            return inner[0], True
    return None, False


def _dataclass_reader(cls: Any) -> Reader:
    hints = typing.get_type_hints(cls)
    defaults: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    required: list[str] = []
    scalars: dict[str, tuple[type, bool]] = {}
    nested: dict[str, Reader] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            factories[f.name] = f.default_factory
        else:
            required.append(f.name)
        scalar, nullable = _plain_type(hints[f.name])
        if scalar is not None:
            scalars[f.name] = (scalar, nullable)
        else:
            nested[f.name] = _reader(hints[f.name])
    known = frozenset(scalars) | frozenset(nested)

    def read_dataclass(value: Any, where: str) -> Any:
        if type(value) is not dict:
            raise SchemaError(f"{where or cls.__name__} must be an object, not {_describe(value)}")
        prefix = f"{where}." if where else ""
        if not known.issuperset(value):
            unknown = sorted(key for key in value if key not in known)[0]
            raise SchemaError(f"{prefix}{unknown} is not a field of {cls.__name__}")
        for name in required:
            if name not in value:
                raise SchemaError(f"{prefix}{name} is missing")
        state = {**defaults, **{name: factory() for name, factory in factories.items() if name not in value}}
        for name, item in value.items():
            check = scalars.get(name)
            if check is None:
                state[name] = nested[name](item, prefix + name)
            elif type(item) is check[0] or (item is None and check[1]):
                state[name] = item
            elif check[0] is float and type(item) is int:
                state[name] = float(item)
            else:
                allowed = _SCALAR_NAMES[check[0]] + (" or null" if check[1] else "")
                raise SchemaError(f"{prefix}{name} must be {allowed}, not {_describe(item)}")
        built = object.__new__(cls)
        built.__dict__.update(state)
        return built
    return read_dataclass


def _writer(cls: Any) -> Callable[[Any], dict[str, Any]]:
    if cls not in _WRITERS:
        hints = typing.get_type_hints(cls)
        structured = [f.name for f in dataclasses.fields(cls) if _plain_type(hints[f.name])[0] is None
                      and typing.get_origin(hints[f.name]) is not dict and hints[f.name] is not Any]

        def write(value: Any) -> dict[str, Any]:
            data = dict(value.__dict__)
            for name in structured:
                if data[name] is not None:
                    data[name] = to_plain(data[name])
            return data
        _WRITERS[cls] = write
    return _WRITERS[cls]


# --- JSON Schema --------------------------------------------------------------------------------------------

def json_schema(cls: Any) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one of this module's dataclasses."""
    definitions: dict[str, Any] = {}
    _schema_of(cls, definitions)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$id": f"https://emoprompt.dev/schemas/{cls.__name__.lower()}-v{SCHEMA_VERSION}.json",
              "title": f"emoprompt {cls.__name__} (schema version {SCHEMA_VERSION})",
              "description": " ".join((cls.__doc__ or "").split()),
              **definitions.pop(cls.__name__)}
    if definitions:
        schema["$defs"] = dict(sorted(definitions.items()))
    return schema


def _schema_of(annotation: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        name = annotation.__name__
        if name not in definitions:
            definitions[name] = {}
            hints = typing.get_type_hints(annotation)
            fields = dataclasses.fields(annotation)
            definitions[name] = {
                "type": "object",
                "properties": {f.name: _schema_of(hints[f.name], definitions) for f in fields},
                "required": [f.name for f in fields if f.default is dataclasses.MISSING
                             and f.default_factory is dataclasses.MISSING],
                "additionalProperties": False,
            }
        return {"$ref": f"#/$defs/{name}"}
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        inner = [o for o in typing.get_args(annotation) if o is not type(None)]
        return {"anyOf": [_schema_of(inner[0], definitions), {"type": "null"}]}
    if origin is list:
        return {"type": "array", "items": _schema_of(typing.get_args(annotation)[0], definitions)}
    if origin is dict:
        return {"type": "object"}
    if annotation is Any:
        return {}
    return {"type": {str: "string", int: "integer", float: "number", bool: "boolean"}[annotation]}


SCHEMA_FILES = {"record.schema.json": Record, "manifest.schema.json": Manifest}


def write_schema_files(folder: Path = SCHEMA_DIR) -> list[Path]:
    """Write the JSON Schema files (run it after changing a dataclass here)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, cls in SCHEMA_FILES.items():
        path = folder / name
        path.write_text(json.dumps(json_schema(cls), indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written

