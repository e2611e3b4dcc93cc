"""Data folders: --data-dir, fetching over real HTTP (a loopback server) with checksums, offline errors."""

import hashlib
import http.server
import json
import threading

import pytest
from click.testing import CliRunner

from emoprompt.cli import cli
from emoprompt.errors import UsageError
from emoprompt.suites import datasets


@pytest.fixture
def mirror(tmp_path):
    """A loopback HTTP server holding a tiny 'bigbench' data set, and a catalogue that lists it."""
    served = tmp_path / "served" / "prefix"
    payload = json.dumps({"examples": [{"input": "2+2", "target": "4"}]}).encode()
    (served / "tiny").mkdir(parents=True)
    (served / "tiny" / "task.json").write_bytes(payload)
    handler = lambda *args: http.server.SimpleHTTPRequestHandler(*args, directory=str(tmp_path / "served"))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    entry = {"source": "test", "base_url": f"http://127.0.0.1:{server.server_port}", "remote_prefix": "prefix/",
             "files": {"tiny/task.json": hashlib.sha256(payload).hexdigest()}}
    yield entry
    server.shutdown()


def test_fetch_checks_every_file(mirror, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "catalogue", lambda: {"bigbench": mirror})
    monkeypatch.setenv("EMOPROMPT_DATA_DIR", str(tmp_path / "data"))
    folder = datasets.fetch_dataset("bigbench")
    assert (folder / "tiny" / "task.json").is_file()
    assert datasets.dataset_dir("bigbench") == folder
    mirror["files"]["tiny/task.json"] = "0" * 64
    (folder / "tiny" / "task.json").unlink()
    with pytest.raises(UsageError, match="does not match its checksum"):
        datasets.fetch_dataset("bigbench")
    assert not (folder / "tiny" / "task.json").exists()
    datasets.fetch_dataset("bigbench", verify=False)
    assert (folder / "tiny" / "task.json").is_file()


def test_missing_data_offline_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOPROMPT_DATA_DIR", str(tmp_path / "empty"))
    entry = {"source": "x", "base_url": "http://127.0.0.1:9", "remote_prefix": "", "files": {"a.json": "0" * 64}}
    monkeypatch.setattr(datasets, "catalogue", lambda: {"bigbench": entry})
    with pytest.raises(UsageError, match="pass --data-dir DIR holding a bigbench/ folder"):
        datasets.dataset_dir("bigbench")


def test_cli_data_list_fetch_and_run_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOPROMPT_DATA_DIR", str(tmp_path))
    listing = CliRunner().invoke(cli, ["data", "list"])
    assert listing.exit_code == 0 and "instruction_induction" in listing.output and "missing" in listing.output
    unknown = CliRunner().invoke(cli, ["data", "fetch", "bigbenc"])
    assert unknown.exit_code == 2 and "Did you mean 'bigbench'" in unknown.output
    bad_dir = CliRunner().invoke(cli, ["run", "--data-dir", str(tmp_path / "nope")])
    assert bad_dir.exit_code == 2 and "is not a folder" in bad_dir.output


def test_catalogue_lists_the_published_files():
    catalogue = datasets.catalogue()
    assert len(catalogue["instruction_induction"]["files"]) == 72
    assert all(len(checksum) == 64 for checksum in catalogue["bigbench"]["files"].values())


def test_hugging_face_dataset_from_a_saved_folder(tmp_path):
    pytest.importorskip("datasets")
    import datasets as hf

    hf.Dataset.from_dict({"question": ["2+2", "3+3"], "answer": ["4", "6"]}).save_to_disk(str(tmp_path / "ds"))
    suite = tmp_path / "suite.toml"
    suite.write_text(f'[[task]]\nname = "math"\nscorer = "numeric"\nsource = {{ hf = "{tmp_path / "ds"}", '
                     'fields = { input = "question", target = "answer" } }\n')
    from emoprompt.suites.loader import load_suite

    task = load_suite(str(suite)).task("math")
    assert [s.input for s in task.samples] == ["2+2", "3+3"] and task.samples[1].targets == ("6",)
