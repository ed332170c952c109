"""The LLM layer against a real chat-completions server on 127.0.0.1, through the real openai SDK."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import intentroute
from intentroute import Cascade, Policy
from intentroute.errors import ConfigError, LayerUnavailable
from intentroute.layers.llm import LLMLayer, parse_verdict

from .llm_server import ChatServer, Reply, completion, verdict

pytest.importorskip("openai")


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as s:
        yield s


def layer_for(server: ChatServer, **kwargs: Any) -> LLMLayer:
    params: dict[str, Any] = {
        "base_url": server.url,
        "api_key": "test",
        "model": "test-model",
        "timeout": 2.0,
        "deadline": 5.0,
        "backoff": 0.01,
    }
    params.update(kwargs)
    return LLMLayer(**params)


def route_with(layer: LLMLayer, text: str) -> intentroute.Route:
    return Cascade([layer], {"llm": Policy(0.5)}).route(text)


def test_a_correct_answer_is_a_candidate_with_usage_latency_and_model(server: ChatServer) -> None:
    server.replies.append(Reply(200, verdict("quotes", 0.87)))
    result = layer_for(server).route("what's tsla at")
    assert [(c.intent, c.score) for c in result.candidates] == [("quotes", 0.87)]
    assert result.meta["model"] == "test-model" and result.meta["usage"]["total_tokens"] == 132
    assert result.meta["latency_ms"] >= 0 and result.meta["attempts"] == 1
    sent = server.requests[0]
    assert sent["model"] == "test-model" and sent["temperature"] == 0.0
    assert "quotes: The current market price" in sent["messages"][0]["content"]
    schema = sent["response_format"]["json_schema"]["schema"]
    assert "none" in schema["properties"]["intent"]["enum"] and "quotes" in schema["properties"]["intent"]["enum"]
    assert sent["messages"][-1] == {"role": "user", "content": "what's tsla at"}


def test_the_cascade_checks_the_llm_confidence_like_any_layer(server: ChatServer) -> None:
    server.replies.append(Reply(200, verdict("quotes", 0.3)))
    route = route_with(layer_for(server), "price?")
    assert route.intent == "clarify" and "score 0.300 < threshold 0.500" in route.trace[0].reason


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(200, verdict("weather", 0.99)), "label 'weather' is not one of the intents"),
        (Reply(200, completion('{"intent": "quotes", "confidence": ')), "malformed JSON"),
        (Reply(200, completion("I think it is quotes.")), "no JSON object"),
        (Reply(200, completion("")), "empty answer"),
        (Reply(200, completion(None, refusal="I can't help with that")), "the model refused"),
        (Reply(200, verdict("none", 0.9)), "none of the intents fits"),
        (Reply(200, completion('{"intent": "quotes"}')), "no usable confidence"),
        (Reply(401, {"error": {"message": "bad key"}}), "HTTP 401"),
        (Reply(200, "this is not JSON at all"), "Error"),
    ],
)
def test_every_bad_answer_makes_the_layer_abstain_with_the_reason(
    server: ChatServer, reply: Reply, reason: str
) -> None:
    server.replies.append(reply)
    route = route_with(layer_for(server, max_retries=0), "quote for tsla")
    assert route.intent == "clarify"
    assert route.trace[0].outcome == "abstained" and reason in route.trace[0].reason
    json.dumps(route.to_dict())


def test_a_slow_server_is_cut_off_at_the_timeout(server: ChatServer) -> None:
    server.replies.append(Reply(200, verdict("quotes", 0.9), delay=3.0))
    t0 = time.monotonic()
    route = route_with(layer_for(server, timeout=0.5, deadline=5.0), "quote for tsla")
    elapsed = time.monotonic() - t0
    assert elapsed < 0.5 + 0.7, elapsed
    assert route.intent == "clarify" and "timed out" in route.trace[0].reason
    assert len(server.requests) == 1


def test_429_then_success_retries_once(server: ChatServer) -> None:
    server.replies.extend(
        [
            Reply(429, {"error": {"message": "slow down"}}, headers={"retry-after": "0"}),
            Reply(200, verdict("transfers", 0.8)),
        ]
    )
    result = layer_for(server).route("when does my deposit land")
    assert result.top is not None and result.top.intent == "transfers"
    assert result.meta["attempts"] == 2 and len(server.requests) == 2


@pytest.mark.parametrize("header", ["-5", "nan", "soon"])
def test_a_retry_after_that_is_not_a_usable_wait_falls_back_to_the_backoff(server: ChatServer, header: str) -> None:
    server.replies.extend(
        [
            Reply(429, {"error": {"message": "slow down"}}, headers={"retry-after": header}),
            Reply(200, verdict("transfers", 0.8)),
        ]
    )
    result = layer_for(server, backoff=0.01).route("when does my deposit land")
    assert result.top is not None and result.top.intent == "transfers"
    assert result.meta["attempts"] == 2


def test_500_on_every_try_gives_up_after_bounded_attempts(server: ChatServer) -> None:
    server.default = Reply(500, {"error": {"message": "boom"}})
    route = route_with(layer_for(server, max_retries=2), "quote for tsla")
    assert len(server.requests) == 3
    assert route.intent == "clarify" and "gave up after 3 attempts: HTTP 500" in route.trace[0].reason


def test_retry_after_beyond_the_deadline_is_not_waited_for(server: ChatServer) -> None:
    server.default = Reply(503, {"error": {"message": "later"}}, headers={"retry-after": "30"})
    t0 = time.monotonic()
    route = route_with(layer_for(server, deadline=1.0), "quote for tsla")
    assert time.monotonic() - t0 < 1.0
    assert "leaves no time to retry" in route.trace[0].reason


def test_connection_refused_is_an_abstention() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    layer = LLMLayer(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=1, backoff=0.01, timeout=1.0)
    route = route_with(layer, "quote for tsla")
    assert route.intent == "clarify" and "connection error" in route.trace[0].reason
    assert route.trace[0].outcome == "abstained"


def test_the_cache_serves_a_repeat_without_a_request(server: ChatServer) -> None:
    layer = layer_for(server)
    first = layer.route("Quote for TSLA?")
    again = layer.route("quote for tsla")  # same normalised utterance
    assert len(server.requests) == 1
    assert again.candidates == first.candidates and again.meta["cached"] is True and first.meta["cached"] is False


def test_cache_is_bounded(server: ChatServer) -> None:
    layer = layer_for(server, cache_size=2)
    for text in ("one", "two", "three", "one"):
        layer.route(text)
    assert len(server.requests) == 4 and layer.status()["cache_entries"] == 2


def test_a_server_without_structured_output_is_asked_in_words(server: ChatServer) -> None:
    def no_schema(body: dict[str, Any]) -> Reply:
        if "response_format" in body:
            return Reply(400, {"error": {"message": "response_format is not supported"}})
        return Reply(200, completion('Sure! {"intent": "facts", "confidence": "0.8"}'))

    server.default = no_schema  # type: ignore[assignment]
    layer = layer_for(server)
    result = layer.route("what is an etf")
    assert result.top is not None and (result.top.intent, result.top.score) == ("facts", 0.8)
    assert [("response_format" in r) for r in server.requests] == [True, False]
    layer.route("what is a bond")
    assert "response_format" not in server.requests[-1] and layer.status()["structured_output"] is False


def test_few_shot_examples_are_sent_and_checked(server: ChatServer) -> None:
    layer = layer_for(server, examples=[("whats aapl at", "quotes")])
    layer.route("price of msft")
    roles = [m["role"] for m in server.requests[0]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    with pytest.raises(ConfigError, match="example 'x' has intent 'weather'"):
        layer_for(server, examples=[("x", "weather")])


def test_verdicts_are_logged_for_review(server: ChatServer, tmp_path: Path) -> None:
    log = tmp_path / "escalations.jsonl"
    layer = layer_for(server, log_file=log)
    layer.route("what's tsla at")
    layer.route("what's tsla at")  # cached: not logged twice
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert rows == [
        {"text": "what's tsla at", "intent": "quotes", "confidence": 0.9, "model": "test-model", "source": "llm"}
    ]


def test_without_key_or_endpoint_the_layer_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("INTENTROUTE_LLM_BASE_URL", raising=False)
    layer = LLMLayer()
    with pytest.raises(LayerUnavailable, match="no OPENAI_API_KEY"):
        layer.route("x")


def test_the_default_cascade_adds_the_llm_only_when_configured(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("INTENTROUTE_LLM_BASE_URL", raising=False)
    assert intentroute.default_cascade().layer_names == ["rules", "torch_bow"]
    monkeypatch.setenv("INTENTROUTE_LLM_BASE_URL", server.url)
    monkeypatch.setenv("INTENTROUTE_LLM_MODEL", "test-model")
    cascade = intentroute.default_cascade()
    assert cascade.layer_names == ["rules", "torch_bow", "llm"] and cascade.policy_for("llm") == Policy(0.5)
    server.replies.append(Reply(200, verdict("none", 0.95)))
    route = cascade.route("zxqv blorp")  # no rule, no known word: only the LLM is asked
    assert route.intent == "clarify" and [s.layer for s in route.trace] == ["rules", "torch_bow", "llm"]
    assert "none of the intents fits" in route.trace[2].reason
    server.replies.append(Reply(200, verdict("quotes", 0.92)))
    decided = cascade.route("blorp $ZXQV")
    assert (decided.intent, decided.layer, decided.extracted) == ("quotes", "llm", {"symbol": "ZXQV"})
    assert decided.meta["usage"]["total_tokens"] == 132


def test_parse_verdict_is_tolerant_but_strict_about_labels() -> None:
    assert parse_verdict('{"intent": " quotes ", "confidence": 1.7}', ["quotes"]) == ("quotes", 1.0, "ok")
    assert parse_verdict('[{"intent": "quotes"}]', ["quotes"])[0] is None
    assert parse_verdict('{"intent": "quotes", "confidence": true}', ["quotes"])[0] is None


def test_without_the_llm_extra_the_layer_is_unavailable_with_the_pip_hint() -> None:
    code = """
