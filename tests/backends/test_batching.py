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
    # the first batch holds the longest-waiting request (length 9) and its nearest neighbours in sort order
    assert [sorted(len(t) for t in batch) for batch in calls] == [[6, 7, 8, 9], [1, 2, 3, 4]]


def test_the_longest_waiting_request_is_never_passed_over_by_newer_similar_ones():
    """Requests that sort before an old one keep arriving; the old one still goes in the very next batch."""
    calls = []

    def run_batch(requests):
        calls.append(list(requests))
        return list(requests)

    async def main():
        batcher = MicroBatcher(run_batch, group_key=lambda r: 0, max_batch=2, max_wait_s=0.01, sort_key=str)
        old = asyncio.ensure_future(batcher.submit("z-old"))
        newer = [asyncio.ensure_future(batcher.submit(f"a-{n}")) for n in range(6)]
        await asyncio.gather(old, *newer)
        await batcher.close()

    asyncio.run(main())
    assert "z-old" in calls[0]
    assert sorted(r for batch in calls for r in batch) == sorted(["z-old", *(f"a-{n}" for n in range(6))])


def test_a_batch_is_the_run_of_neighbours_sharing_most_with_each_other():
    """Of the runs of sorted neighbours that hold the oldest request, the one whose neighbours share the longest
    leading text (a prompt prefix a local model computes once) is taken."""
    calls = []

    def run_batch(requests):
        calls.append(sorted(requests))
        return list(requests)

    async def main():
        batcher = MicroBatcher(run_batch, group_key=lambda r: 0, max_batch=3, max_wait_s=0.01,
                               sort_key=lambda r: [r])
        texts = ["task B: item 1", "task A: item 9", "task B: item 2", "task C", "task B: item 3", "task A: item 8"]
        await asyncio.gather(*(batcher.submit(t) for t in texts))
        await batcher.close()

    asyncio.run(main())
    assert calls[0] == ["task B: item 1", "task B: item 2", "task B: item 3"]
    assert calls[1] == ["task A: item 8", "task A: item 9", "task C"]


def test_lanes_run_batches_at_once_and_share_the_last_requests_evenly():
    """With two lanes two batches run at the same time (the first two wait for each other at a barrier); ten
    waiting requests with room for eight per batch become two batches of five (a lane's share), not eight and two."""
    import threading

    both_running = threading.Barrier(2, timeout=5)
    sizes = []

    def run_batch(requests):
        sizes.append(len(requests))
        if len(sizes) <= 2:
            both_running.wait()
        return [r * 2 for r in requests]

    async def main():
        batcher = MicroBatcher(run_batch, group_key=lambda r: 0, max_batch=8, max_wait_s=0.01, sort_key=str, lanes=2)
        results = await asyncio.gather(*(batcher.submit(n) for n in range(10)))
        await batcher.close()
        return results

    assert asyncio.run(main()) == [n * 2 for n in range(10)]
    assert sorted(sizes) == [5, 5]


def test_a_batch_that_gives_the_wrong_number_of_results_fails_its_requests_instead_of_hanging():
    async def main():
        batcher = MicroBatcher(lambda requests: [], group_key=lambda r: 0, max_batch=4, max_wait_s=0.01)
        results = await asyncio.gather(*(batcher.submit(n) for n in range(3)), return_exceptions=True)
        await batcher.close()
        return results

    results = asyncio.run(asyncio.wait_for(main(), 10))
    assert all(isinstance(r, RuntimeError) and "gave 0 results" in str(r) for r in results)


def test_sort_keys_are_compared_by_their_common_start():
    from emoprompt.backends.batching import _common_start, _shared_length

    assert [_common_start(a, b) for a, b in [("abc", "abd"), ("", "x"), ("abc", "abc"), ("abc", "abcd"), ("x", "y")]
            ] == [2, 0, 3, 3, 0]
    assert _shared_length(["system", "task A: 1"], ["system", "task A: 2"]) == len("system") + len("task A: ")
    assert _shared_length(["sys1", "same"], ["sys2", "same"]) == 3  # nothing after the first difference counts


def test_a_batch_knows_how_many_batches_run_beside_it():
    """A batch that runs alone is told 1 (a CPU model then uses every core); with requests waiting for the other
    lane, 2."""
    from emoprompt.backends.batching import CONCURRENT_BATCHES

    seen = []

    def run_batch(requests):
        seen.append((len(requests), CONCURRENT_BATCHES.get()))
        return list(requests)

    async def main():
        batcher = MicroBatcher(run_batch, group_key=lambda r: 0, max_batch=4, max_wait_s=0.01, lanes=2)
        await batcher.submit("alone")
        await asyncio.gather(*(batcher.submit(n) for n in range(8)))
        await batcher.close()

    asyncio.run(main())
    assert seen[0] == (1, 1)
    assert seen[1] == (4, 2)
