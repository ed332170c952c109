from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import intentroute
from intentroute import Cascade, ConfigError, Policy
from intentroute.errors import LayerUnavailable
from intentroute.types import CLARIFY, LayerResult

from .conftest import FixedLayer


class UpperExtractor:
    def extract(self, intent: str, text: str) -> tuple[dict[str, Any], list[str]]:
        words = [w for w in text.split() if w.isupper()]
        found = {"symbol": words[0]} if words else {}
        return found, ([] if found or intent != "quotes" else ["symbol"])


def test_first_layer_over_its_threshold_decides_and_later_layers_are_not_called() -> None:
    a = FixedLayer("a", {"quotes": 0.9})
    b = FixedLayer("b", {"facts": 0.99})
    route = Cascade([a, b], {"a": Policy(0.75), "b": Policy(0.5)}).route("price of AAPL")
    assert (route.intent, route.layer, route.confidence) == ("quotes", "a", 0.9)
    assert b.calls == []
    assert [s.layer for s in route.trace] == ["a"] and route.trace[0].accepted


def test_a_layer_below_threshold_passes_to_the_next() -> None:
    route = Cascade(
        [FixedLayer("a", {"quotes": 0.6}), FixedLayer("b", {"facts": 0.7})], [Policy(0.75), Policy(0.6)]
    ).route("x")
    assert (route.intent, route.layer) == ("facts", "b")
    assert [s.outcome for s in route.trace] == ["rejected", "accepted"]
    assert "< threshold" in route.trace[0].reason


def test_an_ambiguous_top_two_is_not_accepted_even_above_threshold() -> None:
    route = Cascade([FixedLayer("a", {"quotes": 0.9, "symbol_performance": 0.85})], [Policy(0.75, 0.1)]).route("x")
    assert route.intent == CLARIFY
    assert "ambiguous" in route.trace[0].reason


def test_force_accepts_any_answer() -> None:
    route = Cascade([FixedLayer("a", {"quotes": 0.2, "facts": 0.19})], [Policy(0.9, 0.5, force=True)]).route("x")
    assert (route.intent, route.layer) == ("quotes", "a")
    assert route.trace[0].reason.startswith("forced")


def test_clarify_fallback_carries_the_best_candidates_seen_across_layers() -> None:
    route = Cascade(
        [FixedLayer("a", {"quotes": 0.5, "facts": 0.2}), FixedLayer("b", {"facts": 0.6})],
        [Policy(0.9), Policy(0.9)],
    ).route("x")
    assert (route.intent, route.layer, route.confidence) == (CLARIFY, "fallback", 0.0)
    assert [(c.intent, c.score) for c in route.candidates] == [("facts", 0.6), ("quotes", 0.5)]
    assert route.meta["fallback"] == "clarify"


def test_best_fallback_returns_the_first_layer_answer_like_the_seed() -> None:
    route = Cascade(
        [FixedLayer("rules", {}), FixedLayer("a", {"quotes": 0.5}), FixedLayer("b", {"facts": 0.6})],
        [Policy(0.9)] * 3,
        fallback="best",
    ).route("x")
    assert (route.intent, route.layer, route.confidence) == ("quotes", "a", 0.5)
    assert route.meta["fallback"] == "best"


def test_best_fallback_with_no_answer_at_all_is_clarify() -> None:
    route = Cascade([FixedLayer("a", {})], fallback="best").route("x")
    assert route.intent == CLARIFY


def test_a_layer_that_raises_is_recorded_and_skipped() -> None:
    route = Cascade([FixedLayer("boom", raises=RuntimeError("kaput")), FixedLayer("b", {"facts": 0.9})]).route("x")
    assert route.layer == "b"
    assert route.trace[0].outcome == "error" and "RuntimeError: kaput" in route.trace[0].reason


def test_an_unavailable_layer_is_recorded_and_skipped() -> None:
    route = Cascade(
        [
            FixedLayer("torch", raises=LayerUnavailable("torch is not installed")),
            FixedLayer("b", {"facts": 0.9}),
        ]
    ).route("x")
    assert route.trace[0].outcome == "unavailable" and "torch is not installed" in route.trace[0].reason
    assert route.intent == "facts"


