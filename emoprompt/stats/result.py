"""The analysis result as types: what `analyze` returns, serialised by `to_dict` to the shape of analysis.json.

A contrast is one `Contrast` wherever it appears (a per-task row, the pooled row's items, the terminal summary's
numbers); a multiplicity family adds to its rows what depends on the family (`FamilyFacts`). Fields a contrast
does not have (McNemar's counts for paired t, the robustness checks for McNemar) are None and left out of the
JSON, so analysis.json keeps its shape.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from emoprompt.schema import AnalysisPlan
from emoprompt.stats.spec import json_safe


def to_plain(value: Any) -> Any:
    """A result as JSON data: dataclasses as objects without their None fields, NaN as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None or f.metadata.get("keep_none")}
    if isinstance(value, dict):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    return json_safe(value)


def kept(default: Any = None) -> Any:
    """A field written to analysis.json even when None (readers look for it)."""
    return field(default=default, metadata={"keep_none": True})


@dataclass
class Contrast:
    """One treatment-vs-control contrast on paired items (`stats.contrast.contrast`)."""

    n_items: int
    K: int
    acc_ctrl: float
    acc_treat: float
    diff: float
    ci_low: float
    ci_high: float
    se: float
    p: float
    method: str
    p_exact: float | None
    corr_items: float
    improved: int
    worsened: int
    var_d: float
    binary: bool
    relative: dict[str, Any]
    smallest_p: float
    cohens_h: float
    p_tost: float | None = kept()
    equivalent: bool = False
    equivalence_ci: tuple[float, float] | None = None
    n10: int | None = None
    n01: int | None = None
    discordance: float | None = None
    acc_ctrl_ci: tuple[float, float] | None = None
    acc_treat_ci: tuple[float, float] | None = None
    odds_ratio: dict[str, Any] | None = None
    p_sign_flip: float | None = None
    bca_ci: tuple[float, float] | None = None
    p_wilcoxon: float | None = None
    # What the contrast's multiplicity family adds (`finish_family`):
    p_holm: float | None = None
    family_size: int | None = None
    mde_80: float | None = None
    underpowered: bool | None = None
    cannot_reach_significance: bool | None = None

    def brief(self) -> Brief:
        """What the terminal summary shows of it."""
        return Brief(self.diff, self.ci_low, self.ci_high, self.p, self.method, self.n_items)


@dataclass
class Brief:
    """A contrast as the terminal summary shows it."""

    diff: float
    ci_low: float
    ci_high: float
    p: float
    method: str
    n_items: int


@dataclass
class TaskContrast(Contrast):
    """A condition against the control within one task (the exploratory per-task family)."""

    task: str = ""
    condition: str = ""
    control: str = ""
    family: str = ""
    p_bh: float | None = None
    significant_holm: bool | None = None


@dataclass
class FixedEffect:
    """The pooled contrast "on these tasks": over every item of every task."""

    diff: float
    ci_low: float
    ci_high: float
    se: float
    method: str
    n_items: int
    p_value: float
    n_tasks: int


@dataclass
class PooledEffect:
    """A condition against a comparator over all tasks: on these tasks (fixed) and on a new task (random)."""

    condition: str
    control: str
    family: str
    n_items: int
    n_tasks: int
    acc_ctrl: float
    acc_treat: float
    fixed: FixedEffect
    random: dict[str, Any] | None = kept()
    gee: dict[str, Any] | None = kept()
    relative: dict[str, Any] | None = kept()
    var_d: float = float("nan")
    smallest_p: float = 0.0
    p: float = float("nan")
    equivalent: bool = False
    p_tost: float | None = kept()
    n10: int | None = kept()
    n01: int | None = kept()
    p_holm_fixed: float | None = None
    family_size: int | None = None
    mde_80: float | None = None
    underpowered: bool | None = None
    cannot_reach_significance: bool | None = None
    p_holm_random: float | None = None
    confirmed: bool | None = None
    items_only: FixedEffect | None = None


@dataclass
class Primary:
    """Level 1: per item, the mean over all stimuli against the control (one test)."""

    stimuli: list[str]
    control: str
    n_items: int
    mean_treatment: float
    mean_control: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str
    n_tasks: int
    mde_80: float
    n10: int | None = kept()
    n01: int | None = kept()
    p_exact: float | None = kept()
    p_holm: float | None = None
    rejects: bool | None = None
    items_only: dict[str, Any] | None = None


@dataclass
class Confound:
    """A condition against the control on what is not the score: parse failures or output length."""

    measure: str
    condition: str
    control: str
    diff: float
    ci_low: float
    ci_high: float
    p: float
    method: str
    n_items: int
    control_level: float
    level: float
    p_holm: float | None = None
    significant: bool | None = None


@dataclass
class SummaryRow:
    """One condition's contrasts as the terminal summary prints them."""

    condition: str
    vs_baseline: Brief | None = kept()
    vs_control: Brief | None = kept()


@dataclass
class ModelAnalysis:
    """Everything the report says about one model."""

    conditions: list[dict[str, Any]]
    summary: list[SummaryRow]
    confounds: list[Confound]
    pooled: list[PooledEffect]
    per_task: list[TaskContrast]
    tasks_compared: list[str]
    heatmap: dict[str, dict[str, float]]
    aggregate: list[dict[str, Any]]
    primary: Primary | None = kept()
    generic: PooledEffect | None = kept()
    usage: list[dict[str, Any]] = field(default_factory=list)
    wording: dict[str, Any] | None = None
    gate_open: bool | None = None
    selection: dict[str, Any] | None = None
    iterations: dict[str, Any] | None = None
    per_question: dict[str, Any] | None = None
    """With repeats: each stimulus's per-question swings against repeat noise, and strict correctness
    (`stats.per_question`)."""


@dataclass
class DataFacts:
    """What the analysed records were."""

    records: int
    errors: int
    models: list[str]
    K: int
    wordings: int
    repeats_declared: int
    binary_scores: bool
    scale: dict[str, Any]
    confidence: float
    tasks: list[str]
    error_kinds: dict[str, int]


@dataclass
class Analysis:
    """The whole analysis of a run (or of imported records): the plan it followed, the data, warnings, models."""

    plan: AnalysisPlan
    conditions: list[str]
    treatments: list[str]
    repeats: int
    data: DataFacts
    warnings: list[str]
    models: dict[str, ModelAnalysis]

    def to_dict(self) -> dict[str, Any]:
        """analysis.json's form (before the report adds its headline and methods)."""
        spec = {**dataclasses.asdict(self.plan), "conditions": self.conditions, "treatments": self.treatments,
                "repeats": self.repeats}
        return {"spec": to_plain(spec), "data": to_plain(self.data), "warnings": list(self.warnings),
                "models": {name: to_plain(result) for name, result in self.models.items()}}
