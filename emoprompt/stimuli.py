"""Stimuli as data: load, validate and look up the files in `stimuli/` (and the user's own)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError, unknown_name
from emoprompt.mapping_files import check_keys, expect, read_mapping
from emoprompt.package_data import shipped_dir

FAMILIES = ("emotionprompt", "negativeprompt", "anand", "tone", "threat", "tip", "persona", "placebo", "control",
            "user")
STATUSES = ("verified", "secondary", "unverified")
"""How far a wording is checked (REFERENCE.md's grades): `verified`, read in the study's own code, data or paper;
`secondary`, verbatim in third-party copies that agree, not checked against the primary source; `unverified`, not
found verbatim in any source available: recalled or incomplete, never to be cited as the paper's."""
_STIMULUS_KEYS = {"id", "text", "family", "theories", "source", "variants", "notes", "code_pnum",
                  "mapping_verified", "status"}


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
    status: str = "verified"
    """Whether the wording is verified, secondary or unverified (STATUSES)."""
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
    """Read one stimulus file (`family`/`source` at the top, then `[[stimulus]]` entries) through the one validated
    reader of data files (`read_mapping`: size and depth bounds), every field typed."""
    data = read_mapping(path)
    check_keys(path.name, data, {"family", "source", "status", "stimulus"})
    entries = data.get("stimulus", [])
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{path}: no [[stimulus]] entries; add at least one")
    defaults = {"family": expect(path.name, "family", data.get("family", "user"), str),
                "source": expect(path.name, "source", data.get("source", ""), str),
                "status": expect(path.name, "status", data.get("status", "verified"), str)}
    return [_stimulus_from_entry(path, number, entry, defaults) for number, entry in enumerate(entries, start=1)]


def _stimulus_from_entry(path: Path, number: int, entry: Any, defaults: dict[str, str]) -> Stimulus:
    where = f"{path.name} stimulus {number}"
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: an entry is a table of keys, not {type(entry).__name__}; write [[stimulus]]")
    check_keys(where, entry, _STIMULUS_KEYS)
    for required in ("id", "text"):
        if not isinstance(entry.get(required), str) or not entry[required].strip():
            raise UsageError(f"{where}: `{required}` must be non-empty text; add it")
    family = expect(where, "family", entry.get("family", defaults["family"]), str)
    if family not in FAMILIES:
        raise unknown_name("stimulus family", family, FAMILIES)
    theories = expect(where, "theories", entry.get("theories", []), list)
    variants = expect(where, "variants", entry.get("variants", {}), dict)
    code_pnum = entry.get("code_pnum")
    if code_pnum is not None:
        expect(where, "code_pnum", code_pnum, int)
    status = expect(where, "status", entry.get("status", defaults["status"]), str)
    if status not in STATUSES:
        raise unknown_name("stimulus status", status, STATUSES)
    return Stimulus(
        id=entry["id"],
        text=entry["text"],
        family=family,
        theories=frozenset(expect(where, "theories", theory, str) for theory in theories),
        source=expect(where, "source", entry.get("source", defaults["source"]), str),
        variants=tuple(sorted((str(name), expect(where, f"variants.{name}", text, str))
                              for name, text in variants.items())),
        notes=expect(where, "notes", entry.get("notes", ""), str),
        code_pnum=code_pnum,
        mapping_verified=expect(where, "mapping_verified", entry.get("mapping_verified", True), bool),
        status=status,
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
