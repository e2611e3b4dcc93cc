"""Gated and unpinned data sets over real HTTP: the user's token, checksums recorded on first fetch and checked at
every later use, a hash the user trusts, a local copy instead of a download, and one-line errors."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from emoprompt.cli import cli
from emoprompt.errors import UsageError
from emoprompt.suites import datasets
from tests.suites.study_data import write_gpqa

TOKEN = "hf_test_token"


@pytest.fixture
def gated(tmp_path, monkeypatch):
    """A loopback server that serves a stand-in gpqa_diamond.csv only with the bearer token, and a catalogue entry
    for it shaped like the shipped one (no pinned checksum)."""
    served = write_gpqa(tmp_path / "served").parent
    seen: list[str | None] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_error(403, "gated")
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    entry = {**datasets.catalogue()["gpqa"], "base_url": f"http://127.0.0.1:{server.server_port}"}
    monkeypatch.setattr(datasets, "catalogue", lambda: {"gpqa": entry})
    monkeypatch.setenv("EMOPROMPT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield served / "gpqa_diamond.csv", seen
    server.shutdown()


def test_the_shipped_catalogue_pins_nothing_it_could_not_check():
    catalogue = datasets.catalogue()
    assert catalogue["gpqa"]["terms"].startswith("https://huggingface.co/datasets/Idavidrein/gpqa")
    assert catalogue["gpqa"]["token_env"] == "HF_TOKEN"
    for name in ("gpqa", "mmlu_pro", "mind_your_tone"):
        assert set(catalogue[name]["files"].values()) == {""}  # recorded on first fetch, never made up


def test_a_gated_set_needs_the_users_token(gated, tmp_path):
    original, seen = gated
    with pytest.raises(UsageError, match=r"gpqa is gated: accept its terms at https://huggingface\.co"):
        datasets.fetch_dataset("gpqa")
    assert seen == []  # nothing was requested without a token
    with pytest.raises(UsageError, match=r"refused \(HTTP 403\).*accept its terms"):
        datasets.fetch_dataset("gpqa", token="hf_wrong")
    said: list[str] = []
    folder = datasets.fetch_dataset("gpqa", token=TOKEN, say=said.append)
    assert (folder / "gpqa_diamond.csv").read_bytes() == original.read_bytes()
    digest = hashlib.sha256(original.read_bytes()).hexdigest()
    assert said and digest in said[0] and "no published checksum" in said[0]
    assert (folder / "SHA256SUMS").read_text() == f"{digest}  gpqa_diamond.csv\n"
    assert seen[-1] == f"Bearer {TOKEN}"


def test_the_token_comes_from_the_environment_and_stays_out_of_output(gated, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = CliRunner().invoke(cli, ["data", "fetch", "gpqa"])
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output and "recorded sha256" in result.output


def test_recorded_checksums_guard_every_later_use(gated):
    folder = datasets.fetch_dataset("gpqa", token=TOKEN)
    assert datasets.dataset_dir("gpqa") == folder
    data = folder / "gpqa_diamond.csv"
    data.write_text(data.read_text().replace("right0", "tampered"))
    with pytest.raises(UsageError, match="changed since it was fetched"):
        datasets.dataset_dir("gpqa")
    data.unlink()
    datasets.fetch_dataset("gpqa", token=TOKEN)  # fetched again, checked against the recorded sum
    assert datasets.dataset_dir("gpqa") == folder


def test_a_hash_the_user_trusts_and_a_local_copy(gated, tmp_path):
    original, _ = gated
    digest = hashlib.sha256(original.read_bytes()).hexdigest()
    with pytest.raises(UsageError, match="does not match its checksum"):
        datasets.fetch_dataset("gpqa", token=TOKEN, expected={"gpqa_diamond.csv": "0" * 64})
    with pytest.raises(UsageError, match="not a file of gpqa"):
        datasets.fetch_dataset("gpqa", token=TOKEN, expected={"gpqa_main.csv": digest})
    folder = datasets.fetch_dataset("gpqa", local=original, expected={"gpqa_diamond.csv": digest})
    assert (folder / "gpqa_diamond.csv").read_bytes() == original.read_bytes()
    result = CliRunner().invoke(cli, ["data", "fetch", "gpqa", "--from", str(tmp_path / "nowhere.csv")])
    assert result.exit_code == 2 and "no such file or folder" in result.output
    result = CliRunner().invoke(cli, ["data", "fetch", "gpqa", "--from", str(original), "--sha256", "abc"])
    assert result.exit_code == 2 and "FILE=HASH" in result.output


def test_cli_names_the_fix_for_a_gated_set_without_token(gated):
    result = CliRunner().invoke(cli, ["data", "fetch", "gpqa"])
    assert result.exit_code == 2
    assert "accept its terms" in result.output and "--token or set HF_TOKEN" in result.output
    assert "Traceback" not in result.output


def test_a_run_on_gated_data_it_does_not_have_says_how_to_get_it(gated):
    result = CliRunner().invoke(cli, ["run", "wharton-psr3", "--model", "scripted/echo", "--limit", "1"])
    assert result.exit_code == 2 and "gpqa" in result.output and "--token" in result.output


def test_recorded_sums_read_back(tmp_path: Path):
    (tmp_path / "SHA256SUMS").write_text(f"{'a' * 64}  x/y.csv\n\n")
    assert datasets.read_recorded(tmp_path) == {"x/y.csv": "a" * 64}
