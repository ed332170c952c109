"""The async cascade (aroute, aroute_batch) and the LLM layer's async path, against a real HTTP
server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import intentroute
from intentroute.cascade import Cascade
from intentroute.layers.llm import LLMLayer
from intentroute.types import Policy
from tests.llm_server import ChatServer, Reply, verdict

CASCADE = intentroute.default_cascade()
TEXTS = [
    "what's my cash balance",
    "how did AAPL do this year",
    "show my positions",
    "hello there",
    "how much is my roth worth",
    "what's the price of apple and tsla",
    "asdf qwer",
    "",
]


def established_to(port: int) -> int:
    """Client sockets of this machine connected to ``port`` (ESTABLISHED in /proc/net/tcp)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state = fields[2], fields[3]
        if state == "01" and int(remote.split(":")[1], 16) == port:
            count += 1
    return count


def test_aroute_and_aroute_batch_answer_as_route_and_route_batch() -> None:
    async def main() -> tuple[list[intentroute.Route], list[intentroute.Route]]:
        single = [await CASCADE.aroute(t) for t in TEXTS]
        return single, await CASCADE.aroute_batch(TEXTS, allowed=None)

    single, batch = asyncio.run(main())
    for t, a, b in zip(TEXTS, single, batch, strict=True):
        r = CASCADE.route(t)
        assert (a.intent, a.layer, a.confidence, a.extracted, a.missing_params) == (
            r.intent,
            r.layer,
            r.confidence,
            r.extracted,
            r.missing_params,
        )
        assert [s.outcome for s in a.trace] == [s.outcome for s in r.trace]
        assert (b.intent, b.layer) == (r.intent, r.layer)
    restricted = asyncio.run(CASCADE.aroute(TEXTS[1], allowed=["quotes", "performance"]))
    assert restricted.intent == CASCADE.route(TEXTS[1], allowed=["quotes", "performance"]).intent


def llm_cascade(server: ChatServer, **params: object) -> Cascade:
    layer = LLMLayer(base_url=server.url, api_key="sk-test", timeout=5, deadline=5, **params)  # type: ignore[arg-type]
    return Cascade([*CASCADE.layers, layer], [*CASCADE.policies, Policy(0.5)], extractor=CASCADE.extractor)


def test_the_llm_layer_answers_on_the_event_loop_with_its_cap_cache_and_single_flight() -> None:
    with ChatServer() as server:
        server.default = Reply(200, verdict("facts", 0.9), delay=0.2)
        cascade = llm_cascade(server, max_concurrency=5)

        async def main() -> tuple[list[intentroute.Route], float]:
            t0 = time.perf_counter()
            routes = await asyncio.gather(*(cascade.aroute(f"tell me something {i}") for i in range(20)))
            return routes, time.perf_counter() - t0

        routes, seconds = asyncio.run(main())
        assert all(r.intent == "facts" and r.layer == "llm" for r in routes)
        assert server.max_active <= 5 and len(server.requests) == 20  # the cap held
        assert seconds >= 4 * 0.2 * 0.9  # 20 requests of 0.2 s, 5 at a time

        async def again() -> list[intentroute.Route]:
            same = [cascade.aroute("one question asked by ten") for _ in range(10)]
            return [*await asyncio.gather(*same), await cascade.aroute("tell me something 3")]

        before = len(server.requests)
        routes = asyncio.run(again())
        assert len(server.requests) == before + 1  # ten identical questions, one request; then the cache
        assert routes[-1].meta.get("cached") is True and all(r.intent == "facts" for r in routes)


def test_the_deadline_bounds_an_async_route() -> None:
    with ChatServer() as server:
        server.default = Reply(200, verdict("facts", 0.9), delay=3.0)
        cascade = llm_cascade(server)
        cascade.layers[-1].deadline = 0.3  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        route = asyncio.run(cascade.aroute("tell me a story"))
        assert time.perf_counter() - t0 < 2.0
        assert route.intent == "clarify" and "deadline" in route.trace[-1].reason


