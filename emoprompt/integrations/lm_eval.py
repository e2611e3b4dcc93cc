"""lm-evaluation-harness under emoprompt conditions: an lm-eval model that applies a condition to every request and
answers with any emoprompt backend.

    python -m emoprompt.integrations.lm_eval --model emoprompt \\
        --model_args model=openai/gpt-4o-mini,condition=EP02 \\
        --tasks gsm8k --apply_chat_template --output_path out/EP02 --log_samples
    emoprompt report --from lm-eval out/baseline out/EP02

The module registers the model `emoprompt` with lm-eval, then runs lm-eval's own command line with the arguments
given (lm-eval has no plugin discovery, so `lm_eval --model emoprompt` alone would not find it); lm-eval's own
models work through it too. `--use_cache PATH` becomes one cache per `--model_args` (lm-eval keys its cache by the
request alone, so a second condition would get the first one's answers). Model arguments:
`model` (an emoprompt model string), `condition` (the condition grammar; default baseline), `api_base`,
`placement`, `separator`, `concurrency`, `timeout`, `max_retries`. Generation tasks only (`generate_until`):
log-likelihood tasks score continuations without a prompt to attach a stimulus to.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from emoprompt.errors import require

LM_EVAL_MODEL = "emoprompt"


def emoprompt_lm_class() -> type:
    """The lm-eval model class (built on first use, so importing this module does not import lm-eval)."""
    require("lm_eval", "lm-eval")
    from lm_eval.api.model import LM

    from emoprompt.backends import BackendOptions, ManagedBackend, resolve_backend
    from emoprompt.chat import Completion, GenerateConfig, Query
    from emoprompt.conditions import parse_condition
    from emoprompt.decorator import call_defaults, query_from_prompt
    from emoprompt.suites.registry import get_template

    raw = get_template("raw")

    class EmopromptLM(LM):
        """An lm-eval model: each request's prompt goes through an emoprompt condition to an emoprompt backend."""

        def __init__(self, model: str, condition: str = "baseline", api_base: str | None = None,
                     placement: str = "after_instruction", separator: str = "space", concurrency: int = 16,
                     timeout: float = 60.0, max_retries: int = 5, **_: Any) -> None:
            super().__init__()
            options = BackendOptions(api_base=api_base, timeout_s=float(timeout), concurrency=int(concurrency))
            self.model_name = model
            self.condition = parse_condition(condition, call_defaults(placement, separator))
            self.backend = ManagedBackend(model, resolve_backend(model, options), int(max_retries))
            self.concurrency = int(concurrency)

        @property
        def tokenizer_name(self) -> str:
            return f"emoprompt-{self.model_name}-{self.condition.name}"

        def chat_template(self, chat_template: bool | str = False) -> str:
            return ""

        def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True
                                ) -> str:
            return json.dumps(chat_history, ensure_ascii=False)

        def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
            raise NotImplementedError("emoprompt's lm-eval model generates text (generate_until tasks); "
                                      "log-likelihood tasks have no prompt to attach a condition to")

        def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
            raise NotImplementedError("emoprompt's lm-eval model generates text (generate_until tasks)")

        def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
            return asyncio.run(self._answer_all([request.args for request in requests]))

        async def _answer_all(self, arguments: list[tuple[str, dict[str, Any]]]) -> list[str]:
            gate = asyncio.Semaphore(self.concurrency)

            async def answer(context: str, settings: dict[str, Any]) -> str:
                async with gate:
                    return await self._answer(context, settings)

            try:
                return list(await asyncio.gather(*(answer(*a) for a in arguments)))
            finally:
                await self.backend.close()

        async def _answer(self, context: str, settings: dict[str, Any]) -> str:
            until = settings.get("until") or []
            config = GenerateConfig(temperature=float(settings.get("temperature", 0.0) or 0.0),
                                    max_tokens=int(settings.get("max_gen_toks", 256)),
                                    stop=tuple([until] if isinstance(until, str) else until))

            async def generate(query: Query, call_config: GenerateConfig) -> Completion:
                return await self.backend.complete(raw.render(query), call_config)

            final = await self.condition.transform(query_from_prompt(_prompt(context)), config, generate)
            return final.text

    return EmopromptLM


def _prompt(context: str) -> Any:
    """A chat-templated request (JSON messages) as messages; any other context as a plain prompt."""
    if context.startswith("[{"):
        try:
            messages = json.loads(context)
        except ValueError:
            return context
        if isinstance(messages, list) and all(isinstance(m, dict) and "role" in m for m in messages):
            return messages
    return context


def register() -> None:
    """Register `--model emoprompt` with lm-eval, beside its own models (which lm-eval loads only while its registry
    is empty, so they are loaded first)."""
    import lm_eval.models  # noqa: F401
    from lm_eval.api.registry import register_model

    register_model(LM_EVAL_MODEL)(emoprompt_lm_class())


def cache_per_model_arguments(argv: list[str]) -> list[str]:
    """`--use_cache PATH` made `PATH_<hash of --model and --model_args>`: lm-eval keys its cache by the request
    alone, so runs of one task under two conditions would otherwise share answers."""
    from emoprompt.identity import stable_hash

    argv = list(argv)

    def value(flag: str) -> str:
        for index, argument in enumerate(argv):
            if argument == flag and index + 1 < len(argv):
                return argv[index + 1]
            if argument.startswith(flag + "="):
                return argument.split("=", 1)[1]
        return ""

    identity = stable_hash({"model": value("--model"), "model_args": value("--model_args")}, 12)
    for index, argument in enumerate(argv):
        if argument == "--use_cache" and index + 1 < len(argv):
            argv[index + 1] = f"{argv[index + 1]}_{identity}"
        elif argument.startswith("--use_cache="):
            argv[index] = f"{argument}_{identity}"
    return argv


def main() -> None:
    """lm-eval's command line, with the `emoprompt` model registered and `--use_cache` kept per model arguments."""
    register()
    from lm_eval.__main__ import cli_evaluate

    sys.argv = ["lm_eval", *cache_per_model_arguments(sys.argv[1:])]
    cli_evaluate()


if __name__ == "__main__":
    main()
