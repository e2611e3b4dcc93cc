import json

import pytest

from emoprompt.errors import UsageError
from emoprompt.runner.store import RunStore, iter_records
from emoprompt.schema import ErrorInfo, Record


def cell(key, error=None):
    return Record(key=key, model="m", task="t", sample_id=key, condition="baseline",
                  error=ErrorInfo(error, "x") if error else None)


def line(key):
    return json.dumps(cell(key).to_dict())


def test_torn_last_line_is_repaired(tmp_path):
    (tmp_path / "records.jsonl").write_text(f'{line("a")}\n{line("b")}\n{line("c")[:30]}')
    assert [r.key for r in iter_records(tmp_path)] == ["a", "b"]
    store = RunStore(tmp_path)
    store.open()
    store.append(cell("d"))
    store.close()
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "b", "d"]


def test_second_store_on_same_folder_is_refused(tmp_path):
    first = RunStore(tmp_path)
    first.open()
    with pytest.raises(UsageError, match="in use by another emoprompt process"):
        RunStore(tmp_path).open()
    first.close()
    second = RunStore(tmp_path)
    second.open()
    second.close()


def test_drop_errors_keeps_good_records(tmp_path):
    store = RunStore(tmp_path)
    store.open()
    store.append(cell("a"))
    store.append(cell("b", "timeout"))
    assert store.drop_errors() == 1
    store.append(cell("b"))
    store.close()
    assert [r.key for r in iter_records(tmp_path)] == ["a", "b"]


def test_unwritable_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="choose a writable --out"):
        RunStore(blocker / "run").open()
