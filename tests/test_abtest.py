"""A/B mode: assignment, recording from threads and tasks, outcomes, failures that never break calls, report."""

import asyncio
import json
import logging
import signal
import threading
from collections import Counter

import pytest

import emoprompt
from emoprompt.report.runs import report_run


def read(folder, name="records.jsonl"):
    return [json.loads(line) for line in (folder / name).read_text().splitlines()]


def test_balanced_assignment_threads_and_outcomes(tmp_path):
    test = emoprompt.ab({"baseline": [], "EP02": "EP02"}, tmp_path / "ab", seed=3)

    @test
    def answer(prompt):
        return "yes" if "career" in prompt else "no"

    ids = []
    lock = threading.Lock()

    def worker():
        for i in range(50):
            out = answer(f"q{i}")
            with lock:
                ids.append((emoprompt.current_call_id(), out))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for call_id, out in ids:
        emoprompt.record_outcome(call_id, 1.0 if out == "yes" else 0.0)
    test.close()
    records = read(tmp_path / "ab")
    assert len(records) == 200 and len({r["call_id"] for r in records}) == 200
    assert Counter(r["condition"] for r in records) == {"baseline": 100, "EP02": 100}
    assert all("input_hash" in r and "latency_s" in r and r["response"] in ("yes", "no") for r in records)
    assert len(read(tmp_path / "ab", "outcomes.jsonl")) == 200
    analysis = json.loads(report_run(tmp_path / "ab")["analysis"].read_text())
    ep02 = analysis["models"]["app"]["pooled"][0]
    assert ep02["fixed"]["diff"] == 1.0 and analysis["data"]["unpaired"]
    assert "Anytime-valid status: stop: EP02 better" in analysis["headline"][0]
    assert "unpaired" in analysis["headline"][1]


def test_weighted_sticky_and_async(tmp_path):
    weighted = emoprompt.ab(["baseline", "EP02"], tmp_path / "w", assignment="weighted", weights=[0.9, 0.1])
    assert Counter(weighted.assign() for _ in range(1000))["baseline"] > 800
    sticky = emoprompt.ab({"baseline": [], "NP01": "NP01"}, tmp_path / "s", assignment="sticky", user_key="user",
                          scorer=lambda text: float(text == "ok"))

    @sticky
    async def reply(messages, user):
        await asyncio.sleep(0)
        return "ok"

    async def traffic():
        return await asyncio.gather(*(reply([{"role": "user", "content": "hi"}], user=f"u{i % 5}")
                                      for i in range(40)))

    asyncio.run(traffic())
    sticky.close()
    records = read(tmp_path / "s")
    assert len(records) == 40 and all(r["score"] == 1.0 for r in records)
    weighted.close()


def test_sticky_assignment_keeps_each_user_in_one_condition_and_spreads_users(tmp_path):
    with emoprompt.ab({"baseline": [], "EP02": "EP02"}, tmp_path / "s", assignment="sticky", user_key="user",
                      seed=7) as test:
        @test
        def reply(prompt, user):
            return "career" in prompt

        seen = {}
        for _ in range(3):
            for i in range(60):
                sent_stimulus = reply("Help me.", user=f"user-{i}")
                seen.setdefault(f"user-{i}", set()).add(sent_stimulus)
    assert all(len(values) == 1 for values in seen.values())  # a user always gets the same condition
    records = read(tmp_path / "s")
    assert len(records) == 180 and all(r["response"] is None and r["error"] is None for r in records)
    conditions = Counter(test.assign(f"user-{i}") for i in range(60))
    assert set(conditions) == {"baseline", "EP02"} and min(conditions.values()) >= 15  # users spread over both
    assert [test.assign(f"user-{i}") for i in range(60)] == [test.assign(f"user-{i}") for i in range(60)]
    other_seed = emoprompt.ab({"baseline": [], "EP02": "EP02"}, tmp_path / "o", assignment="sticky",
                              user_key="user", seed=8)
    assert [other_seed.assign(f"user-{i}") for i in range(60)] != [test.assign(f"user-{i}") for i in range(60)]
    other_seed.close()


def test_a_failing_recorder_warns_once_and_calls_proceed(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with caplog.at_level(logging.WARNING, logger="emoprompt"):
        test = emoprompt.ab(["baseline", "EP02"], blocker / "ab")

        @test
        def answer(prompt):
            return "fine"

        assert [answer("q") for _ in range(5)] == ["fine"] * 5
        test.close()
    warnings = [r for r in caplog.records if "emoprompt A/B" in r.getMessage()]
    assert len(warnings) == 1, [w.getMessage() for w in warnings]


def test_errors_in_the_users_call_are_recorded_and_raised(tmp_path):
    with emoprompt.ab(["baseline", "EP02"], tmp_path / "e") as test:
        @test
        def broken(prompt):
            raise ValueError("model down")

        with pytest.raises(ValueError, match="model down"):
            broken("q")
    assert read(tmp_path / "e")[0]["error"]["kind"] == "ValueError"


def test_bad_configuration():
    with pytest.raises(emoprompt.UsageError, match="at least two conditions"):
        emoprompt.ab(["baseline"], "x")
    with pytest.raises(emoprompt.UsageError, match="sticky assignment needs user_key"):
        emoprompt.ab(["baseline", "EP02"], "x", assignment="sticky")


SERVICE = """
import os, signal, sys, time
import emoprompt

test = emoprompt.ab(["baseline", "EP02"], sys.argv[1], seed=1)

@test
def answer(prompt):
    return "yes"

for number in range(int(sys.argv[2])):
    answer(f"question {number}")
    emoprompt.record_outcome(emoprompt.current_call_id(), 1.0)
how = sys.argv[3]
if how == "_exit":
    os._exit(0)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("how", ["SIGTERM", "_exit", "SIGKILL"])
def test_ab_records_survive_the_ways_a_service_stops(tmp_path, how):
    import subprocess
    import sys

    from tests.processes import subprocess_env

    process = subprocess.Popen([sys.executable, "-c", SERVICE, str(tmp_path / "ab"), "200", how],
                               env=subprocess_env(), stdout=subprocess.PIPE, text=True)
    if how != "_exit":
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        process.send_signal(getattr(signal, how))
    process.wait(30)
    calls = (tmp_path / "ab" / "records.jsonl").read_text().splitlines()
    outcomes = (tmp_path / "ab" / "outcomes.jsonl").read_text().splitlines()
    assert len(calls) == 200 and len(outcomes) == 200
