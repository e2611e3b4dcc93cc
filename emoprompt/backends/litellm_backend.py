"""Every API provider and OpenAI-compatible server through litellm; its refusals and answers carry the provider's
rate-limit headers to the pace (`emoprompt.backends.pacing`)."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from typing import Any

from emoprompt.backends._api import check_api_base
from emoprompt.backends.http import check_reachable
from emoprompt.backends.pacing import read_rate_limits
from emoprompt.chat import Chat, Completion, GenerateConfig, chat_to_dicts, token_count
from emoprompt.errors import RequestError, UsageError, did_you_mean
from emoprompt.secrets import redact_url, truncate


def _litellm() -> Any:
    """litellm, imported with its bundled price map (so its import never reaches the network) without leaving
    anything changed in this process's environment."""
    if "litellm" in sys.modules:
        return sys.modules["litellm"]
    previous = os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP")
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    try:
        import litellm
    finally:
        if previous is None:
            os.environ.pop("LITELLM_LOCAL_MODEL_COST_MAP", None)
        else:
            os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = previous
    return litellm


def quiet() -> None:
    """Silence litellm's "Give Feedback / Get Help" banners (for emoprompt's own command line, which owns the
    process; a library import of emoprompt leaves litellm's settings alone)."""
    module = sys.modules.get("litellm")
    if module is not None:
        setattr(module, "suppress_debug_info", True)  # noqa: B010  (litellm's stubs do not declare it)


class LiteLLMBackend:
    """`provider/model` through `litellm.acompletion`; keys come only from the environment."""

    paced = True

    def __init__(self, model: str, api_base: str | None = None, timeout_s: float = 60.0,
                 concurrency: int = 16) -> None:
        self.name = model
        self.litellm_model = model.removeprefix("litellm/")
        """The model string litellm sees (`litellm/openai/x` forces litellm for a protocol emoprompt speaks itself)."""
        self.api_base = check_api_base(api_base) if api_base else None
        self.timeout_s = timeout_s
        self.default_concurrency = concurrency
        self._api_key: str | None = None
        self._provider_name: str | None = None

    def identity(self) -> dict[str, Any]:
        """The model, and the endpoint litellm will use: `api_base`, else the one the provider's environment
        variables name (for example OPENAI_BASE_URL), else the provider's default (None)."""
        endpoint = self.api_base or self._endpoint_from_environment()
        return {"backend": "api", "model": self.litellm_model,
                "api_base": redact_url(endpoint).rstrip("/") if endpoint else None}

    def _provider(self) -> str | None:
        """litellm's provider for the model (looked up once; None when litellm cannot place it)."""
        if self._provider_name is None:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    self._provider_name = str(_litellm().get_llm_provider(self.litellm_model)[1])
            except Exception:
                self._provider_name = ""
        return self._provider_name or None

    def _endpoint_from_environment(self) -> str | None:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                _, _, _, endpoint = _litellm().get_llm_provider(self.litellm_model)
        except Exception:
            return None
        if not endpoint and self.litellm_model.startswith("openai/"):
            endpoint = os.environ.get("OPENAI_API_BASE") or os.environ.get("OPENAI_BASE_URL")
        return str(endpoint) if endpoint else None

    def check_model(self) -> None:
        """Refuse an unknown provider with a suggestion."""
        litellm = _litellm()
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # litellm prints a provider list before raising
                litellm.get_llm_provider(self.litellm_model, api_base=self.api_base)
        except Exception:
            provider = self.litellm_model.split("/", 1)[0]
            raise UsageError(
                f"unknown model {self.name!r}: litellm knows no provider {provider!r}."
                f"{did_you_mean(provider, [str(p.value) for p in litellm.provider_list])} "
                "Use provider/model (e.g. openai/gpt-4o-mini), hf/<model> or hf/smollm2.") from None

    def preflight(self) -> None:
        """Checks that need no network, before a run folder is created: the provider, and its key."""
        self.check_model()
        if self.api_base:
            return
        missing = _litellm().validate_environment(model=self.litellm_model).get("missing_keys") or []
        if missing:
            raise UsageError(f"{self.name} needs {' and '.join(missing)} in the environment; "
                             f"export {missing[0]}=... (keys are never written to disk)")

    async def start(self) -> None:
        self.preflight()
        if self.api_base:
            await check_reachable(self.api_base)
            self._api_key = None if self._has_key() else "sk-no-key-needed"

    def _has_key(self) -> bool:
        result = _litellm().validate_environment(model=self.litellm_model)
        return bool(result.get("keys_in_environment"))

    async def complete(self, chat: Chat, config: GenerateConfig) -> Completion:
        started = time.perf_counter()
        response = await self._call(chat, config)
        return self._completion(response, time.perf_counter() - started)

    async def _call(self, chat: Chat, config: GenerateConfig) -> Any:
        litellm = _litellm()
        arguments: dict[str, Any] = {
            "model": self.litellm_model, "messages": chat_to_dicts(chat), "temperature": config.temperature,
            "max_tokens": config.max_tokens, "top_p": config.top_p, "timeout": self.timeout_s,
            "num_retries": 0, "max_retries": 0,
        }
        if config.seed is not None:
            arguments["seed"] = config.seed
        if config.stop:
            arguments["stop"] = list(config.stop)
        if self.api_base:
            arguments["api_base"] = self.api_base
        if self._api_key:
            arguments["api_key"] = self._api_key
        try:
            return await litellm.acompletion(**arguments)
        except Exception as exc:
            raise classify(exc) from None

    def _completion(self, response: Any, latency: float) -> Completion:
        choices = getattr(response, "choices", None) or []
        if not choices:
            raise RequestError("empty_choices", "the API returned no choices")
        choice = choices[0]
        finish = getattr(choice, "finish_reason", None) or "stop"
        if finish == "content_filter":
            raise RequestError("content_filter", "the provider's content filter stopped the answer")
        message = getattr(choice, "message", None)
        text = getattr(message, "content", None)
        if not isinstance(text, str):
            raise RequestError("malformed_response", "the provider's answer has no message text")
        usage = getattr(response, "usage", None)
        cost = None
        try:
            # the provider named, or litellm looks up the served name ("gpt-4o-2024-08-06", "test-model") without
            # one and prints a provider list to stdout on every call it cannot place
            cost = float(_litellm().completion_cost(completion_response=response,
                                                    custom_llm_provider=self._provider()))
        except Exception:
            cost = None
        served = getattr(response, "model", None)
        hidden = getattr(response, "_hidden_params", None) or {}
        headers = hidden.get("additional_headers") if isinstance(hidden, dict) else None
        return Completion(text, finish, token_count(getattr(usage, "prompt_tokens", None)),
                          token_count(getattr(usage, "completion_tokens", None)), latency,
                          cost if cost is None or cost >= 0 else None,
                          served_model=served if isinstance(served, str) else None,
                          rate_limits=read_rate_limits(headers if isinstance(headers, dict) else None))

    async def close(self) -> None:
        return None