@pytest.mark.parametrize("reading", [False, True], ids=["waiting for the answer", "reading its body"])
def test_cancelled_routes_leave_no_connection_no_task_and_no_cache_entry(reading: bool) -> None:
    with ChatServer() as server:
        # (reading: the headers come at once, then the body a byte every 20 ms)
        server.default = Reply(200, verdict("facts", 0.9), delay=0.0 if reading else 1.0, drip=0.02 if reading else 0)
        cascade = llm_cascade(server, max_concurrency=50)
        layer = cascade.layers[-1]
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])

        async def main() -> tuple[int, int, intentroute.Route]:
            tasks = [asyncio.create_task(cascade.aroute(f"question {i}")) for i in range(30)]
            while server.active < 30:
                await asyncio.sleep(0.01)
            if reading:
                await asyncio.sleep(0.2)  # (every answer's headers are in; its body is arriving)
            for t in tasks:
                t.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results)
            await asyncio.sleep(0.05)
            open_now = established_to(port)
            pending = len([t for t in asyncio.all_tasks() if t is not asyncio.current_task()])
            server.default = Reply(200, verdict("facts", 0.9))
            return open_now, pending, await cascade.aroute("question 1")

        open_now, pending, after = asyncio.run(main())
        assert open_now == 0 and pending == 0
        assert after.intent == "facts" and after.meta.get("cached") is False  # nothing cached by a cancelled call
        assert all(not state.flights for state in layer._loops.values())  # type: ignore[attr-defined]


def test_a_classifier_answer_does_not_wait_for_llm_calls_in_flight() -> None:
    with ChatServer() as server:
        server.default = Reply(200, verdict("facts", 0.9), delay=0.5)
        cascade = llm_cascade(server, max_concurrency=50)

        async def main() -> list[str]:
            order: list[str] = []

            async def track(name: str, text: str) -> None:
                await cascade.aroute(text)
                order.append(name)

            slow = [asyncio.create_task(track("llm", f"tell me a story {i}")) for i in range(10)]
            await asyncio.sleep(0.05)  # the LLM requests are in flight
            await track("classifier", "what's my cash balance")
            await asyncio.gather(*slow)
            return order

        assert asyncio.run(main())[0] == "classifier"


def test_the_layers_own_client_is_one_per_event_loop_takes_turns_and_is_dropped_with_its_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    from intentroute import pacing
    from intentroute.layers import llm

    turns: list[bool] = []

    async def counted(seconds: float | None = None, *, background: bool = False) -> None:
        turns.append(background)
        await pacing.fair_share(seconds, background=background)

    monkeypatch.setattr(llm, "fair_share", counted)
    with ChatServer() as server:
        server.default = Reply(200, verdict("facts", 0.9))
        cascade = llm_cascade(server)
        layer = cascade.layers[-1]
        clients = []

        async def ask(text: str) -> str:
            route = await cascade.aroute(text)
            clients.append(layer._loops[asyncio.get_running_loop()].client)  # type: ignore[attr-defined]
            return route.layer

        assert asyncio.run(ask("tell me a story")) == "llm"
        # a turn before the request, before it is sent, for the body, around closing the answer
        # and before the verdict: all behind routing
        assert len(turns) >= 5 and all(turns)
        assert asyncio.run(ask("tell me another story")) == "llm"  # another loop: its own client
        assert clients[0] is not clients[1]
        clients.clear()
        gc.collect()
        assert len(layer._loops) == 0  # type: ignore[attr-defined]  # (the loops gone, their clients with them)


