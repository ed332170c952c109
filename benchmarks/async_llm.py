"""The async cascade with an LLM layer on 127.0.0.1: concurrency, the event loop's stalls, cancellation.

    python -m benchmarks.async_llm [--calls 200] [--cap 50] [--delay 0.2]

An OpenAI-compatible server on 127.0.0.1 answers every request after ``--delay`` seconds. The
default cascade with an LLM layer (concurrency cap ``--cap``) routes ``--calls`` utterances no
earlier layer decides, all at once with ``aroute``, while a ticker task wakes every millisecond
and records how late it is (the event loop's stalls) and the classifier routes utterances it
decides (with the garbage collector's longest pass meanwhile). Then as many calls with the sync
``route`` in threads, and the same requests from a bare httpx client (the floor the HTTP stack and
the server set), for comparison; then 100 in-flight ``aroute`` calls cancelled: open connections
and pending tasks after, and the next call; then ``aroute_batch`` of 5,000 utterances beside
``route_batch``, with the loop's stalls meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import intentroute
from intentroute.cascade import Cascade
from intentroute.layers.llm import LLMLayer
from intentroute.types import Policy
from tests.llm_server import ChatServer, Reply, verdict
from tests.test_async import established_to


async def ticker(stalls: list[float], stop: asyncio.Event) -> None:
    """Wake every millisecond and record how late it woke."""
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(0.001)
        stalls.append(time.perf_counter() - t0 - 0.001)


@contextlib.contextmanager
def collector_passes() -> Iterator[list[float]]:
    """The seconds each pass of the garbage collector takes within the block."""
    passes: list[float] = []
    began = [0.0]

    def collector(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            passes.append(time.perf_counter() - began[0])

    gc.callbacks.append(collector)
    try:
        yield passes
    finally:
        gc.callbacks.remove(collector)


@contextlib.asynccontextmanager
async def watched() -> AsyncIterator[tuple[list[float], list[float]]]:
    """Within the block, the ticker's lateness (the loop's stalls) and the collector's passes."""
    stop = asyncio.Event()
    stalls: list[float] = []
    tick = asyncio.create_task(ticker(stalls, stop))
    with collector_passes() as passes:
        try:
            yield stalls, passes
        finally:
            stop.set()
            await tick


async def run(cascade: Cascade, calls: int) -> tuple[float, list[float], list[float], int, float]:
    async with watched() as (stalls, passes):
        t0 = time.perf_counter()
        llm = [asyncio.create_task(cascade.aroute(f"tell me a story number {i}")) for i in range(calls)]
        fast: list[float] = []
        await asyncio.sleep(0.02)
        for text in ["what's my cash balance", "how did AAPL do this year", "show my positions"] * 30:
            a = time.perf_counter()
            await cascade.aroute(text)
            fast.append((time.perf_counter() - a) * 1e6)
            await asyncio.sleep(0)
        routes = await asyncio.gather(*llm)
        seconds = time.perf_counter() - t0
    return seconds, stalls, fast, sum(r.layer == "llm" for r in routes), max(passes, default=0.0)


async def bare_http(url: str, layer: LLMLayer, calls: int, cap: int) -> float:
    """Seconds for ``calls`` requests of the same body with a bare httpx client, ``cap`` at a time:
    the floor the HTTP stack and the server set, with no SDK and no cascade."""
    import httpx

    body = {k: v for k, v in layer._request("tell me a story", None, 30).items() if k != "timeout"}
    slots = asyncio.Semaphore(cap)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=cap), timeout=30) as client:

        async def one() -> None:
            async with slots:
                (await client.post(f"{url}/chat/completions", json=body)).json()

        await one()
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(calls)))
        return time.perf_counter() - t0


async def cancel(cascade: Cascade, server: ChatServer, port: int) -> tuple[int, int, str]:
    server.default = Reply(200, verdict("facts", 0.9), delay=2.0)
    tasks = [asyncio.create_task(cascade.aroute(f"question to cancel {i}")) for i in range(100)]
    while server.active < min(100, cascade.layers[-1].max_concurrency):  # type: ignore[attr-defined]
        await asyncio.sleep(0.01)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0.05)
    pending = len([t for t in asyncio.all_tasks() if t is not asyncio.current_task()])
    server.default = Reply(200, verdict("facts", 0.9))
    return established_to(port), pending, (await cascade.aroute("a question after")).layer


SERVER = """
import sys, time
from tests.llm_server import ChatServer, Reply, verdict
with ChatServer() as server:
    # keep-alive, as an LLM server keeps its connections (http.server closes each by default)
    server.httpd.RequestHandlerClass.protocol_version = "HTTP/1.1"
    server.default = Reply(200, verdict("facts", 0.9), delay=float(sys.argv[1]))
    print(server.url, flush=True)
    sys.stdin.read()  # until the benchmark closes its end
"""


