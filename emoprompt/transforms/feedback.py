"""Iterative affective feedback (HEART-style): answer, verify, give emotionally charged feedback, answer again.

HEART's phrase list, schedule, iteration count and template are unpublished (REFERENCE.md §3.3): the loop is
configurable and its default phrases (stimuli/feedback/heart.toml) are emoprompt's own, never the paper's.
"""

from __future__ import annotations

import random
import tomllib
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Any

from emoprompt.chat import Completion, Generate, GenerateConfig, LoopTrace, Message, Query
from emoprompt.errors import UsageError, unknown_name
from emoprompt.package_data import shipped_dir
from emoprompt.transforms.base import Transform, dataclass_identity

SCHEDULES = ("alternate", "cycle", "random")
"""alternate: critical and encouraging tones in turn (HEART's description); cycle: the emotions in a fixed
order; random: seeded random phrases; plus fixed:<emotion> for one emotion throughout."""
VERIFIERS = ("oracle", "self", "none")
"""oracle: the task's scorer against the gold answer (HEART's S1, an upper bound); self: the model judges its own
answer without the gold; none: a fixed number of rounds, then a vote or a synthesis (HEART's S2). Settings may also
say `auto`: the oracle where a gold answer exists (every experiment; `affect(check=...)`), else self."""
AGGREGATES = ("vote", "synthesis")
EKMAN_ORDER = ("anger", "disgust", "fear", "sadness", "happiness", "surprise")
SELF_CHECK = "Is your answer above correct? Reply with yes or no only."
SYNTHESIS = "Considering all of your answers above, give your single final answer only."

Phrase = tuple[str, str, str]  # (emotion, valence, text)


@cache
def feedback_bank() -> dict[str, tuple[Phrase, ...]]:
    """The shipped phrase bank by emotion (emoprompt's own phrases)."""
    data = tomllib.loads((shipped_dir("stimuli") / "feedback" / "heart.toml").read_text(encoding="utf-8"))
    return {entry["emotion"]: tuple((entry["emotion"], entry["valence"], text) for text in entry["texts"])
            for entry in data["phrase"]}


def phrases_for(kind: str) -> tuple[Phrase, ...]:
    """The phrases of a loop: `emotional` (the six Ekman emotions), `neutral` or `neutral-length`."""
    bank = feedback_bank()
    if kind == "emotional":
        return tuple(p for emotion in EKMAN_ORDER for p in bank[emotion])
    if kind not in bank:
        raise unknown_name("feedback phrase set", kind, ["emotional", *bank])
    return bank[kind]


