"""Harness overhead against an OpenAI-compatible server on loopback with a fixed latency L.

    python benchmarks/harness_overhead.py [--requests 2000] [--concurrency 64] [--latency 0.05]

The server runs in its own process (`python -m tests.loopback_server L`), as a real endpoint would. Each client
sends the same requests at the same concurrency:

- `emoprompt` : the full pipeline (`build_plan` + `run`: templates, cache lookups and writes, records flushed
  per cell, scoring) on the lean OpenAI-compatible client; a fresh response cache so every cell is a model call;
- `emoprompt-litellm` : the same pipeline through litellm (`litellm/openai/...`);
- `aiohttp` : a bare aiohttp loop, the floor any Python client can reach;
- `lm-eval`, `inspect-ai` : the peers, when installed (`local-chat-completions`; the OpenAI provider with a base
  URL).

Every client is timed at the server, from the first request's arrival to the last answer, so start-up costs
(imports, dataset building) are left out for all alike; the in-process clients first send 128 other requests
so that their first-use costs are paid before timing too. Reported: wall ÷ ideal where ideal = requests·L/C, and
requests/s at zero latency; for emoprompt also its own runner time.

`--whole-process` adds a second table: each harness's command line, timed from spawn to exit (interpreter start,
imports, planning, requests, summary and report all included) on the same server — `emoprompt run` with and
without its report, lm-eval and inspect_ai — and `emoprompt --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import save

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def loopback_server(latency_s: float) -> Iterator[str]:
    """A loopback OpenAI-compatible server in a child process; yields its API base."""
    process = subprocess.Popen([sys.executable, "-m", "tests.loopback_server", str(latency_s)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())["url"]
    finally:
        process.terminate()
        process.wait(10)


def write_suite(folder: Path, requests: int, name: str = "item") -> Path:
    """A one-task suite of `requests` distinct items (the server answers the input's last word)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "items.jsonl").open("w") as handle:
        for index in range(requests):
            handle.write(json.dumps({"input": f"{name} {index} word{index}", "target": f"word{index}"}) + "\n")
    suite = folder / "suite.toml"
    suite.write_text('name = "load"\ntemplate = "instruction-induction"\n\n[[task]]\nname = "echo"\n'
                     'instruction = "Repeat the last word."\nscorer = "exact"\nsource = { file = "items.jsonl" }\n')
    return suite


def emoprompt_run(model: str, api_base: str, suite: Path, concurrency: int, folder: Path) -> dict[str, float]:
    """The full pipeline in this process; returns runner wall time and the model calls it made."""
    os.environ["EMOPROMPT_CACHE_DIR"] = str(folder / f"cache-{time.monotonic_ns()}")
    from emoprompt.runner.experiment import Experiment
    from emoprompt.runner.plan import build_plan
    from emoprompt.runner.run import run

    experiment = Experiment(models=(model,), suite=str(suite), conditions=("baseline",), limit=None,
                            api_base=api_base)
    started = time.perf_counter()
    plan = build_plan(experiment)
    result = run(plan, folder / f"run-{time.monotonic_ns()}", concurrency=concurrency, progress=False)
    total = time.perf_counter() - started
    assert result.counters.model_calls == len(plan.cells) and result.counters.errors == 0, result.counters
    return {"runner_s": result.counters.wall_s, "total_s": total, "calls": result.counters.model_calls}


async def bare_aiohttp(api_base: str, requests: int, concurrency: int) -> float:
    """The same requests from a bare aiohttp loop: the floor for any Python client."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        semaphore = asyncio.Semaphore(concurrency)

        async def one(index: int) -> None:
            body = {"model": "test-model", "max_tokens": 24, "temperature": 0.0,
                    "messages": [{"role": "user", "content": f"Input: item {index} word{index}"}]}
            async with semaphore, session.post(f"{api_base}/chat/completions", json=body) as response:
                await response.json()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(requests)))
        return time.perf_counter() - started


def lm_eval_run(api_base: str, suite_folder: Path, requests: int, concurrency: int) -> bool:
    """lm-evaluation-harness's local-chat-completions on a task built from the same items; False if absent."""
    if shutil.which("lm_eval") is None and importlib.util.find_spec("lm_eval") is None:
        return False
    tasks = suite_folder / "lm_eval_tasks"
    tasks.mkdir(exist_ok=True)
    (tasks / "echo_load.yaml").write_text(
        "task: echo_load\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        f"    test: {suite_folder / 'items.jsonl'}\ntest_split: test\noutput_type: generate_until\n"
        'doc_to_text: "Input: {{input}}"\ndoc_to_target: "{{target}}"\n'
        "generation_kwargs:\n  until: []\n  max_gen_toks: 24\n"
        "metric_list:\n  - metric: exact_match\n")

    def timed(limit: int) -> None:
        command = [sys.executable, "-m", "lm_eval", "--model", "local-chat-completions", "--model_args",
                   f"model=test-model,base_url={api_base}/chat/completions,num_concurrent={concurrency},"
                   "max_retries=1,tokenized_requests=False", "--tasks", "echo_load", "--include_path", str(tasks),
                   "--apply_chat_template", "--limit", str(limit)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=os.environ | {"OPENAI_API_KEY": "sk-loopback", "HF_DATASETS_OFFLINE": "1"})

    timed(requests)
    return True


def inspect_run(api_base: str, suite_folder: Path, requests: int, concurrency: int) -> bool:
    """inspect_ai's OpenAI provider pointed at the server, on the same items; False if absent."""
    if importlib.util.find_spec("inspect_ai") is None:
        return False
    task = suite_folder / "inspect_load.py"
    task.write_text(
        "from inspect_ai import Task, task\nfrom inspect_ai.dataset import json_dataset\n"
        "from inspect_ai.scorer import exact\nfrom inspect_ai.solver import generate\n\n"
        "@task\ndef echo_load():\n"
        f"    return Task(dataset=json_dataset({str(suite_folder / 'items.jsonl')!r}), solver=generate(),"
        " scorer=exact())\n")

    def timed(limit: int) -> None:
        command = [sys.executable, "-m", "inspect_ai", "eval", task.name, "--model", "openai/test-model",
                   "-M", "responses_api=false",
                   "--model-base-url", api_base, "--max-connections", str(concurrency), "--limit", str(limit),
                   "--max-tokens", "24", "--log-dir", str(suite_folder / "inspect-logs"), "--display", "none"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=suite_folder,
                       env=os.environ | {"OPENAI_API_KEY": "sk-loopback"})

    timed(requests)
    return True


def emoprompt_command(api_base: str, suite: Path, concurrency: int, folder: Path, report: bool) -> list[str]:
    """`emoprompt run` on the suite against the server, into a fresh run folder."""
    command = [sys.executable, "-m", "emoprompt", "run", "--model", "openai/test-model", "--api-base", api_base,
               "--suite", str(suite), "--condition", "baseline", "--limit", "all", "--concurrency", str(concurrency),
               "--no-progress", "--out", str(folder / f"cli-run-{time.monotonic_ns()}")]
    return command if report else [*command, "--no-report"]


def timed_process(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Seconds from spawn to exit of one command (its output discarded); it must succeed."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd, env=env)
    return time.perf_counter() - started


def whole_process(api_base: str, suite: Path, folder: Path, args: argparse.Namespace) -> dict[str, float]:
    """Spawn-to-exit seconds of each harness's command line against one server (best of `--trials`)."""
    base_env = os.environ | {"OPENAI_API_KEY": "sk-loopback", "HF_DATASETS_OFFLINE": "1",
                             "LITELLM_LOCAL_MODEL_COST_MAP": "True"}

    def emoprompt_env() -> dict[str, str]:
        return base_env | {"EMOPROMPT_CACHE_DIR": str(folder / f"cache-{time.monotonic_ns()}")}

    clients: dict[str, Any] = {
        "emoprompt run": lambda: timed_process(
            emoprompt_command(api_base, suite, args.concurrency, folder, True), ROOT, emoprompt_env()),
        "emoprompt run --no-report": lambda: timed_process(
            emoprompt_command(api_base, suite, args.concurrency, folder, False), ROOT, emoprompt_env()),
    }
    if not args.skip_peers and importlib.util.find_spec("lm_eval") is not None:
        clients["lm-eval"] = lambda: _timed(lambda: lm_eval_run(api_base, folder, args.requests, args.concurrency))
    if not args.skip_peers and importlib.util.find_spec("inspect_ai") is not None:
        clients["inspect-ai"] = lambda: _timed(lambda: inspect_run(api_base, folder, args.requests, args.concurrency))
    timings = {}
    for name, client in clients.items():
        timings[name] = min(client() for _ in range(args.trials))
    return timings


def _timed(action: Any) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def help_seconds(trials: int) -> float:
    """Best spawn-to-exit time of `emoprompt --help`."""
    return min(timed_process([sys.executable, "-m", "emoprompt", "--help"], ROOT, dict(os.environ))
               for _ in range(trials))


def server_span(api_base: str, reset: bool = False) -> tuple[int, float | None]:
    """(requests served, seconds from the first request's arrival to the last answer) since the last reset."""
    import urllib.request

    if reset:
        urllib.request.urlopen(urllib.request.Request(f"{api_base}/stats/reset", method="POST")).read()
        return 0, None
    with urllib.request.urlopen(f"{api_base}/stats") as response:
        stats = json.load(response)
    return int(stats["requests"]), stats["span_s"]


def measure(api_base: str, suite: Path, folder: Path, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Each client's load against one server: the server-side span, and emoprompt's own runner time."""
    clients: dict[str, Any] = {
        "aiohttp": lambda: asyncio.run(bare_aiohttp(api_base, args.requests, args.concurrency)),
        "emoprompt": lambda: emoprompt_run("openai/test-model", api_base, suite, args.concurrency, folder),
        "emoprompt-litellm": lambda: emoprompt_run("litellm/openai/test-model", api_base, suite, args.concurrency,
                                                   folder),
    }
    if not args.skip_peers:
        clients["lm-eval"] = lambda: lm_eval_run(api_base, folder, args.requests, args.concurrency)
        clients["inspect-ai"] = lambda: inspect_run(api_base, folder, args.requests, args.concurrency)
    results: dict[str, dict[str, float]] = {}
    warm_suite = write_suite(folder / "warm", 128, name="warm")
    asyncio.run(bare_aiohttp(api_base, 128, args.concurrency))  # in-process clients: first-use costs paid once
    emoprompt_run("openai/test-model", api_base, warm_suite, args.concurrency, folder)
    for name, client in clients.items():
        server_span(api_base, reset=True)
        outcome = client()
        if outcome is False:
            continue
        served, span = server_span(api_base)
        assert served == args.requests and span is not None, (name, served)
        results[name] = {"span_s": span}
        if isinstance(outcome, dict):
            results[name]["runner_s"] = outcome["runner_s"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--whole-process", action="store_true", help="also time each command line, spawn to exit")
    parser.add_argument("--trials", type=int, default=3, help="whole-process: best of this many runs")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    # Bytecode for emoprompt, as `pip install` writes it for a regular install (the peers have theirs in
    # site-packages); an editable checkout run with PYTHONDONTWRITEBYTECODE would otherwise compile on every start.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "emoprompt")], check=True,
                   stdout=subprocess.DEVNULL)
    ideal = args.requests * args.latency / args.concurrency
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        suite = write_suite(folder, args.requests)
        whole_loaded: dict[str, float] = {}
        whole_unloaded: dict[str, float] = {}
        with loopback_server(args.latency) as api_base:
            loaded = measure(api_base, suite, folder, args)
            if args.whole_process:
                whole_loaded = whole_process(api_base, suite, folder, args)
        with loopback_server(0.0) as api_base:
            unloaded = measure(api_base, suite, folder, args)
            if args.whole_process:
                whole_unloaded = whole_process(api_base, suite, folder, args)
    clients = {}
    for client, entry in loaded.items():
        zero = unloaded[client]
        clients[client] = {
            "wall_s": round(entry["span_s"], 3), "over_ideal": round(entry["span_s"] / ideal, 3),
            "zero_latency_s": round(zero["span_s"], 3),
            "requests_per_s_at_zero_latency": round(args.requests / zero["span_s"]),
        }
        if "runner_s" in entry:
            clients[client]["runner_s"] = round(entry["runner_s"], 3)
            clients[client]["runner_over_ideal"] = round(entry["runner_s"] / ideal, 3)
            clients[client]["runner_requests_per_s_at_zero_latency"] = round(args.requests / zero["runner_s"])
    print("\nclient               wall/ideal   req/s at L=0")
    for client, entry in clients.items():
        print(f"{client:20} {entry['over_ideal']:>10}   {entry['requests_per_s_at_zero_latency']:>10}")
    whole = {name: {"wall_s": round(seconds, 3), "over_ideal": round(seconds / ideal, 3),
                    "zero_latency_s": round(whole_unloaded[name], 3),
                    "requests_per_s_at_zero_latency": round(args.requests / whole_unloaded[name]),
                    "fixed_cost_s": round(whole_unloaded[name] - unloaded["emoprompt"]["span_s"], 3)
                    if name.startswith("emoprompt") else None}
             for name, seconds in whole_loaded.items()}
    if whole:
        print("\nwhole process, spawn to exit")
        print("command                      wall/ideal   req/s at L=0")
        for name, entry in whole.items():
            print(f"{name:28} {entry['over_ideal']:>10}   {entry['requests_per_s_at_zero_latency']:>10}")
        print(f"emoprompt --help             {help_seconds(args.trials):.3f} s")
    save("harness_overhead", {
        "requests": args.requests, "concurrency": args.concurrency, "latency_s": args.latency,
        "ideal_s": round(ideal, 3), "clients": clients,
        "whole_process": whole or None,
        "help_s": round(help_seconds(args.trials), 3) if whole else None,
        "peers_missing": [p for p in ("lm-eval", "inspect-ai") if p not in clients],
        "note": ("wall_s is measured at the server: first request's arrival to the last answer, the same for every "
                 "client (start-up excluded). runner_s is emoprompt's own runner time (cache and records writes "
                 "included, fresh cache)."),
    })


if __name__ == "__main__":
    main()
