"""intentroute.pacing: coroutines routing inline take turns with the event loop's other work.

The clock the slices are measured with is replaced by one the test advances, so what is checked
is the rule (how much work one loop iteration runs, in which order, that nobody is starved or
left waiting), not how fast this machine is."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentroute import pacing
from intentroute.pacing import SLICE_SECONDS, fair_share


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    c = Clock()
    monkeypatch.setattr(pacing, "time", types.SimpleNamespace(perf_counter=c.perf_counter))
    yield c


async def run_all(clock: Clock, jobs: list[tuple[bool, float]]) -> tuple[list[int], list[list[int]]]:
    """Start every job at once (background?, seconds of work after its turn); return the order
    they worked in and which worked in each loop iteration."""
    loop = asyncio.get_running_loop()
    order: list[int] = []
    iterations: list[list[int]] = [[]]
    done = False

    def tick() -> None:  # (runs once per loop iteration)
        iterations.append([])
        if not done:
            loop.call_soon(tick)

    async def job(i: int, background: bool, work: float) -> None:
        await fair_share(background=background)
        order.append(i)
        iterations[-1].append(i)
        clock.now += work

    loop.call_soon(tick)
    await asyncio.gather(*(job(i, bg, w) for i, (bg, w) in enumerate(jobs)))
    done = True
    return order, [it for it in iterations if it]


def test_a_call_alone_never_waits(clock: Clock) -> None:
    async def main() -> None:
        coro = fair_share()
        with pytest.raises(StopIteration):  # (finished at its first step: it never yielded)
            coro.send(None)
        clock.now += 1.0  # (a long slice, but the next iteration's call is alone again)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        coro = fair_share()
        with pytest.raises(StopIteration):
            coro.send(None)

    asyncio.run(main())


def test_a_burst_runs_a_slice_per_loop_iteration_in_order_of_arrival(clock: Clock) -> None:
    work = SLICE_SECONDS * 0.3
    order, iterations = asyncio.run(run_all(clock, [(False, work)] * 40))
    assert order == list(range(40))
    assert [len(it) for it in iterations] == [4] * 10  # (each starts while its slice has room)
    for it in iterations:
        assert (len(it) - 1) * work < SLICE_SECONDS  # (the last one may start just before the slice ends)


def test_background_work_waits_behind_routing_but_is_never_starved(clock: Clock) -> None:
    work = SLICE_SECONDS / 3
    jobs = [(True, work)] * 10 + [(False, work)] * 30  # the background jobs arrive first
    order, iterations = asyncio.run(run_all(clock, jobs))
    assert sorted(order) == list(range(40))
    routing = [i for i in order if i >= 10]
    assert routing == sorted(routing)
    # the routing jobs go first, with one background job let through per turn
    last_routing = order.index(routing[-1])
    assert sum(1 for i in order[:last_routing] if i < 10) <= len(iterations)
    assert order[last_routing + 1 :] == sorted(order[last_routing + 1 :])


@settings(max_examples=60, deadline=None)
@given(
    jobs=st.lists(st.tuples(st.booleans(), st.floats(0, 0.004), st.booleans()), min_size=1, max_size=60),
)
def test_cancelled_waiters_never_leave_the_others_waiting(jobs: list[tuple[bool, float, bool]]) -> None:
    clock = Clock()
    original = pacing.time
    pacing.time = types.SimpleNamespace(perf_counter=clock.perf_counter)  # type: ignore[assignment]
    try:

        async def main() -> list[int]:
            finished: list[int] = []

            async def job(i: int, background: bool, work: float) -> None:
                await fair_share(background=background)
                clock.now += work
                finished.append(i)

            tasks = [asyncio.create_task(job(i, bg, w)) for i, (bg, w, _) in enumerate(jobs)]
            await asyncio.sleep(0)
            await asyncio.sleep(0)  # (some have had their turn, some are woken, some wait)
            for task, (_, _, cancel) in zip(tasks, jobs, strict=True):
                if cancel:
                    task.cancel()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
            return finished

        finished = asyncio.run(main())
        kept = {i for i, (_, _, cancel) in enumerate(jobs) if not cancel}
        assert kept <= set(finished)
    finally:
        pacing.time = original  # type: ignore[assignment]


def test_the_slice_is_read_at_each_call(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pacing, "SLICE_SECONDS", 0.01)
    work = 0.003
    order, iterations = asyncio.run(run_all(clock, [(False, work)] * 8))
    assert order == list(range(8)) and [len(it) for it in iterations] == [4, 4]
