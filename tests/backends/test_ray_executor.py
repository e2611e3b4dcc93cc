"""`--executor ray`: a real local Ray (bound to 127.0.0.1) sends a run's requests through Ray Data's HTTP
processor to a loopback server; results land in the same records and cache as a local run's."""

from __future__ import annotations

import importlib.util

import pytest
from click.testing import CliRunner

from emoprompt.backends import BackendOptions, resolve_backend
from emoprompt.cli import cli
from emoprompt.errors import UsageError
from emoprompt.runner.store import iter_records
from tests.loopback_server import LoopbackServer

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="ray is not installed (pip install 'emoprompt[ray]')")


def _run(server: LoopbackServer, out, *extra: str):
    return CliRunner().invoke(cli, ["run", "--model", "openai/test-model", "--api-base", server.url,
                                    "--no-progress", "--no-report", "--out", str(out), "--limit", "3",
                                    "--condition", "baseline", "--condition", "EP02", "--condition", "heart", *extra])


@needs_ray
def test_a_run_through_ray_data_matches_the_local_run(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    server = LoopbackServer(faults={5: "404"}).start()
    try:
        result = _run(server, tmp_path / "ray", "--executor", "ray", "--retries", "0", "--no-cache")
        if "Ray could not start" in result.output:
            pytest.skip(f"Ray cannot start here: {result.output.strip().splitlines()[-1]}")
        assert result.exit_code == 3, result.output  # the injected 404 is an error cell
        asked = server.requests
        local = _run(server, tmp_path / "local", "--retries", "0", "--no-cache")
        assert local.exit_code == 0, local.output  # the server's one fault went to the Ray run
    finally:
        server.stop()
    via_ray = {r.key: r for r in iter_records(tmp_path / "ray")}
    direct = {r.key: r for r in iter_records(tmp_path / "local")}
    assert len(via_ray) == 81 and via_ray.keys() == direct.keys()
    errors = [r for r in via_ray.values() if r.error]
    assert asked == sum(r.n_calls for r in via_ray.values()) + len(errors)  # every request asked once
    assert len(errors) == 1 and errors[0].error.kind == "api_error"  # the 404 answer, one cell, not the run
    same = [key for key, record in via_ray.items() if not record.error and record.response == direct[key].response
            and record.n_calls == direct[key].n_calls]
    assert len(same) >= 79
    assert max(r.n_calls for r in via_ray.values()) > 1  # HEART loops went round by round


def test_ray_serves_api_and_vllm_models_only():
    with pytest.raises(UsageError, match="--executor ray"):
        resolve_backend("scripted/echo", BackendOptions(executor="ray"))
    with pytest.raises(UsageError, match="choose one"):
        resolve_backend("openai/m", BackendOptions(executor="ray", batch=True, api_base="http://a/v1"))