def test_a_long_aroute_batch_takes_turns_with_the_loop_and_answers_as_route_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import types

    from intentroute import cascade as cascade_module
    from intentroute import pacing

    texts = [f"{t} {i}" for i, t in enumerate(TEXTS * 25)] + ["show my positions " * 2000]
    restricted = {"allowed": ["quotes", "positions", "cash_balance"]}

    def answers(routes: list[intentroute.Route]) -> list[dict[str, object]]:
        out = []
        for route in routes:
            d = route.to_dict()
            for step in d["trace"]:
                step.pop("micros")  # (how long each layer took: the only thing that may differ)
            out.append(d)
        return out

    expected = answers(CASCADE.route_batch(texts))
    expected_restricted = answers(CASCADE.route_batch(texts, **restricted))
    ticks = {"now": 0.0}

    def perf_counter() -> float:  # (every look at the clock finds the slice spent: a turn per chunk)
        ticks["now"] += 1.0
        return ticks["now"]

    monkeypatch.setattr(pacing, "time", types.SimpleNamespace(perf_counter=perf_counter))

    async def main() -> tuple[list[dict[str, object]], list[dict[str, object]], int]:
        loop = asyncio.get_running_loop()
        turns = {"other": 0, "done": False}

        def other_work() -> None:  # (once per loop iteration while the batch runs)
            turns["other"] += 1
            if not turns["done"]:
                loop.call_soon(other_work)

        loop.call_soon(other_work)
        got = answers(await CASCADE.aroute_batch(texts))
        got_restricted = answers(await CASCADE.aroute_batch(texts, **restricted))
        turns["done"] = True
        return got, got_restricted, turns["other"]

    got, got_restricted, other = asyncio.run(main())
    assert got == expected and got_restricted == expected_restricted
    assert got[-1]["meta"]["truncated"] is True
    chunks = -(-len(texts) // cascade_module.ASYNC_CHUNK)
    assert other >= 2 * chunks - 2  # the loop's other work ran between the chunks


def test_aroute_all_answers_as_route_all_with_an_llm_part_awaited() -> None:
    texts = [
        "AAPL performance and price",
        "price of aapl, plus how is my portfolio doing, and my cash",
        "the bid and ask on aapl, and show my positions",
        "transfers in and out",
        "",
    ]

    def summary(routes: list[intentroute.Route]) -> list[tuple[object, ...]]:
        return [(r.intent, r.layer, r.confidence, r.extracted, r.missing_params, r.meta.get("part")) for r in routes]

    async def plain() -> list[list[intentroute.Route]]:
        return [await CASCADE.aroute_all(t) for t in texts] + [
            await CASCADE.aroute_all(texts[0], allowed=["quotes", "performance"])
        ]

    expected = [CASCADE.route_all(t) for t in texts] + [CASCADE.route_all(texts[0], allowed=["quotes", "performance"])]
    assert [summary(r) for r in asyncio.run(plain())] == [summary(r) for r in expected]
    with ChatServer() as server:
        server.default = Reply(200, verdict("facts", 0.9))
        cascade = llm_cascade(server, cache_size=0)
        text = "tell me about the weather on mars and show my positions"
        sync = cascade.route_all(text)
        got = asyncio.run(cascade.aroute_all(text))
        assert summary(got) == summary(sync)
        assert [(r.intent, r.layer) for r in got] == [("facts", "llm"), ("positions_list", "rules")]


def test_a_third_party_layers_aroute_and_aroute_within_are_awaited_and_their_failures_traced() -> None:
    from intentroute.types import Candidate, LayerResult

    class Asking:
        name = "asking"
        def __init__(self) -> None:
            self.restricted: list[frozenset[str]] = []

        def route(self, text: str) -> LayerResult:
            raise AssertionError("the async paths await aroute")

        async def aroute(self, text: str) -> object:
            await asyncio.sleep(0)
            if text == "boom":
                raise RuntimeError("it broke")
            if text == "odd":
                return "not a result"
            return LayerResult([Candidate("facts", 0.9)])

        async def aroute_within(self, text: str, allowed: frozenset[str]) -> LayerResult:
            self.restricted.append(allowed)
            return LayerResult([Candidate("facts", 0.9), Candidate("quotes", 0.8)])

    layer = Asking()
    cascade = Cascade([layer], [Policy(0.5)], labels=["facts", "quotes", "cash_balance"])

    async def main() -> list[intentroute.Route]:
        singles = [await cascade.aroute(t) for t in ("hello", "boom", "odd")]
        batch = await cascade.aroute_batch(["hello", "boom"])
        return [*singles, *batch, await cascade.aroute("hi", allowed=["quotes"])]

    hello, boom, odd, batch_hello, batch_boom, restricted = asyncio.run(main())
    assert hello.intent == batch_hello.intent == "facts" and hello.layer == "asking"
    for failed in (boom, batch_boom):
        assert failed.is_clarify and "RuntimeError: it broke" in failed.trace[0].reason
    assert odd.is_clarify and "returned str, not a LayerResult" in odd.trace[0].reason
    assert restricted.intent == "quotes" and layer.restricted == [frozenset({"quotes"})]  # (facts filtered out)