import sys, importlib.util
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "openai" or name.startswith("openai."):
            raise ImportError("blocked")
sys.meta_path.insert(0, Block())
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "openai" else real(name, *a)
import os
os.environ["OPENAI_API_KEY"] = "sk-test"
import intentroute
from intentroute.plugins import layer_registry
reason = layer_registry()["llm"].availability()
assert reason and "pip install 'intentroute[llm]'" in reason, reason
route = intentroute.default_cascade().route("zxqv blorp")
step = route.trace[-1]
assert step.layer == "llm" and step.outcome == "unavailable" and "pip install" in step.reason, step
assert intentroute.default_cascade().route("what's tsla trading at").intent == "quotes"
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_a_server_that_drips_its_answer_cannot_hold_a_route_past_the_deadline(server: ChatServer) -> None:
    # each byte comes well within the read timeout, so only a deadline over the whole call stops it:
    # the answer takes ~30 s to arrive, the deadline is 1 s (the bound asserted is generous on purpose)
    server.default = Reply(200, verdict("quotes", 0.9), drip=0.1)
    layer = layer_for(server, timeout=1.0, deadline=1.0)
    t0 = time.monotonic()
    route = route_with(layer, "quote for tsla")
    assert time.monotonic() - t0 < 6.0
    assert route.intent == "clarify" and "deadline of 1s reached" in route.trace[0].reason
    assert layer.status()["cache_entries"] == 0 and layer.status()["failures"] == 1


def test_concurrent_routes_asking_the_same_question_make_one_request(server: ChatServer) -> None:
    # single flight: 8 threads x 5 distinct questions, each answer slow enough for all to overlap
    server.default = Reply(200, verdict("quotes", 0.9), delay=0.3)
    layer = layer_for(server)
    questions = [f"quote for symbol number {i}" for i in range(5)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(layer.route, [q for q in questions for _ in range(8)]))
    assert all(r.top is not None and r.top.intent == "quotes" for r in results)
    assert len(server.requests) == len(questions)
