"""The response cache is keyed by the resolved request: the endpoint wherever it came from, the model, the exact
messages, the generation settings, the repeat and the backend's own identity (code included)."""

import json

import pytest
from click.testing import CliRunner

import emoprompt
from emoprompt.backends.scripted import ScriptedBackend
from emoprompt.cli import cli
from tests.loopback_server import LoopbackServer


@pytest.fixture
def two_servers():
    first = LoopbackServer(reply=lambda messages: "from-A").start()
    second = LoopbackServer(reply=lambda messages: "from-B").start()
    yield first, second
    first.stop()
    second.stop()


def responses(folder):
    return {json.loads(line)["response"] for line in (folder / "records.jsonl").read_text().splitlines()}


@pytest.mark.parametrize("variable", ["OPENAI_API_BASE", "OPENAI_BASE_URL"])
def test_a_server_chosen_through_the_environment_is_part_of_the_key(two_servers, tmp_path, monkeypatch, variable):
    first, second = two_servers
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    arguments = ["run", "--model", "openai/test-model", "--task", "sum", "--limit", "4", "--condition", "baseline",
                 "--condition", "EP02", "--no-progress"]
    monkeypatch.setenv(variable, first.url)
    assert CliRunner().invoke(cli, [*arguments, "--out", str(tmp_path / "a")]).exit_code == 0
    monkeypatch.setenv(variable, second.url)
    result = CliRunner().invoke(cli, [*arguments, "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert first.requests == 8 and second.requests == 8
    assert responses(tmp_path / "a") == {"from-A"} and responses(tmp_path / "b") == {"from-B"}
    monkeypatch.setenv(variable, first.url)
    again = CliRunner().invoke(cli, [*arguments, "--out", str(tmp_path / "c")])
    assert again.exit_code == 0 and first.requests == 8 and responses(tmp_path / "c") == {"from-A"}  # cached


def test_credentials_in_the_endpoint_never_enter_the_identity(two_servers):
    from emoprompt.backends import resolve_backend

    first, _ = two_servers
    with_key = first.url.replace("http://", "http://user:sk-secret-123@")
    identity = resolve_backend("hosted_vllm/m", api_base=with_key + "?api_key=sk-other").identity()
    assert "sk-secret-123" not in json.dumps(identity) and "sk-other" not in json.dumps(identity)



def test_editing_a_scripted_backends_function_serves_fresh_answers(tmp_path):
    experiment = emoprompt.Experiment(models=["scripted/s"], tasks=["sum"], limit=3, conditions=["baseline"])
    namespace: dict = {}
    source = tmp_path / "replies.py"
    source.write_text("def reply(chat, config):\n    return 'old'\n")
    import importlib.util

    def load():
        spec = importlib.util.spec_from_file_location(f"replies_{len(namespace)}", source)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        namespace[len(namespace)] = module
        return module.reply

    first = emoprompt.run(experiment, out=tmp_path / "a", report=False,
                          backends={"scripted/s": ScriptedBackend(reply=load())})
    source.write_text("def reply(chat, config):\n    return 'new'\n")
    second = emoprompt.run(experiment, out=tmp_path / "b", report=False,
                           backends={"scripted/s": ScriptedBackend(reply=load())})
    assert set(first.records["response"]) == {"old"} and set(second.records["response"]) == {"new"}
    assert second.counters.cache_hits == 0


def test_repeats_with_a_seed_draw_with_distinct_derived_seeds(tmp_path):
    seen = []

    def remember(chat, config):
        seen.append(config.seed)
        return "x"

    experiment = emoprompt.Experiment(models=["scripted/s"], tasks=["sum"], limit=1, conditions=["baseline"],
                                      repeats=3, generation=emoprompt.GenerateConfig(temperature=0.7, seed=11))
    emoprompt.run(experiment, out=tmp_path / "r", report=False,
                  backends={"scripted/s": ScriptedBackend(reply=remember)})
    assert sorted(seen)[0] != sorted(seen)[1] and 11 in seen and len(set(seen)) == 3