def classify(exc: Exception) -> RequestError:
    """Map a litellm/HTTP exception to a RequestError kind (transient kinds are retried)."""
    litellm = _litellm()
    message = truncate(str(exc).splitlines()[0]) if str(exc) else type(exc).__name__
    kinds = [
        ("RateLimitError", "rate_limit"), ("Timeout", "timeout"), ("APIConnectionError", "connection"),
        ("ServiceUnavailableError", "unavailable"), ("InternalServerError", "server_error"),
        ("BadGatewayError", "server_error"), ("AuthenticationError", "auth"),
        ("PermissionDeniedError", "auth"), ("NotFoundError", "not_found"),
        ("ContextWindowExceededError", "context_window"), ("ContentPolicyViolationError", "content_filter"),
        ("BadRequestError", "bad_request"), ("APIResponseValidationError", "malformed_response"),
    ]
    kind = "api_error"
    for class_name, candidate in kinds:
        cls = getattr(litellm, class_name, None)
        if cls is not None and isinstance(exc, cls):
            kind = candidate
            break
    else:
        if "json" in message.lower() or isinstance(exc, ValueError):
            kind = "malformed_response"
        status = getattr(exc, "status_code", None)
        if status in (500, 502, 504):
            kind = "server_error"
        elif status == 503:
            kind = "unavailable"
        elif status == 429:
            kind = "rate_limit"
    if getattr(exc, "status_code", None) == 529 or "overloaded" in message.lower():
        kind = "overloaded"  # Anthropic's "busy, slow down"
    if kind == "server_error" and any(sign in message for sign in _MALFORMED_SIGNS):
        kind = "malformed_response"  # litellm reports a 200 it cannot read as an internal server error
    limits = _rate_limits(exc)
    return RequestError(kind, message, limits.retry_after if limits is not None else None, limits)


_MALFORMED_SIGNS = ("Invalid response object", "Expecting value", "Expecting property name", "JSONDecodeError",
                    "Unterminated string")


def _rate_limits(exc: Exception) -> Any:
    """The provider's rate-limit headers on a refused or failed call, when litellm kept them."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or getattr(exc, "headers", None)
    if not headers:
        return None
    try:
        return read_rate_limits({str(k): str(v) for k, v in dict(headers).items()})
    except (TypeError, ValueError, AttributeError):
        return None
