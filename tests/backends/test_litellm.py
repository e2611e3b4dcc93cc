"""What only the litellm path does: provider discovery, key checks, and forced routing."""

import pytest

from emoprompt.backends import resolve_backend
from emoprompt.backends.litellm_backend import LiteLLMBackend
from emoprompt.errors import UsageError
from tests.backends.test_openai_http import complete, managed


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(UsageError, match="needs ANTHROPIC_API_KEY in the environment"):
        complete(managed("anthropic/claude-3-5-haiku-20241022"))


def test_other_providers_go_through_litellm():
    assert isinstance(resolve_backend("anthropic/claude-3-5-haiku-20241022"), LiteLLMBackend)
    assert isinstance(resolve_backend("litellm/openai/gpt-4o-mini"), LiteLLMBackend)


def test_unknown_provider_suggests():
    with pytest.raises(UsageError, match="Did you mean 'openai'"):
        resolve_backend("opnai/gpt-4o")
    with pytest.raises(UsageError, match="needs a provider prefix"):
        resolve_backend("gpt-4o")


def test_a_model_litellm_cannot_price_prints_nothing(loopback, capfd):
    """litellm printed a provider list to stdout on every call whose served model name it could not place (the
    cost lookup); through emoprompt's Python API nothing silenced it."""
    completion = complete(managed("litellm/openai/test-model", api_base=loopback.url))
    assert completion.text and completion.cost_usd is None
    assert "Provider List" not in capfd.readouterr().out