async def batch(cascade: Cascade, texts: list[str]) -> tuple[float, list[float], float]:
    """``aroute_batch`` of ``texts`` (every layer inline) while the ticker runs: seconds, stalls,
    and the longest pass of the garbage collector meanwhile."""
    async with watched() as (stalls, passes):
        await asyncio.sleep(0.005)
        t0 = time.perf_counter()
        routes = await cascade.aroute_batch(texts)
        seconds = time.perf_counter() - t0
        del routes
    return seconds, stalls, max(passes, default=0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--cap", type=int, default=50)
    ap.add_argument("--delay", type=float, default=0.2)
    args = ap.parse_args()
    base = intentroute.default_cascade()
    # the server in its own process, as a real one would be: its threads do not share this
    # process's interpreter with the event loop being measured
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(args.delay)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        layer = LLMLayer(base_url=url, api_key="sk-bench", max_concurrency=args.cap, cache_size=0)
        cascade = Cascade([*base.layers, layer], [*base.policies, Policy(0.5)], extractor=base.extractor)

        async def measured() -> tuple[float, list[float], list[float], int, float]:
            await cascade.aroute("a first question, to warm up")  # (imports the SDK, opens the client)
            return await run(cascade, args.calls)

        seconds, stalls, fast, answered, collected = asyncio.run(measured())
        p99 = sorted(stalls)[int(0.99 * len(stalls))]
        late = sum(1 for x in stalls if x > 0.005)
        print(f"{args.calls} concurrent aroute calls, LLM answering in {args.delay:g} s, cap {args.cap}:")
        print(
            f"  all done in {seconds:.2f} s ({args.calls / args.cap:.0f} rounds of {args.delay:g} s = "
            f"{args.calls / args.cap * args.delay:.2f} s); answered by the LLM: {answered}"
        )
        print(
            f"  event loop's largest stall {max(stalls) * 1000:.1f} ms (p99 {p99 * 1000:.2f} ms, "
            f"{len(stalls)} ticks, {late} of them over 5 ms); the garbage collector's longest pass "
            f"{collected * 1000:.1f} ms"
        )
        print(
            f"  classifier-decided aroute while the LLM calls were in flight: p50 "
            f"{statistics.median(fast):.0f} us, max {max(fast):.0f} us ({len(fast)} calls)"
        )
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.cap) as pool:
            list(pool.map(cascade.route, [f"a sync story number {i}" for i in range(args.calls)]))
        print(f"  the same with route() in {args.cap} threads: {time.perf_counter() - t0:.2f} s")
        floor = asyncio.run(bare_http(url, layer, args.calls, args.cap))
        print(f"  the same requests from a bare httpx client, {args.cap} at a time (no SDK, no cascade): {floor:.2f} s")
    finally:
        proc.kill()
    with ChatServer() as server:  # (here: the test needs to see the server's requests in flight)
        server.default = Reply(200, verdict("facts", 0.9), delay=2.0)
        layer = LLMLayer(base_url=server.url, api_key="sk-bench", max_concurrency=args.cap, cache_size=0)
        cascade = Cascade([*base.layers, layer], [*base.policies, Policy(0.5)], extractor=base.extractor)
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        open_now, pending, layer_after = asyncio.run(cancel(cascade, server, port))
        print(
            f"100 in-flight aroute calls cancelled: open connections after {open_now}, pending tasks {pending}, "
            f"next call answered by {layer_after}"
        )
    phrasings = ["what's my cash balance", "how did AAPL do this year", "show my positions", "price of msft", "hi"]
    texts = [f"{t} {i}" for i, t in enumerate(phrasings * 1000)]
    t0 = time.perf_counter()
    base.route_batch(texts)
    sync = time.perf_counter() - t0
    seconds, stalls, collected = asyncio.run(batch(base, texts))
    print(
        f"aroute_batch of {len(texts):,} utterances (the default cascade, all inline): {len(texts) / seconds:,.0f}/s "
        f"(route_batch {len(texts) / sync:,.0f}/s, which holds the loop {sync * 1000:.0f} ms)"
    )
    print(
        f"  event loop's stalls meanwhile: median {statistics.median(stalls) * 1000:.1f} ms, largest "
        f"{max(stalls) * 1000:.1f} ms ({len(stalls)} ticks); the garbage collector's longest pass "
        f"{collected * 1000:.1f} ms (paused during the batch, as in route_batch)"
    )


if __name__ == "__main__":
    main()
