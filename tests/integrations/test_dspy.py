"""DSPy programs under emoprompt conditions (scripted replies: the 135M model cannot follow DSPy's format)."""

import json

import pytest

from emoprompt.backends.scripted import ScriptedBackend
from emoprompt.report.runs import report_run

dspy = pytest.importorskip("dspy")

from emoprompt.integrations.dspy import affect_lm, run_program_experiment  # noqa: E402


def dspy_reply(chat, config):
    answer = "42" if any("career" in m.content for m in chat) else "41"
    return f"[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"


def test_every_lm_call_of_a_program_goes_through_the_condition():
    backend = ScriptedBackend(reply=dspy_reply, name="scripted/dspy")
    qa = dspy.ChainOfThought("question -> answer") if False else dspy.Predict("question -> answer")
    with dspy.context(lm=affect_lm(backend, "EP02")):
        assert qa(question="What is 40+2?").answer == "42"
    with dspy.context(lm=affect_lm(backend)):
        assert qa(question="What is 40+2?").answer == "41"
    assert backend.history[0][0][-1].content.endswith("This is very important to my career.")


def test_experiment_over_a_program_with_a_dspy_metric(tmp_path):
    backend = ScriptedBackend(reply=dspy_reply, name="scripted/dspy")
    program = dspy.Predict("question -> answer")
    examples = [dspy.Example(question=f"What is 40+{i}?", answer="42").with_inputs("question") for i in range(12)]

    def metric(example, prediction, trace=None):
        return example.answer == prediction.answer

    run_program_experiment(program, examples, metric, backend, {"baseline": [], "EP02": "EP02"}, tmp_path / "run")
    records = [json.loads(line) for line in (tmp_path / "run" / "records.jsonl").read_text().splitlines()]
    assert len(records) == 24 and {r["condition"] for r in records} == {"baseline", "EP02"}
    analysis = json.loads(report_run(tmp_path / "run")["analysis"].read_text())
    pooled = analysis["models"]["scripted/dspy"]["pooled"][0]
    assert pooled["condition"] == "EP02" and pooled["fixed"]["diff"] == pytest.approx(1.0)


def test_one_engine_per_condition_and_no_thread_left_behind(tmp_path):
    import threading

    backend = ScriptedBackend(reply=dspy_reply, name="scripted/dspy")
    program = dspy.Predict("question -> answer")
    examples = [dspy.Example(question=f"What is 40+{i}?", answer="42").with_inputs("question") for i in range(12)]
    before = {t.ident for t in threading.enumerate()}
    run_program_experiment(program, examples, lambda e, p, trace=None: e.answer == p.answer, backend,
                           {"baseline": [], "EP02": "EP02", "both": "EP02+NP01"}, tmp_path / "run")
    left = [t.name for t in threading.enumerate() if t.ident not in before and t.name.startswith("emoprompt")]
    assert left == []
    records = [json.loads(line) for line in (tmp_path / "run" / "records.jsonl").read_text().splitlines()]
    assert len(records) == 36 and {r["family"] for r in records} == {"baseline", "emotionprompt"}


def test_affect_lm_takes_the_condition_grammar():
    backend = ScriptedBackend(reply=dspy_reply, name="scripted/dspy")
    lm = affect_lm(backend, "EP02@system")
    try:
        with dspy.context(lm=lm):
            dspy.Predict("question -> answer")(question="x")
        assert "important to my career" in backend.history[0][0][0].content
    finally:
        lm.engine.close()


def test_affect_lms_leave_no_thread_once_collected():
    import gc
    import threading

    backend = ScriptedBackend(reply=dspy_reply, name="scripted/dspy")
    for _ in range(20):
        with dspy.context(lm=affect_lm(backend, "EP02")):
            dspy.Predict("question -> answer")(question="x")
    gc.collect()
    assert [t for t in threading.enumerate() if t.name == "emoprompt-dspy"] == []
    with affect_lm(backend, "EP02").engine as engine:
        assert engine.transform is not None
    assert [t for t in threading.enumerate() if t.name == "emoprompt-dspy"] == []


def test_program_experiment_takes_names_and_a_string_folder_and_finishes_its_manifest(tmp_path):
    calls = {"n": 0}

    def sometimes_unreadable(chat, config):
        calls["n"] += 1
        return "no fields at all" if calls["n"] % 4 == 0 else dspy_reply(chat, config)

    backend = ScriptedBackend(reply=sometimes_unreadable, name="scripted/dspy")
    examples = [dspy.Example(question=f"What is 40+{i}?", answer="42").with_inputs("question") for i in range(8)]
    run = run_program_experiment(dspy.Predict("question -> answer"), examples,
                                 lambda e, p, trace=None: e.answer == p.answer, backend, ["baseline", "PL01", "EP02"],
                                 str(tmp_path / "run"))
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["records"] == 24 and manifest["finished"]
    assert manifest["control"] == "PL01" and manifest["analysis"]["baseline"] == "baseline"
    records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    unparsed = [r for r in records if r.get("parsed") is False]
    assert unparsed and all(r.get("error") is None and r["score"] == 0.0 for r in unparsed)
