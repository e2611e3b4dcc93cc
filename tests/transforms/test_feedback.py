"""HEART-style feedback loops with scripted replies: schedules, verifiers, stopping, composition, records."""

import asyncio

import pytest

from emoprompt.backends.scripted import ScriptedBackend
from emoprompt.chat import Completion, GenerateConfig, Oracle, Query
from emoprompt.errors import UsageError
from emoprompt.runner.experiment import Experiment
from emoprompt.runner.plan import build_plan
from emoprompt.runner.run import run
from emoprompt.runner.store import iter_records
from emoprompt.suites.registry import get_template
from emoprompt.transforms import AttachStimulus, chain
from emoprompt.transforms.feedback import FeedbackLoop, HeartSettings, heart_condition, phrases_for

RENDER = get_template("instruction-induction").render


def drive(loop, replies, check=lambda text: text == "42", query=None):
    """Run a loop on scripted replies; returns (final completion, the chats the model saw)."""
    seen, answers = [], iter(replies)

    async def generate(q, config):
        seen.append(RENDER(q))
        return Completion(next(answers))

    query = query or Query(input="40 2", instruction="Sum the two given numbers.",
                           oracle=Oracle(check) if check else None)
    return asyncio.run(loop(query, GenerateConfig(), generate)), seen


def test_stops_when_the_oracle_says_correct():
    loop = heart_condition("heart", HeartSettings(max_iters=4), seed=0)
    final, seen = drive(loop, ["41", "43", "42", "never asked"])
    assert final.text == "42" and len(seen) == 3
    assert list(final.loop.attempts) == ["41", "43", "42"] and list(final.loop.verdicts) == [False, False, True]
    last = seen[-1]
    assert [m.role for m in last] == ["user", "assistant", "user", "assistant", "user"]
    assert last[1].content == "41" and last[2].content.endswith("Please try again. Give only the answer.")


def test_alternate_schedule_alternates_critical_and_encouraging():
    loop = FeedbackLoop("heart", phrases_for("emotional"), "alternate", max_iters=7)
    valences = [loop._valence(loop.feedback(i, "x")[0]) for i in range(1, 7)]
    assert valences == ["negative", "positive"] * 3
    emotions = [loop.feedback(i, "x")[0] for i in range(1, 7)]
    assert emotions[0] != emotions[2]  # the negative emotions rotate too


def test_cycle_fixed_and_random_schedules():
    cycle = FeedbackLoop("c", phrases_for("emotional"), "cycle", max_iters=7)
    assert [cycle.feedback(i, "x")[0] for i in range(1, 7)] == [
        "anger", "disgust", "fear", "sadness", "happiness", "surprise"]
    fixed = FeedbackLoop("f", phrases_for("emotional"), "fixed:fear")
    assert {fixed.feedback(i, "x")[0] for i in range(1, 5)} == {"fear"}
    seeded = FeedbackLoop("r", phrases_for("emotional"), "random", seed=3)
    assert [seeded.feedback(i, "x") for i in range(1, 5)] == [seeded.feedback(i, "x") for i in range(1, 5)]
    with pytest.raises(UsageError, match="unknown emotion 'joy'"):
        FeedbackLoop("f", phrases_for("emotional"), "fixed:joy")
    with pytest.raises(UsageError, match="unknown verifier"):
        FeedbackLoop("f", phrases_for("emotional"), verifier="judge")


def test_self_verifier_asks_the_model_and_never_sees_the_gold():
    loop = heart_condition("heart", HeartSettings(verifier="self", max_iters=3), seed=0)
    final, seen = drive(loop, ["41", "no", "42", "Yes, it is correct."], check=None)
    assert final.text == "42" and list(final.loop.verdicts) == [False, True]
    assert seen[1][-1].content == "Is your answer above correct? Reply with yes or no only."


