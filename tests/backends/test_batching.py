import asyncio
import time

from emoprompt.backends.batching import MicroBatcher


def test_concurrent_requests_are_gathered_and_grouped():
    calls = []

    def run_batch(requests):
        calls.append(list(requests))
        time.sleep(0.05)
        return [f"{setting}:{value * 2}" for value, setting in requests]

    async def main():
        batcher = MicroBatcher(run_batch, group_key=lambda r: r[1], max_batch=8, max_wait_s=0.01)
        requests = [(i, "a" if i % 3 else "b") for i in range(20)]
        results = await asyncio.gather(*(batcher.submit(r) for r in requests))
        await batcher.close()
        return requests, results

    requests, results = asyncio.run(main())
    assert results == [f"{s}:{v * 2}" for v, s in requests]
    assert all(len({s for _, s in batch}) == 1 for batch in calls)
    assert max(len(batch) for batch in calls) == 8 and len(calls) <= 5


def test_a_failing_request_fails_only_itself_not_its_batch():
    calls = []

    def run_batch(requests):
        calls.append(list(requests))
        if any(r == "bad" for r in requests):
            raise RuntimeError("boom")
        return [r.upper() for r in requests]

    async def main():
        batcher = MicroBatcher(run_batch, group_key=lambda r: 0, max_batch=4, max_wait_s=0.05)
        results = await asyncio.gather(*(batcher.submit(r) for r in ("a", "bad", "b", "c")), return_exceptions=True)
        later = await batcher.submit("ok")
        await batcher.close()
        return results, later

    results, later = asyncio.run(main())
    assert results[0] == "A" and isinstance(results[1], RuntimeError) and results[2:] == ["B", "C"]
    assert later == "OK" and calls[0] == ["a", "bad", "b", "c"]  # batched first, then one by one


def test_a_batch_may_fail_single_requests_by_returning_exceptions():
    def run_batch(requests):
        return [ValueError(r) if r.startswith("x") else r for r in requests]

    async def main():
        batcher = MicroBatcher(run_batch, group_key=lambda r: 0, max_batch=4, max_wait_s=0.05)
        results = await asyncio.gather(*(batcher.submit(r) for r in ("a", "xb")), return_exceptions=True)
        await batcher.close()
        return results

    results = asyncio.run(main())
    assert results[0] == "a" and isinstance(results[1], ValueError)


def test_waiting_requests_are_batched_by_similar_length_and_answered_in_place():
    calls = []

    def run_batch(requests):
        calls.append(list(requests))
        return [text.upper() for text in requests]

    async def main():
        batcher = MicroBatcher(run_batch, group_key=lambda r: 0, max_batch=4, max_wait_s=0.05, sort_key=len)
        texts = ["a" * n for n in (9, 1, 8, 2, 7, 3, 6, 4)]
        results = await asyncio.gather(*(batcher.submit(t) for t in texts))
        await batcher.close()
        return texts, results

    texts, results = asyncio.run(main())
    assert results == [t.upper() for t in texts]  # every caller gets its own answer
    assert [sorted(len(t) for t in batch) for batch in calls] == [[1, 2, 3, 4], [6, 7, 8, 9]]