@dataclass(frozen=True)
class FeedbackLoop(Transform):
    """Up to `max_iters` attempts; after a wrong one (by the verifier), a feedback turn, then another attempt."""

    name: str
    phrases: tuple[Phrase, ...]
    schedule: str = "alternate"
    max_iters: int = 4
    verifier: str = "oracle"
    aggregate: str = "vote"
    retry: str = "Please try again. Give only the answer."
    seed: int = 0

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES and not self.schedule.startswith("fixed:"):
            raise unknown_name("feedback schedule", self.schedule, [*SCHEDULES, "fixed:<emotion>"])
        if self.schedule.startswith("fixed:") and not any(p[0] == self.schedule[6:] for p in self.phrases):
            raise unknown_name("emotion", self.schedule[6:], sorted({p[0] for p in self.phrases}))
        if self.verifier not in VERIFIERS:
            raise unknown_name("verifier", self.verifier, VERIFIERS)
        if self.aggregate not in AGGREGATES:
            raise unknown_name("aggregate", self.aggregate, AGGREGATES)
        if self.max_iters < 1:
            raise UsageError(f"max_iters must be 1 or more, not {self.max_iters}")
        if not self.phrases:
            raise UsageError("a feedback loop needs at least one phrase")

    @property
    def label(self) -> str:
        return self.name

    def identity(self) -> dict[str, Any]:
        return dataclass_identity(self)

    def feedback(self, iteration: int, key: str) -> Phrase:
        """The phrase given after the `iteration`-th wrong attempt (1-based), for an item identified by `key`."""
        rng = random.Random(f"{self.seed}:{key}:{iteration}")
        if self.schedule == "random":
            return rng.choice(self.phrases)
        if self.schedule.startswith("fixed:"):
            pool = [p for p in self.phrases if p[0] == self.schedule[6:]]
            return pool[(iteration - 1) % len(pool)]
        emotions = list(dict.fromkeys(p[0] for p in self.phrases))
        if self.schedule == "alternate":
            negative = [e for e in emotions if self._valence(e) == "negative"]
            positive = [e for e in emotions if self._valence(e) == "positive"]
            if negative and positive:
                side = negative if iteration % 2 == 1 else positive
                emotions = [side[((iteration - 1) // 2) % len(side)]]
        emotion = emotions[(iteration - 1) % len(emotions)]
        return rng.choice([p for p in self.phrases if p[0] == emotion])

    def _valence(self, emotion: str) -> str:
        return next(p[1] for p in self.phrases if p[0] == emotion)

    async def __call__(self, query: Query, config: GenerateConfig, generate: Generate) -> Completion:
        if self.verifier == "oracle" and query.oracle is None:
            raise ValueError("the oracle verifier needs the gold answer (query.oracle)")
        current = query
        completion = await generate(current, config)
        attempts, emotions, verdicts = [completion.text], [], []
        for iteration in range(1, self.max_iters):
            if self.verifier != "none":
                correct = await self._verify(current, completion, config, generate)
                verdicts.append(correct)
                if correct:
                    break
            emotion, _, text = self.feedback(iteration, query.input)
            current = current.replace(turns=(*current.turns, Message("assistant", completion.text),
                                             Message("user", f"{text} {self.retry}")))
            completion = await generate(current, config)
            attempts.append(completion.text)
            emotions.append(emotion)
        final = completion
        if self.verifier == "none" and len(attempts) > 1:
            final = await self._combine(current, completion, attempts, config, generate)
        return final.replace(loop=LoopTrace(tuple(attempts), tuple(emotions), tuple(verdicts), self.verifier))

    async def _verify(self, current: Query, completion: Completion, config: GenerateConfig, generate: Generate
                      ) -> bool:
        if self.verifier == "oracle":
            assert current.oracle is not None
            return current.oracle(completion.text)
        judged = await generate(current.replace(turns=(*current.turns, Message("assistant", completion.text),
                                                       Message("user", SELF_CHECK))), config)
        return judged.text.strip().lower().lstrip("\"'*").startswith("yes")

    async def _combine(self, current: Query, last: Completion, attempts: list[str], config: GenerateConfig,
                       generate: Generate) -> Completion:
        if self.aggregate == "synthesis":
            return await generate(current.replace(turns=(*current.turns, Message("assistant", last.text),
                                                         Message("user", SYNTHESIS))), config)
        from emoprompt.suites.scorers import extract_answer

        answers = [(extract_answer(text) or "").lower() for text in attempts]
        counts = Counter(answers)
        best = max(counts.values())
        winner = max(i for i, a in enumerate(answers) if counts[a] == best)  # ties: the latest attempt
        return Completion(attempts[winner], last.finish_reason, 0, 0, 0.0, None, last.cached)


@dataclass(frozen=True)
class HeartSettings:
    """Experiment-level settings of the `heart` conditions."""

    verifier: str = "auto"
    max_iters: int = 4
    schedule: str = "alternate"
    aggregate: str = "vote"


HEART_CONDITIONS = {"heart": "emotional", "heart-neutral": "neutral", "heart-neutral-length": "neutral-length"}


def heart_condition(name: str, settings: HeartSettings, seed: int, has_oracle: bool = True) -> FeedbackLoop:
    """`heart` (emotional feedback), `heart-neutral` or `heart-neutral-length` with the experiment's settings;
    an `auto` verifier is the oracle when a gold answer exists (`has_oracle`), else the model itself."""
    schedule = settings.schedule if name == "heart" else "cycle"
    verifier = settings.verifier
    if verifier == "auto":
        verifier = "oracle" if has_oracle else "self"
    elif verifier == "oracle" and not has_oracle:
        raise UsageError("the oracle verifier needs a gold answer; pass check=... or choose verifier='self'")
    return FeedbackLoop(name, phrases_for(HEART_CONDITIONS[name]), schedule, settings.max_iters, verifier,
                        settings.aggregate, seed=seed)
