from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intentroute.errors import ConfigError
from intentroute.layers.rules import RuleLayer

RULES = {
    "intents": {
        "quotes": {
            "keywords": {"price": 0.5, "quote": 0.7},
            "phrases": {"trading at": 0.85},
            "regexes": {r"\bprice target\b": -0.5},
        },
        "cash_balance": {"keywords": {"cash": 0.65}, "phrases": {"how much cash": 0.95}},
    }
}


def test_scores_combine_as_noisy_or_and_negatives_damp() -> None:
    layer = RuleLayer(RULES)
    assert layer.route("price quote").top.score == pytest.approx(1 - 0.5 * 0.3)  # type: ignore[union-attr]
    assert layer.route("price target").top.score == pytest.approx(0.5 * 0.5)  # type: ignore[union-attr]


def test_matching_ignores_case_punctuation_and_apostrophes() -> None:
    layer = RuleLayer({"intents": {"quotes": {"phrases": {"what's the price": 0.9}}}})
    for text in ("WHAT'S THE PRICE?", "whats the price", "what\u2019s   the price!!", "What's the price"):
        assert layer.route(text).top is not None, text
    assert layer.route("what is the price").abstained


def test_candidates_are_ranked_and_matched_rules_are_evidence() -> None:
    result = RuleLayer(RULES).route("How much cash do I have at this price?")
    assert [c.intent for c in result.candidates] == ["cash_balance", "quotes"]
    assert any("phrase 'how much cash' +0.95" in e for e in result.evidence)
    assert any("keyword 'price' +0.50" in e for e in result.evidence)


def test_a_phrase_said_twice_counts_once() -> None:
    layer = RuleLayer(RULES)
    assert layer.route("cash cash cash").top.score == pytest.approx(0.65)  # type: ignore[union-attr]


def test_rules_that_normalise_to_one_count_once() -> None:
    # "what's" and "whats" are one keyword once normalised; two regexes are two rules
    spec = {"keywords": {"what's": 0.5, "whats": 0.5}, "regexes": {"price": 0.2, "(?:price)": 0.2}}
    layer = RuleLayer({"intents": {"quotes": spec}})
    assert len(layer.rules) == 4
    assert [r.pattern for r in layer.matches("whats the price")] == ["whats", "price", "(?:price)"]
    assert layer.route("whats the price").top.score == pytest.approx(1 - 0.5 * 0.8 * 0.8)  # type: ignore[union-attr]


def test_the_same_matches_rank_the_same_and_follow_a_changed_min_score() -> None:
    layer = RuleLayer(RULES)
    first = layer.route("How much cash do I have at this price?")
    assert layer.route("how much cash do i have at this price") == first  # (the ranking kept)
    fresh = RuleLayer(RULES, min_score=0.9).route("How much cash do I have at this price?")
    assert [c.intent for c in fresh.candidates] == ["cash_balance"]
    layer.min_score = 0.9  # set after routing: the rankings kept before no longer hold
    assert layer.route("How much cash do I have at this price?") == fresh
    layer.min_score = 0.99
    assert layer.route("How much cash do I have at this price?").abstained


def test_no_match_abstains() -> None:
    assert RuleLayer(RULES).route("good morning").abstained


def test_rules_load_from_toml_and_json_files(tmp_path: Path) -> None:
    j = tmp_path / "r.json"
    j.write_text(json.dumps(RULES))
    t = tmp_path / "r.toml"
    t.write_text('[intents.quotes]\nkeywords = { price = 0.5, quote = 0.7 }\nphrases = { "trading at" = 0.85 }\n')
    for path in (j, t):
        assert RuleLayer(path).route("what's it trading at").top.intent == "quotes"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("rules", "fragment"),
    [
        ({}, "'intents' must be a non-empty table"),
        (
            {"intents": {"q": {"keywords": {"price": 2}}}},
            "intent 'q': keywords\\['price'\\]: weight must be a non-zero number in \\[-1, 1\\], got 2",
        ),
        ({"intents": {"q": {"keywords": {"price": 0}}}}, "non-zero"),
        ({"intents": {"q": {"keywords": {"two words": 0.5}}}}, "put 'two words' under phrases"),
        ({"intents": {"q": {"regexes": {"(unclosed": 0.5}}}}, "invalid regular expression"),
        ({"intents": {"q": {"synonyms": {"a": 0.5}}}}, "unknown rule kinds \\['synonyms'\\]"),
        ({"intents": {"q": {}}}, "intent 'q' has no rules"),
        ({"intents": {"q": {"phrases": {"???": 0.5}}}}, "no letters or digits"),
        ({"intents": {"q": ["price"]}}, "must be a table"),
        ({"intents": {"q": {"keywords": {"a": 0.5}}}, "extra": 1}, "unknown top-level keys"),
    ],
)
def test_invalid_rules_are_config_errors_naming_intent_and_rule(rules: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        RuleLayer(rules)


def test_a_broken_rules_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "rules.toml"
    bad.write_text("[intents.q\n")
    with pytest.raises(ConfigError, match="rules.toml: not valid TOML"):
        RuleLayer(bad)
    with pytest.raises(ConfigError, match="cannot read rules file"):
        RuleLayer(tmp_path / "missing.json")


@given(st.text())
def test_scores_always_lie_in_the_unit_interval(text: str) -> None:
    for c in _brokerage().route(text).candidates:
        assert 0.0 < c.score <= 1.0


_LAYER: list[RuleLayer] = []


def _brokerage() -> RuleLayer:
    if not _LAYER:
        _LAYER.append(RuleLayer("brokerage"))
    return _LAYER[0]


_WORDS = ["how", "much", "cash", "do", "i", "have", "my", "roth", "ira", "x"]
_PHRASES = st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4).map(" ".join)


@given(st.dictionaries(_PHRASES, st.integers(), max_size=12), st.lists(st.sampled_from(_WORDS), max_size=12))
def test_phrase_lookup_finds_exactly_the_phrases_in_the_words(table: dict[str, int], words: list[str]) -> None:
    from intentroute.text import PhraseTable

    found = PhraseTable(table).find(words)
    # every occurrence of every phrase, by start then longest first
    expected = [
        (i, n, table[" ".join(words[i : i + n])])
        for i in range(len(words))
        for n in range(len(words) - i, 0, -1)
        if " ".join(words[i : i + n]) in table
    ]
    assert found == expected
    leftmost_longest = []
    i = 0
    while i < len(words):
        hit = next(((s, n, v) for s, n, v in expected if s == i), None)
        if hit:
            leftmost_longest.append(hit)
        i += hit[1] if hit else 1
    assert PhraseTable(table).find(words, overlapping=False) == leftmost_longest