def test_no_verifier_runs_every_round_then_votes_or_synthesises():
    voting = heart_condition("heart", HeartSettings(verifier="none", max_iters=3), seed=0)
    final, seen = drive(voting, ["42", "41", "42"], check=None)
    assert len(seen) == 3 and final.text == "42" and list(final.loop.verdicts) == []
    synthesis = heart_condition("heart", HeartSettings(verifier="none", max_iters=2, aggregate="synthesis"), seed=0)
    final, seen = drive(synthesis, ["41", "43", "final: 42"], check=None)
    assert final.text == "final: 42" and "give your single final answer" in seen[-1][-1].content


def test_neutral_controls_have_no_emotion_and_the_length_control_is_longer():
    neutral = heart_condition("heart-neutral", HeartSettings(), 0)
    length = heart_condition("heart-neutral-length", HeartSettings(), 0)
    assert {p[0] for p in neutral.phrases} == {"neutral"}
    mean = lambda loop: sum(len(p[2]) for p in loop.phrases) / len(loop.phrases)  # noqa: E731
    emotional = heart_condition("heart", HeartSettings(), 0)
    assert mean(neutral) < mean(length) and abs(mean(length) - mean(emotional)) / mean(emotional) < 0.25


def test_composes_with_a_stimulus_in_either_order():
    stimulus = AttachStimulus("EP02", "This is very important to my career.")
    loop = heart_condition("heart", HeartSettings(max_iters=2), 0)
    for composed in (chain(stimulus, loop), chain(loop, stimulus)):
        final, seen = drive(composed, ["41", "42"])
        assert final.text == "42" and len(seen) == 2
        assert all("important to my career" in chat[0].content for chat in seen)


def test_run_records_every_turn_and_attempt_scores(tmp_path):
    def solver(chat, config):
        return "7" if len(chat) >= 3 else "0"  # wrong first, right after one round of feedback

    experiment = Experiment(models=("scripted/t",), tasks=("sum",), limit=4,
                            conditions=("baseline", "heart", "heart-neutral", "EP02+heart"))
    plan = build_plan(experiment, backends={"scripted/t": ScriptedBackend(reply=solver)})
    run(plan, tmp_path / "r", progress=False)
    records = {(r.condition, r.sample_id): r for r in iter_records(tmp_path / "r")}
    heart = next(r for (c, _), r in records.items() if c == "heart")
    assert heart.n_calls == len(heart.calls) == len(heart.attempt_scores) == 4
    assert heart.feedback and heart.verifier == "oracle" and heart.verdicts == [False, False, False]
    assert heart.calls[1].messages[-1].role == "user"


def test_iteration_analysis_in_the_report(tmp_path):
    from emoprompt.report.runs import report_run

    def solver(chat, config):
        content = " ".join(m.content for m in chat)
        if "frustrating" in content or "annoyed" in content or "patience" in content or "distasteful" in content:
            return "x"  # critical feedback does not help this scripted model
        words = next(line for line in chat[0].content.splitlines() if line.startswith("Input:")).split()[1:]
        return str(sum(map(int, words))) if len(chat) >= 5 else "0"

    experiment = Experiment(models=("scripted/t",), tasks=("sum",), limit=6,
                            conditions=("baseline", "heart", "heart-neutral"))
    run(build_plan(experiment, backends={"scripted/t": ScriptedBackend(reply=solver)}), tmp_path / "r",
        progress=False)
    analysis = report_run(tmp_path / "r")["analysis"].read_text()
    import json

    iterations = json.loads(analysis)["models"]["scripted/t"]["iterations"]
    curves = {c["condition"]: c["accuracy_at"] for c in iterations["curves"]}
    assert curves["heart-neutral"] == [0.0, 0.0, 1.0, 1.0] and curves["heart"][0] == 0.0
    assert {(c["condition"], c["control"]) for c in iterations["contrasts"]} >= {("heart", "heart-neutral"),
                                                                                ("heart", "baseline")}
    assert "ORACLE UPPER BOUND" in (tmp_path / "r" / "report.md").read_text()
