import sqlite3
import threading

from emoprompt.chat import Completion, GenerateConfig, Message
from emoprompt.runner.cache import ResponseCache, cache_key

CHAT = (Message("user", "Instruction: x\n\nInput: 1 2\nAnswer: "),)
MODEL = {"backend": "hf", "model": "m"}


def test_key_changes_with_everything_that_changes_output():
    base = cache_key(MODEL, CHAT, GenerateConfig(), 0)
    assert base == cache_key(dict(MODEL), tuple(CHAT), GenerateConfig(), 0)
    assert base != cache_key({**MODEL, "model": "other"}, CHAT, GenerateConfig(), 0)
    assert base != cache_key(MODEL, (Message("user", "other"),), GenerateConfig(), 0)
    assert base != cache_key(MODEL, CHAT, GenerateConfig(temperature=0.7), 0)
    assert base != cache_key(MODEL, CHAT, GenerateConfig(max_tokens=5), 0)
    assert base != cache_key(MODEL, CHAT, GenerateConfig(stop=("\n",)), 0)
    assert base != cache_key(MODEL, CHAT, GenerateConfig(), 1)


def test_roundtrip_marks_cached(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    assert cache.get("k") is None
    cache.put("k", Completion("hello", tokens_in=3, tokens_out=1, latency_s=0.5))
    hit = cache.get("k")
    assert hit is not None and hit.text == "hello" and hit.cached and hit.tokens_in == 3
    cache.close()
    reopened = ResponseCache(tmp_path / "c.sqlite")
    assert reopened.get("k").text == "hello"
    reopened.close()


def test_concurrent_writers_from_threads_and_connections(tmp_path):
    path = tmp_path / "c.sqlite"
    caches = [ResponseCache(path) for _ in range(4)]

    def write(index: int) -> None:
        for i in range(200):
            caches[index].put(f"{index}-{i}", Completion(str(i)))
            assert caches[index].get(f"{index}-{i}") is not None  # a buffered write is visible to its writer
            if i % 50 == 49:
                caches[index].flush()
                assert caches[(index + 1) % 4].get(f"{index}-{i}") is not None  # and to all after a flush

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM completions").fetchone()[0] == 800
    for cache in caches:
        cache.close()


def test_writes_are_batched_and_committed_by_count_time_and_close(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path, batch=3, max_delay_s=3600)
    count = lambda: sqlite3.connect(path).execute("SELECT COUNT(*) FROM completions").fetchone()[0]  # noqa: E731
    cache.put("a", Completion("1"))
    cache.put("b", Completion("2"))
    assert count() == 0 and cache.get("a").text == "1"
    cache.put("c", Completion("3"))
    assert count() == 3
    cache.put("d", Completion("4"))
    cache.close()
    assert count() == 4
    timed = ResponseCache(path, batch=1000, max_delay_s=0.0)
    timed.put("e", Completion("5"))
    assert count() == 5
    timed.close()