def test_a_layer_returning_garbage_is_an_error_step_not_a_crash() -> None:
    class Garbage:
        name = "garbage"

        def route(self, text: str) -> Any:
            return {"intent": "quotes"}

    route = Cascade([Garbage()]).route("x")  # type: ignore[list-item]
    assert route.intent == CLARIFY and route.trace[0].outcome == "error"
    assert "not a LayerResult" in route.trace[0].reason


def test_an_abstaining_layer_is_recorded() -> None:
    route = Cascade([FixedLayer("a", {})]).route("x")
    assert route.trace[0].outcome == "abstained"


def test_a_label_unknown_to_the_cascade_is_not_accepted() -> None:
    route = Cascade(
        [FixedLayer("a", {"weather": 0.99}), FixedLayer("b", {"quotes": 0.8})], labels=["quotes", "facts"]
    ).route("x")
    assert route.layer == "b"
    assert route.trace[0].outcome == "rejected" and "unknown label 'weather'" in route.trace[0].reason


def test_extraction_applies_to_the_accepted_answer_and_overrides_the_layer() -> None:
    cascade = Cascade(
        [FixedLayer("a", {"quotes": 0.9}, extracted={"symbol": "X", "venue": "NYSE"})],
        extractor=UpperExtractor(),
    )
    route = cascade.route("price of AAPL")
    assert route.extracted == {"symbol": "AAPL", "venue": "NYSE"}
    assert route.missing_params == ()
    assert cascade.route("price of apple stock").missing_params == ()  # the layer's symbol counts
    bare = Cascade([FixedLayer("a", {"quotes": 0.9})], extractor=UpperExtractor()).route("price please")
    assert bare.missing_params == ("symbol",)


def test_a_failing_extractor_does_not_break_routing() -> None:
    class Broken:
        def extract(self, intent: str, text: str) -> tuple[dict[str, Any], list[str]]:
            raise KeyError("oops")

    route = Cascade([FixedLayer("a", {"quotes": 0.9})], extractor=Broken()).route("x")
    assert route.intent == "quotes" and "KeyError" in route.meta["extraction_error"]


def test_long_texts_are_truncated_before_layers_see_them() -> None:
    layer = FixedLayer("a", {"quotes": 0.9})
    route = Cascade([layer], max_chars=10).route("x" * 100)
    assert layer.calls == ["x" * 10] and route.meta["truncated"] is True


def test_trace_keeps_policy_timing_and_top_candidates() -> None:
    route = Cascade([FixedLayer("a", {f"i{k}": k / 10 for k in range(1, 8)})], [Policy(0.1, 0.0)], trace_top=2).route(
        "x"
    )
    step = route.trace[0]
    assert step.policy == Policy(0.1, 0.0) and step.micros >= 0
    assert [c.intent for c in step.candidates] == ["i7", "i6"]
    assert step.evidence == ("fixed a",)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"fallback": "random"}, "fallback"),
        ({"policies": {"nope": Policy()}}, "unknown layers"),
        ({"policies": [Policy(), Policy()]}, "2 policies given for 1 layers"),
        ({"max_chars": 0}, "max_chars"),
        ({"extractor": object()}, "extract"),
    ],
)
def test_bad_cascade_arguments_are_config_errors(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        Cascade([FixedLayer("a")], **kwargs)


def test_layers_must_be_router_layers_with_unique_names() -> None:
    with pytest.raises(ConfigError, match="not a RouterLayer"):
        Cascade([object()])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="unique"):
        Cascade([FixedLayer("a"), FixedLayer("a")])


def test_route_rejects_non_strings_with_type_error() -> None:
    with pytest.raises(TypeError, match="str"):
        Cascade([FixedLayer("a")]).route(None)  # type: ignore[arg-type]


