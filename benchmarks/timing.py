"""Latency and throughput as every benchmark here reports them."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def p50_us(fn: Callable[[str], Any], texts: list[str], passes: int = 5) -> float:
    """Median single-call time over ``texts``; the best of ``passes`` passes (this VM's timings
    wander by tens of percent between passes, as timeit's documentation advises for any machine)."""
    return quantiles_us(fn, texts, passes)[0]


def quantiles_us(fn: Callable[[str], Any], texts: list[str], passes: int = 5) -> tuple[float, float]:
    """p50 and p99 single-call times over ``texts``, of the pass with the lowest median."""
    for t in texts[:50]:
        fn(t)
    best: list[float] = []
    for _ in range(passes):
        times = []
        for t in texts:
            t0 = time.perf_counter_ns()
            fn(t)
            times.append((time.perf_counter_ns() - t0) / 1000)
        times.sort()
        if not best or times[len(times) // 2] < best[len(best) // 2]:
            best = times
    return round(best[len(best) // 2], 1), round(best[min(len(best) - 1, int(0.99 * len(best)))], 1)


def one_pass_us(fn: Callable[[str], Any], texts: list[str]) -> list[float]:
    """Microseconds of each call in one pass over ``texts``, each text seen for the first time
    (no warm-up on them: one call on a text not among them pays the one-off set-up costs). What
    caches of per-word scores do not yet hold costs its full price here, as it would for a
    user's first messages."""
    fn("warm up")
    times = []
    for t in texts:
        t0 = time.perf_counter_ns()
        fn(t)
        times.append((time.perf_counter_ns() - t0) / 1000)
    return times


def first_pass_us(fn: Callable[[str], Any], texts: list[str]) -> dict[str, float]:
    """Median and mean of :func:`one_pass_us`."""
    times = one_pass_us(fn, texts)
    return {"p50": round(statistics.median(times), 1), "mean": round(statistics.mean(times), 1)}


def throughput(fn: Callable[[list[str]], Any], texts: list[str], n: int = 20000, passes: int = 3) -> int:
    """Utterances per second for one call on ``n`` texts; the best of ``passes`` calls."""
    batch = (texts * (n // len(texts) + 1))[:n]
    best = float("inf")
    for _ in range(passes):
        t0 = time.perf_counter()
        fn(batch)
        best = min(best, time.perf_counter() - t0)
    return round(n / best)
