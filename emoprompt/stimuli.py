"""Stimuli as data: load, validate and look up the files in `stimuli/` (and the user's own)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError, unknown_name
from emoprompt.package_data import shipped_dir

FAMILIES = ("emotionprompt", "negativeprompt", "placebo", "control", "user")
_STIMULUS_KEYS = {"id", "text", "family", "theories", "source", "variants", "notes", "code_pnum",
                  "mapping_verified"}


@dataclass(frozen=True)
class Stimulus:
    """A stimulus sentence with its provenance. `variant` names the published form in use, if not default."""

    id: str
    text: str
    family: str
    theories: frozenset[str] = frozenset()
    source: str = ""
    variants: tuple[tuple[str, str], ...] = ()
    notes: str = ""
    code_pnum: int | None = None
    mapping_verified: bool = True
    variant: str | None = None

    @property
    def label(self) -> str:
        """The condition label: the id, with `:variant` for a non-default form."""
        return f"{self.id}:{self.variant}" if self.variant else self.id

    def with_variant(self, variant: str) -> Stimulus:
        """The same stimulus in one of its other published forms."""
        forms = dict(self.variants)
        if variant not in forms:
            raise unknown_name(f"variant of {self.id}", variant, forms)
        return Stimulus(**{**self.__dict__, "text": forms[variant], "variant": variant})


@dataclass(frozen=True)
class StimulusLibrary:
    """All stimuli known to a run, by id."""

    stimuli: dict[str, Stimulus] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Stimulus]:
        return iter(self.stimuli.values())

    def __len__(self) -> int:
        return len(self.stimuli)

    def get(self, name: str) -> Stimulus:
        """Look up `ID` or `ID:variant`; unknown names get a 'did you mean'."""
        stimulus_id, _, variant = name.partition(":")
        stimulus = self.stimuli.get(stimulus_id) or self.stimuli.get(stimulus_id.upper())
        if stimulus is None:
            raise unknown_name("stimulus", name, self.stimuli,
                               hint="Run `emoprompt stimuli list` to see them all.")
        return stimulus.with_variant(variant) if variant else stimulus

    def family(self, family: str) -> list[Stimulus]:
        """Every stimulus of a family, in id order."""
        return sorted((s for s in self if s.family == family), key=lambda s: s.id)

    def merged(self, others: Iterable[Stimulus]) -> StimulusLibrary:
        """A library with `others` added; an id may not be defined twice."""
        combined = dict(self.stimuli)
        for stimulus in others:
            if stimulus.id in combined:
                raise UsageError(f"stimulus id {stimulus.id!r} is defined twice; rename one of them")
            combined[stimulus.id] = stimulus
        return StimulusLibrary(combined)


def parse_stimulus_file(path: Path) -> list[Stimulus]:
    """Read one stimulus file (TOML: top-level `family`/`source`, then `[[stimulus]]` entries)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text; save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: malformed TOML ({exc}); fix the file") from None
    entries = data.get("stimulus", [])
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{path}: no [[stimulus]] entries; add at least one")
    return [_stimulus_from_entry(path, entry, data) for entry in entries]


def _stimulus_from_entry(path: Path, entry: dict[str, Any], defaults: dict[str, Any]) -> Stimulus:
    unknown = set(entry) - _STIMULUS_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise unknown_name(f"key in {path.name} stimulus entry", key, _STIMULUS_KEYS)
    for required in ("id", "text"):
        if not isinstance(entry.get(required), str) or not entry[required].strip():
            raise UsageError(f"{path}: a stimulus entry lacks a text `{required}`; add it")
    family = entry.get("family", defaults.get("family", "user"))
    if family not in FAMILIES:
        raise unknown_name("stimulus family", family, FAMILIES)
    return Stimulus(
        id=entry["id"],
        text=entry["text"],
        family=family,
        theories=frozenset(entry.get("theories", [])),
        source=entry.get("source", defaults.get("source", "")),
        variants=tuple(sorted(entry.get("variants", {}).items())),
        notes=entry.get("notes", ""),
        code_pnum=entry.get("code_pnum"),
        mapping_verified=entry.get("mapping_verified", True),
    )


@cache
def builtin_library() -> StimulusLibrary:
    """The stimuli shipped with emoprompt."""
    library = StimulusLibrary()
    for path in sorted(shipped_dir("stimuli").glob("*.toml")):
        library = library.merged(parse_stimulus_file(path))
    return library


def load_library(extra_files: Iterable[Path] = ()) -> StimulusLibrary:
    """The shipped stimuli plus the user's own files (family `user` unless the file says otherwise)."""
    library = builtin_library()
    for path in extra_files:
        if not Path(path).is_file():
            raise UsageError(f"stimulus file {path} not found; check the path")
        library = library.merged(parse_stimulus_file(Path(path)))
    return library