def test_route_batch_uses_a_layers_batch_method_only_for_undecided_texts() -> None:
    class Batchy(FixedLayer):
        def __init__(self) -> None:
            super().__init__("batchy", {"facts": 0.9})
            self.batches: list[list[str]] = []

        def route_batch(self, texts: list[str]) -> list[LayerResult]:
            self.batches.append(list(texts))
            return [self.route(t) for t in texts]

    first = FixedLayer("first", {"quotes": 0.9})
    batchy = Batchy()

    class Picky:
        name = "picky"

        def route(self, text: str) -> LayerResult:
            return first.route(text) if "price" in text else LayerResult()

    texts = ["price a", "what b", "price c", "what d"]
    routes = Cascade([Picky(), batchy]).route_batch(texts)  # type: ignore[list-item]
    assert [r.intent for r in routes] == ["quotes", "facts", "quotes", "facts"]
    assert batchy.batches == [["what b", "what d"]]
    Cascade([Picky(), batchy]).route("what e")  # one text: the single-utterance path
    assert batchy.batches == [["what b", "what d"]] and batchy.calls[-1] == "what e"


def test_a_failing_batch_falls_back_to_one_text_at_a_time() -> None:
    class BadBatch(FixedLayer):
        def route_batch(self, texts: list[str]) -> list[LayerResult]:
            raise RuntimeError("batch broke")

    routes = Cascade([BadBatch("a", {"quotes": 0.9})]).route_batch(["x", "y"])
    assert [r.intent for r in routes] == ["quotes", "quotes"]


NASTY = [
    "",
    " ",
    "\t\n  \r",
    "x" * 1_000_000,
    "\x00\x01\x02\x1b[31m",
    "\ud800\udfff",
    "😀" * 50,
    "ＡＡＰＬ ｐｒｉｃｅ",
    "what's $TSLA at\u200b?",
    "İstanbul ǅ ß ﬃ",
    "\u202eevil",
    "a" * 5000 + " price",
]


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_the_default_cascade_routes_any_string_without_raising(text: str) -> None:
    route = intentroute.default_cascade().route(text)
    assert isinstance(route.intent, str) and 0.0 <= route.confidence <= 1.0
    json.dumps(route.to_dict())


@given(st.text())
def test_routing_never_raises_and_batch_equals_single(text: str) -> None:
    cascade = _cascade()
    single = cascade.route(text)
    batch = cascade.route_batch([text, text])
    for r in batch:
        # the classifier's batch path sums the same float64 terms in another order (~1e-15 apart)
        assert (r.intent, r.layer, r.extracted, r.missing_params) == (
            single.intent,
            single.layer,
            single.extracted,
            single.missing_params,
        )
        assert abs(r.confidence - single.confidence) < 1e-9
        assert [c.intent for c in r.candidates] == [c.intent for c in single.candidates]
        assert all(abs(a.score - b.score) < 1e-9 for a, b in zip(r.candidates, single.candidates, strict=True))
        assert [(s.layer, s.outcome) for s in r.trace] == [(s.layer, s.outcome) for s in single.trace]
    json.dumps(single.to_dict())


_CASCADE: list[Cascade] = []


def _cascade() -> Cascade:
    if not _CASCADE:
        _CASCADE.append(intentroute.default_cascade())
    return _CASCADE[0]


_BATCH_POOL = [
    "how did AAPL do this year",
    "quote for tesla",
    "what is my roth worth",
    "did I buy $nflx in the last 3 months",
    "tell me a joke",
    "positions in my ira",
    "what is a bond",
    "",
    "MSFT",
    "how much cash do I have in my 401k",
]


@given(st.lists(st.sampled_from(_BATCH_POOL) | st.text(max_size=30), max_size=40), st.integers(1, 8))
def test_a_batch_with_repeats_routes_as_its_texts_one_by_one_even_past_the_batch_memory_size(
    texts: list[str], memory: int
) -> None:
    # route_batch remembers every slot find for the call; a small memory that starts over
    # within the batch must not change an answer either
    from intentroute.slots import remembering

    cascade = _cascade()
    singles = [cascade.route(t) for t in texts]
    with remembering(limit=memory):  # the batch's own block nests in this one and shares its memory
        batched = cascade.route_batch(texts)
    for single, r in zip(singles, batched, strict=True):
        assert (r.intent, r.layer, r.extracted, r.missing_params) == (
            single.intent,
            single.layer,
            single.extracted,
            single.missing_params,
        )
