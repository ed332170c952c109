"""route(text, allowed=..., exclude=...): every layer answers among the intents the call allows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import intentroute
from benchmarks.heldout import brokerage_templates
from intentroute.data import GeneratorConfig, generate
from intentroute.errors import ConfigError
from intentroute.layers.llm import LLMLayer
from intentroute.types import CLARIFY, Candidate, LayerResult

CASCADE = intentroute.default_cascade()
LABELS = sorted(CASCADE.labels or ())
HELD_OUT = [(e.text, e.intent) for e in generate(brokerage_templates(), GeneratorConfig(seed=7, split="template")).test]


@settings(max_examples=60)
@given(st.sampled_from(HELD_OUT), st.sets(st.sampled_from(LABELS), min_size=1))
def test_the_answer_is_always_among_the_allowed_intents_or_clarify(case: tuple[str, str], allowed: set[str]) -> None:
    text, _ = case
    route = CASCADE.route(text, allowed=allowed)
    assert route.intent in allowed | {CLARIFY}
    assert route.meta["allowed"] == sorted(allowed)
    for step in route.trace:
        assert step.restricted_to == tuple(sorted(allowed))
        assert all(c.intent in allowed for c in step.candidates)
    (batched,) = CASCADE.route_batch([text], allowed=allowed)
    assert (batched.intent, batched.layer) == (route.intent, route.layer)


@settings(max_examples=60)
@given(st.sampled_from(HELD_OUT), st.sets(st.sampled_from(LABELS), max_size=4))
def test_an_intent_restricted_away_is_never_returned(case: tuple[str, str], others: set[str]) -> None:
    text, gold = case
    excluded = ({gold} if gold in LABELS else set()) | others  # (at most 5 of the 11: some remain)
    assert CASCADE.route(text, exclude=excluded).intent not in excluded


def test_a_batch_restricted_routes_as_one_at_a_time() -> None:
    texts = [t for t, _ in HELD_OUT[:300]]
    allowed = {"quotes", "positions", "cash_balance"}
    batch = CASCADE.route_batch(texts, allowed=allowed)
    single = [CASCADE.route(t, allowed=allowed) for t in texts]
    assert [(r.intent, r.layer) for r in batch] == [(r.intent, r.layer) for r in single]
    for b, s in zip(batch, single, strict=True):
        assert b.confidence == pytest.approx(s.confidence, abs=1e-9)


def test_bad_restrictions_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="unknown intents \\['quote'\\]"):
        CASCADE.route("price of tsla", allowed=["quote"])
    with pytest.raises(ConfigError, match="unknown intents"):
        CASCADE.route_batch(["price of tsla"], exclude=["nope"])
    with pytest.raises(ConfigError, match="collection of intent names"):
        CASCADE.route("price of tsla", allowed="quotes")
    with pytest.raises(ConfigError, match="leaves no intent"):
        CASCADE.route("price of tsla", allowed=["quotes"], exclude=["quotes"])
    assert CASCADE.route("price of tsla", allowed=["quotes", CLARIFY]).meta["allowed"] == ["quotes"]


def test_the_classifier_renormalises_over_the_allowed_intents() -> None:
    layer = CASCADE.layers[1]
    scorer = layer.scorer  # type: ignore[attr-defined]
    text = "how much is my roth worth"
    full = dict(zip(scorer.labels, scorer.proba(text), strict=True))
    allowed = frozenset({"account_value", "cash_balance", "quotes"})
    result = layer.route_within(text, allowed)  # type: ignore[attr-defined]
    kept = sum(full[i] for i in allowed) + full["none"]
    top = result.candidates[0]
    assert top.intent == "account_value" and top.score == pytest.approx(full["account_value"] / kept)
    assert {c.intent for c in result.candidates} <= allowed | {"none"}


def test_a_layer_without_route_within_is_filtered() -> None:
    class Fixed:
        name = "fixed"

        def route(self, text: str) -> LayerResult:
            return LayerResult([Candidate("quotes", 0.9), Candidate("facts", 0.8)])

    cascade = intentroute.Cascade([Fixed()], labels=["quotes", "facts"])
    route = cascade.route("x", allowed=["facts"])
    assert route.intent == "facts" and route.confidence == 0.8
    assert cascade.route("x", exclude=["quotes", "facts"][:1]).intent == "facts"
    assert cascade.route("x").intent == "quotes"


def test_the_llm_is_offered_only_the_allowed_intents() -> None:
    examples = [("what is tsla at", "quotes"), ("what is an etf", "facts"), ("my cash", "cash_balance")]
    layer = LLMLayer(domain="brokerage", api_key="sk-test", base_url="http://127.0.0.1:9/v1", examples=examples)
    allowed = frozenset({"quotes", "facts"})
    system = layer.messages("price of tsla", allowed)[0]["content"]
    assert "- quotes:" in system and "- facts:" in system and "- cash_balance:" not in system
    enum = layer._response_format(allowed)["json_schema"]["schema"]["properties"]["intent"]["enum"]
    assert set(enum) == allowed | {"none"}
    shown = [m["content"] for m in layer.messages("x", allowed) if m["role"] == "assistant"]
    assert len(shown) == 2 and not any("cash_balance" in s for s in shown)  # no example of an intent not offered


def test_route_all_finds_each_request_and_shares_a_named_symbol() -> None:
    first, second = CASCADE.route_all("AAPL performance and price")
    assert (first.intent, second.intent) == ("symbol_performance", "quotes")
    assert first.extracted["symbol"] == second.extracted["symbol"] == "AAPL"
    assert second.meta["part"] == "price" and second.meta["borrowed"] == ["symbol"] and not second.missing_params
    three = CASCADE.route_all("price of aapl, plus how is my portfolio doing, and my cash")
    assert [r.intent for r in three] == ["quotes", "performance", "cash_balance"]
    for one in ("transfers in and out", "buy and sell history", "price of META and NVDA", "and also my cash", ""):
        (route,) = CASCADE.route_all(one)
        assert route.intent == CASCADE.route(one).intent  # one request: the single route
    (only,) = CASCADE.route_all("how much cash do I have and what can I withdraw")
    assert only.intent == "cash_balance"  # two halves asking the same: one route


def test_route_all_never_cuts_inside_a_phrase_the_rules_read_as_one() -> None:
    for one in ("bid and ask for tsla", "what's the bid and ask on MSFT?", "pros and cons of an ira"):
        (route,) = CASCADE.route_all(one)
        assert route.intent == CASCADE.route(one).intent
    first, second = CASCADE.route_all("the bid and ask on aapl, and show my positions")
    assert (first.intent, second.meta["part"]) == ("quotes", "show my positions")
    assert first.meta["part"] == "the bid and ask on aapl"


@settings(max_examples=40)
@given(
    st.text(max_size=60)
    | st.lists(st.sampled_from(["and", "then", ",", "price", "my cash", "aapl", "also"]), max_size=8).map(" ".join)
)
def test_route_all_never_raises_and_every_part_is_routed(text: str) -> None:
    routes = CASCADE.route_all(text)
    assert routes and all(r.intent in set(LABELS) | {CLARIFY} for r in routes)
    if len(routes) > 1:
        assert all(r.meta["parts"] == len(routes) and not r.is_clarify for r in routes)
