"""`--executor ray`: cells' requests go through Ray Data's LLM processors, and results stream back into the run's
records, cache and resume machinery like any backend's answers.

Requests are gathered into rounds (`emoprompt.backends.rounds`); each round becomes a Ray dataset processed by
the HTTP request processor (openai/ and hosted_vllm/ models: OpenAI-compatible endpoints) or by the vLLM engine
processor (vllm/ models; it needs GPUs in the Ray cluster). Rows come back as Ray finishes them and each answers
its cell at once. Without an address Ray starts on this machine, bound to 127.0.0.1; `--ray-address` (or
RAY_ADDRESS) joins an existing cluster. The identity is the model's own: Ray changes where answers are computed,
never what they are, so answers are shared with local runs through the cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
import time
from typing import Any

from emoprompt.backends.base import Backend, BackendOptions
from emoprompt.backends.context import current_request
from emoprompt.backends.rounds import Outcome, Pending, Rounds
from emoprompt.chat import Chat, Completion, GenerateConfig, chat_to_dicts
from emoprompt.errors import BackendError, RequestError, UsageError, require
from emoprompt.secrets import truncate

ROUND_REQUESTS = 10_000
"""The most requests in one Ray dataset (a larger round is split)."""
_RAY_LOCK = threading.Lock()


class RayDataBackend:
    """A model reached through Ray Data: `inner` is the backend that names the model (its identity, its endpoint)."""

    paced = False

    def __init__(self, inner: Backend, options: BackendOptions) -> None:
        from emoprompt.backends.openai_http import OpenAIHTTPBackend
        from emoprompt.backends.vllm_backend import VLLMBackend

        if not isinstance(inner, OpenAIHTTPBackend | VLLMBackend):
            raise UsageError(f"--executor ray serves openai/, hosted_vllm/ and vllm/ models, not "
                             f"{getattr(inner, 'name', type(inner).__name__)}")
        self.inner = inner
        self._http = inner if isinstance(inner, OpenAIHTTPBackend) else None
        self._vllm = inner if isinstance(inner, VLLMBackend) else None
        self.name = inner.name
        self.address = options.ray_address or os.environ.get("RAY_ADDRESS") or None
        self.workers = max(1, options.ray_workers)
        self.max_retries = options.max_retries
        self.default_concurrency = options.concurrency or ROUND_REQUESTS
        self.stage: str | None = None
        self._rounds = Rounds(self._run_round, ROUND_REQUESTS)
        self._started_ray = False

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def preflight(self) -> None:
        check = getattr(self.inner, "preflight", None)
        if callable(check):
            check()

    async def start(self) -> None:
        require("ray", "ray")
        if self._http is not None:
            await self._http.start()
        self.stage = "starting Ray"
        try:
            self._start_ray()  # on the event loop's thread: Ray installs its signal handlers only there
        finally:
            self.stage = None

    def _start_ray(self) -> None:
        import ray
        import ray.data

        with _RAY_LOCK:
            if not ray.is_initialized():
                logging.getLogger("ray").setLevel(logging.WARNING)
                logging.getLogger("ray.data").setLevel(logging.WARNING)
                settings: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                            "configure_logging": False}
                try:
                    if self.address:
                        ray.init(address=self.address, **settings)
                    else:
                        ray.init(address="local", _node_ip_address="127.0.0.1", **settings)
                except Exception as exc:
                    where = self.address or "on this machine (127.0.0.1)"
                    raise BackendError(f"Ray could not start {where}: {truncate(str(exc))}; check `ray status`, "
                                       "or run without --executor ray") from None
                self._started_ray = True
            ray.data.DataContext.get_current().enable_progress_bars = False
            if self._vllm is not None and not ray.cluster_resources().get("GPU"):
                raise UsageError(f"{self.name} with --executor ray runs vLLM engines on the cluster's GPUs, and "
                                 "this Ray cluster has none; run it without --executor ray, or serve it and use "
                                 "hosted_vllm/")

    async def complete(self, chat: Chat, config: GenerateConfig) -> Completion:
        payload = self._payload(chat, config)
        tag = current_request.get()
        custom_id = tag.custom_id if tag else hashlib.sha256(payload).hexdigest()[:32]
        outcome = await self._rounds.ask(custom_id, payload)
        if isinstance(outcome, RequestError):
            raise outcome
        return outcome

    def _payload(self, chat: Chat, config: GenerateConfig) -> bytes:
        if self._http is not None:
            return self._http._body(chat, config)
        from emoprompt.backends.vllm_backend import sampling_arguments

        return json.dumps({"messages": chat_to_dicts(chat), "sampling_params": sampling_arguments(config)}).encode()

    async def _run_round(self, requests: list[Pending]) -> None:
        """One round as a Ray dataset; each row answers its request as it streams back."""
        loop = asyncio.get_running_loop()
        futures = {custom_id: future for custom_id, _, future in requests}
        started = time.perf_counter()

        def answer(custom_id: str, outcome: Outcome) -> None:
            future = futures.get(custom_id)
            if future is not None and not future.done():
                future.set_result(outcome)

        def on_row(row: dict[str, Any]) -> None:
            outcome = self._outcome(row, time.perf_counter() - started)
            loop.call_soon_threadsafe(answer, str(row["custom_id"]), outcome)

        rows = [{"custom_id": custom_id, "payload": line.decode()} for custom_id, line, _ in requests]
        self.stage = f"Ray: {len(rows):,} requests"
        try:
            await asyncio.to_thread(self._process, rows, on_row)
        except Exception as exc:
            failure = RequestError("ray_failed", truncate(f"{type(exc).__name__}: {exc}"))
            for custom_id in futures:
                answer(custom_id, failure)
        finally:
            self.stage = None
        for custom_id in futures:
            answer(custom_id, RequestError("ray_failed", "Ray returned no row for this request"))

    def _process(self, rows: list[dict[str, Any]], on_row: Any) -> None:
        import ray.data

        dataset = self._processor()(ray.data.from_items(rows))
        for batch in dataset.iter_batches(batch_size=64, batch_format="pandas"):
            for row in batch.to_dict("records"):
                on_row(row)

    def _processor(self) -> Any:
        from ray.data.llm import build_processor

        if self._http is not None:
            from ray.data.llm import HttpRequestProcessorConfig

            http = HttpRequestProcessorConfig(url=self._http.url("chat/completions"),
                                              headers=self._http._session_headers(), concurrency=self.workers,
                                              batch_size=64, max_retries=self.max_retries)
            return build_processor(http, preprocess=_http_request, postprocess=_http_answer)
        from ray.data.llm import vLLMEngineProcessorConfig

        assert self._vllm is not None
        engine = vLLMEngineProcessorConfig(model_source=self._vllm._model_path(),
                                           engine_kwargs=dict(self._vllm.engine_args), concurrency=self.workers,
                                           batch_size=64, should_continue_on_error=True)
        return build_processor(engine, preprocess=_engine_request, postprocess=_engine_answer)

    def _outcome(self, row: dict[str, Any], latency: float) -> Outcome:
        error = row.get("error")
        if isinstance(error, str) and error:
            return RequestError("ray_failed", truncate(error))
        data = json.loads(row["answer"])
        if self._http is not None:
            if isinstance(data, dict) and data.get("error") and not data.get("choices"):  # Ray fills absent keys
                error = data["error"]
                message = error.get("message") if isinstance(error, dict) else error
                return RequestError("api_error", truncate(str(message)))
            try:
                return self._http._completion(data, latency)
            except RequestError as exc:
                return exc
        return Completion(data["text"], data["finish"], data["tokens_in"], data["tokens_out"], latency)

    async def close(self) -> None:
        self._rounds.close()
        if self._http is not None:
            await self._http.close()
        if self._started_ray:
            import ray

            with _RAY_LOCK:
                ray.shutdown()
            self._started_ray = False


# Ray ships these to its workers: plain module-level functions.

def _http_request(row: dict[str, Any]) -> dict[str, Any]:
    return {"custom_id": row["custom_id"], "payload": json.loads(row["payload"])}


def _http_answer(row: dict[str, Any]) -> dict[str, Any]:
    return {"custom_id": row["custom_id"], "answer": json.dumps(row.get("http_response")), "error": None}


def _engine_request(row: dict[str, Any]) -> dict[str, Any]:
    request = json.loads(row["payload"])
    return {"custom_id": row["custom_id"], "messages": request["messages"],
            "sampling_params": request["sampling_params"]}


def _engine_answer(row: dict[str, Any]) -> dict[str, Any]:
    error = row.get("__inference_error__")
    answer = {"text": row.get("generated_text") or "", "finish": "stop", "tokens_in": row.get("num_input_tokens"),
              "tokens_out": row.get("num_generated_tokens")}
    return {"custom_id": row["custom_id"], "answer": json.dumps(answer), "error": str(error) if error else None}
