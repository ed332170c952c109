"""The shortcuts of the routing path give the answers of the long way round.

Routing skips work it can prove useless: a regex is searched only in a text that holds what the
regex cannot match without (``intentroute.patterns.Prefilter``), the normal form of an utterance and
what the domain's slots found in it are computed once and shared, a trace and its evidence are
built when read. Each shortcut is checked here against the computation it replaces.
"""

from __future__ import annotations

import math
import pickle
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import intentroute
from intentroute import text as text_module
from intentroute._floats import add_left_to_right, left_sum
from intentroute.domains import load_domain
from intentroute.layers.rules import RuleLayer
from intentroute.patterns import Prefilter, required_substrings
from intentroute.slots import SlotSet, remembering, slot_set, slots_from_spec
from intentroute.text import PhraseTable, normal_form, normal_forms_remembered, normalize, normalize_joined
from intentroute.types import Candidate, LayerResult, Policy, Route, TraceStep

RULES = RuleLayer()
SLOT_WORDS_EARLY = ["AAPL", "apple", "IRA", "roth", "3 months", "ytd", "hello", "weather"]
SLOT_PATTERNS = [
    p.pattern for slot in load_domain("brokerage").extractor().slots.values() for p, _ in getattr(slot, "patterns", ())
]
PATTERNS = (
    [r.pattern for r in RULES.rules if r.kind == "regexes"]
    + SLOT_PATTERNS
    + [
        r"a(?i:bc)d",
        r"(a|b)+c",
        r"x{0,3}yz",
        r"[ab]c?",
        r"(?:ab)*c",
        r"a|",
        r"(?=abc)d",
        r"\d+ ?(days?|weeks?)",
        r"(\d|x)ab",
        r"(?i)price",
        r"[^a]bc",
        r"colou?r",
        r"(?P<w>ab)(?P=w)",
    ]
)
# texts made of the patterns' own words and pieces, so that many match and many nearly match
_PIECES = sorted(
    {w for p in PATTERNS for w in re.findall(r"[a-z0-9]+", p)}
    | {"whats", "my", "how", "much", "is", "the", "best", "stocks", "3", "\u0663", "ab", "abc", "d", " ", "x"}
)
texts = st.lists(st.sampled_from(_PIECES), max_size=12).map(" ".join) | st.text(max_size=30)


@given(texts)
def test_a_prefilter_never_rejects_a_text_its_pattern_matches(text: str) -> None:
    for pattern in PATTERNS:
        if re.search(pattern, text):
            assert Prefilter(pattern).may_match(text), (pattern, text)


@given(st.data())
def test_a_prefilter_lets_in_every_text_its_pattern_matches(data: st.DataObject) -> None:
    # texts drawn from the pattern itself: each one a match (the test above mostly near misses)
    pattern = data.draw(st.sampled_from(PATTERNS))
    text = data.draw(st.from_regex(pattern, fullmatch=False))
    if re.search(pattern, text):  # (a backreference or a scoped flag may draw a text that does not match)
        assert Prefilter(pattern).may_match(text), (pattern, text)


def test_the_prefilter_reads_the_strings_a_pattern_needs() -> None:
    # adjacent fixed pieces are read together, and a string holding another of the set is left out
    assert required_substrings(r"\bhow much (is|does) \w+\b") == {"how much is ", "how much does "}
    assert required_substrings(r"colou?r(s|ed)?") == {"color", "colour"}
    assert required_substrings(r"(?:ab)*c[xy]{2}") == {"cxx", "cxy", "cyx", "cyy"}
    cut = required_substrings(r"(a|b|c|d)(e|f|g|h)(i|j|k|l)(m|n|o|p)z")  # 256 ways: cut at 64, then "mz"...
    assert cut is not None and len(cut) == 64 and "aei" in cut
    assert required_substrings(r"\b(best|worst)\b.*\b(stocks?|holdings?)\b") == {"stock", "holding"}
    assert required_substrings(r"(?i)price") is None  # case-blind: any case matches
    assert required_substrings(r"a|") is None  # the empty way through needs nothing
    assert required_substrings(r"((") is None  # not a pattern: promises nothing
    days = Prefilter(r"\b(\d{1,2}) ?(?:d|day|days)\b")  # a digit is rarer than a "d"
    assert days.may_match("over \u0663 days") and not days.may_match("over three days")  # any decimal digit
    assert not Prefilter(r"\b(\d{1,2}) ?months?\b").may_match("over 3 weeks")  # "month" is rarer still
    # the built-in rules: every regex but none promises something
    assert all(Prefilter(p).search is not None for p in PATTERNS[: len(PATTERNS) - 13])


RULE_WORDS = sorted({w for r in RULES.rules if r.kind != "regexes" for w in r.pattern.split()} | set(_PIECES))


def reference_matches(text: str) -> list[object]:
    """The rules that match, the long way round: every word n-gram looked up, every regex searched."""
    norm = normalize(text)
    if not norm:
        return []
    table: dict[str, list[object]] = {}
    for r in RULES.rules:
        if r.kind != "regexes":
            table.setdefault(r.pattern, []).append(r)
    hits: list[object] = []
    for _, _, rules in PhraseTable(table).find(norm.split(" ")):
        hits.extend(rules)
    hits.extend(r for r in RULES.rules if r.kind == "regexes" and re.search(r.pattern, norm))
    return list(dict.fromkeys(hits))


@given(st.lists(st.sampled_from(RULE_WORDS), max_size=14).map(" ".join) | st.text(max_size=30))
def test_the_rule_layer_finds_what_the_long_way_round_finds_in_the_same_order(text: str) -> None:
    assert RULES.matches(text) == reference_matches(text)


CLASSIFIER = intentroute.default_cascade().layers[1]


@given(st.lists(st.sampled_from([*RULE_WORDS, *SLOT_WORDS_EARLY]), max_size=14).map(" ".join) | st.text(max_size=30))
def test_the_built_in_layers_answers_are_what_the_checked_constructor_builds(text: str) -> None:
    # the layers build their results unchecked (LayerResult.trusted): ranked, valid, unshared
    for res in (RULES.route(text), CLASSIFIER.route(text)):
        checked = LayerResult(res.candidates, res.extracted, res.evidence, res.meta)
        assert res == checked and res.candidates == checked.candidates
        assert type(res.candidates) is tuple and all(type(c) is Candidate for c in res.candidates)
    assert RULES.route(text).meta is not RULES.route(text).meta


def test_the_rule_layer_matches_the_long_way_round_on_the_held_out_split() -> None:
    from benchmarks.heldout import brokerage_templates
    from intentroute.data import GeneratorConfig, generate

    texts = [e.text for e in generate(brokerage_templates(), GeneratorConfig(seed=7, split="template")).test]
    assert [RULES.matches(t) for t in texts] == [reference_matches(t) for t in texts]


@given(st.text(max_size=40))
def test_the_normal_form_is_normalize_and_its_words_for_any_string(text: str) -> None:
    norm, words = normal_form(text)
    assert norm == normalize(text) and words == tuple(norm.split(" "))
    assert normal_form(text) == (norm, words)  # (the second time from memory)


@given(st.lists(st.text(max_size=20), max_size=8))
def test_within_a_batch_block_every_normal_form_is_remembered_and_equal(texts: list[str]) -> None:
    with remembering():  # (a batch's block: the slots' memory and the normal forms')
        first = [normal_form(t) for t in texts]
        with normal_forms_remembered(limit=1):  # nested: the outer block's memory
            again = [normal_form(t) for t in reversed(texts)]
        assert again == first[::-1] and all(
            f == (normalize(t), tuple(normalize(t).split(" "))) for t, f in zip(texts, first, strict=True)
        )
        # once read in the block, a text's form is found again, not made again
        assert all(normal_form(t)[1] is f[1] for t, f in zip(reversed(texts), again, strict=True))
    assert text_module._FORMS.memo is None  # forgotten when the block ends


_ASCII_TEXT = st.text(st.sampled_from("ab1 '.,!?&-\t"), max_size=12)  # runs of spaces and punctuation


@given(
    st.lists(
        st.text(max_size=12) | _ASCII_TEXT | st.sampled_from(["", "\x01", "What's up?", "P&L", " a  b "]), max_size=6
    )
)
def test_the_joined_normal_forms_are_each_texts_normal_form_between_separators(texts: list[str]) -> None:
    expected = " " + " \x01 ".join(normalize(t) for t in texts) + " "
    assert normalize_joined(texts) == re.sub(" {2,}", " ", expected)  # (an empty form leaves no double space)


SLOT_SET = slot_set(load_domain("brokerage").extractor().slots)
_TABLES = [getattr(slot, "values", getattr(slot, "names", {})) for slot in SLOT_SET.slots.values()]
SLOT_WORDS = sorted(
    {w for table in _TABLES for phrase in table for w in phrase.split()}
    | {"AAPL", "tsla", "Apple's", "$NVDA", "BRK.B", "brk.b", "3", "months", "12", "ytd", "What", "my", "IRA", "KO"}
)


@given(st.lists(st.sampled_from(SLOT_WORDS), max_size=12).map(" ".join) | st.text(max_size=30))
def test_the_slot_set_finds_what_each_slot_finds_alone(text: str) -> None:
    norm = normalize(text)
    expected = {name: tuple(slot._find(text, norm)) for name, slot in SLOT_SET.slots.items()}
    assert SLOT_SET.find_all(text) == {k: v for k, v in expected.items() if v}


SYMBOL = SLOT_SET.slots["symbol"]
# a ticker token, the long way round: 1-5 letters and a share class, not inside a word or a cashtag
TICKER_TOKEN = re.compile(r"(?<![\w$.&])([A-Za-z]{1,5}(?:\.[A-Za-z])?)(?![\w&])")
_TICKERISH = sorted(
    {t for t in SYMBOL.tickers}
    | {t.lower() for t in SYMBOL.tickers}
    | {t.title() for t in SYMBOL.tickers}
    | {"BRK.b", "brk.B", "Brk.b", "IRA", "I", "A.B", "What", "at", "3M", "AT&T", "it's", "$", ".", "'", "-"}
    | {
        "\u00e9",
        "\u2014",
        "\u212a",
        "AAPL.X",
        "aapl..B",
        "x",
        "tsla's",
        "aAPL",
        "tSLA",
        "kO",
        "gooGL",
        "brk.bx",
        "googlx",
        "ETF",
        "SHOUTING",
        "WHAT",
        "IS",
        "NOW",
    }
)
ticker_texts = st.lists(st.sampled_from(_TICKERISH), max_size=10).flatmap(
    lambda ws: st.lists(st.sampled_from(["", " ", "  ", ",", "."]), min_size=len(ws), max_size=len(ws)).map(
        lambda seps: "".join(w + s for w, s in zip(ws, seps, strict=True))
    )
) | st.text(max_size=30)


@given(ticker_texts)
def test_the_ticker_shortcuts_skip_only_tokens_that_could_not_be_tickers(text: str) -> None:
    # the long way round: every ticker token; a lower-case one counts only if a known ticker
    tokens = [(m.start(), m.group(1)) for m in TICKER_TOKEN.finditer(text)]
    useful = [(i, t) for i, t in tokens if not (t.islower() and t not in SYMBOL._lower_tickers)]
    candidates = [(m.start(), m.group(1)) for m in SYMBOL._candidates.finditer(text)]
    # every useful token, and otherwise only tokens in lower case that _find_tickers passes over
    assert set(useful) <= set(candidates) <= set(tokens) and candidates == sorted(candidates)
    hits: list[tuple[float, str]] = []
    SYMBOL._find_tickers(text, hits)
    if hits:  # the quick test never says "no ticker" where there is one
        assert SYMBOL._may_hold_ticker(text)


CUSTOM_SLOTS = slot_set(
    slots_from_spec(
        {
            "symbol": {
                "kind": "symbol",
                "tickers": ["AAPL", "BRK.B", "T"],
                "lowercase_excluded": ["T"],
                "names": {"apple": "AAPL"},
                "not_tickers": ["IRA"],
            },
            "manner": {"kind": "lookup", "values": {"very fast": "FAST"}, "patterns": {r"\b(\w+)ly\b": "{1}"}},
            "anything": {"kind": "lookup", "values": {}, "patterns": {r"[a-z]{9,}": "LONG"}},  # (no prefilter)
            "count": {"kind": "lookup", "values": {"a dozen": "12"}, "patterns": {r"\b\d+ ?(?:x|times)\b": "{0}"}},
        },
        "test",
    )
)
BATCH_WORDS = ["quickly", "very fast", "3 times", "2x", "a dozen", "extraordinary", "$", "", "\x01", "3"]
BATCH_WORDS += ["٣", "٣ months", "Émile"]  # outside ASCII: "٣" is a digit to \d, so "٣ months" is a timeframe
batch_texts = st.lists(
    st.lists(
        st.sampled_from([*SLOT_WORDS, *BATCH_WORDS]),
        max_size=8,
    ).map(" ".join)
    | ticker_texts,
    max_size=8,
)


@given(batch_texts)
def test_a_batch_finds_which_slots_each_text_holds_as_each_text_alone(texts: list[str]) -> None:
    for slots in (SLOT_SET, CUSTOM_SLOTS):
        assert slots.present_many(texts) == [tuple(slots.find_all(t)) for t in texts]
        with remembering():  # (in a batch's block the values are found and kept for the extraction)
            assert slots.present_many(texts) == [tuple(slots.find_all(t)) for t in texts]


def test_the_slots_are_searched_once_per_utterance_and_shared() -> None:
    domain = load_domain("brokerage")
    extractor = domain.extractor()
    cascade = intentroute.default_cascade()
    vec = cascade.layers[1].scorer.vec  # type: ignore[attr-defined]
    marked = {marker.removeprefix("xx"): slot for marker, slot in vec.slot_finders.items()}
    assert slot_set(marked) is slot_set(extractor.slots)  # the classifier's markers and extraction share it
    found = slot_set(extractor.slots)
    text = "how did AAPL do in my roth over 3 months"
    direct = {name: tuple(slot._find(text, normalize(text))) for name, slot in extractor.slots.items()}
    assert found.find_all(text) == {k: v for k, v in direct.items() if v}
    assert found.find_all(text) is found.find_all(text)  # the same utterance: not searched again
    with remembering():
        a = found.find_all("what's tsla at")
        found.find_all("another text")
        assert found.find_all("what's tsla at") is a  # within the block, every utterance is remembered
    assert isinstance(found, SlotSet)


def test_the_accepted_answer_matches_the_policy_decision() -> None:
    cands = [[], [Candidate("a", 0.74)], [Candidate("a", 0.9), Candidate("b", 0.85)], [Candidate("a", 0.9)]]
    for policy in (Policy(), Policy(0.75, 0.1), Policy(0.75), Policy(0.99, 0.5, force=True)):
        for c in cands:
            assert policy.accepts(c) == policy.decide(c)[0]


@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 1)), max_size=3),
    st.floats(0, 1),
    st.floats(0, 1),
    st.booleans(),
)
def test_accepts_and_decide_agree_on_any_answer(pairs: list[tuple[str, float]], t: float, m: float, f: bool) -> None:
    ranked = LayerResult([Candidate(i, s) for i, s in pairs]).candidates
    policy = Policy(t, m, f)
    assert policy.accepts(ranked) == policy.decide(ranked)[0]


def test_the_trace_and_evidence_are_built_when_read_and_equal_the_eager_ones() -> None:
    calls = []

    def evidence() -> list[str]:
        calls.append(1)
        return ["because"]

    result = LayerResult([Candidate("a", 0.9)], evidence=evidence)
    assert calls == []
    assert result.evidence == ("because",) and result.evidence == ("because",)
    assert calls == [1]  # built once
    assert result == LayerResult([Candidate("a", 0.9)], evidence=["because"])
    broken = LayerResult([Candidate("a", 0.9)], evidence=lambda: 1 / 0)
    assert broken.evidence[0].startswith("evidence unavailable: ZeroDivisionError")

    route = intentroute.default_cascade().route("what's my cash balance")
    steps = route.trace
    assert steps and all(isinstance(s, TraceStep) for s in steps) and route.trace is steps
    assert steps[-1].outcome == "accepted" and steps[-1].evidence
    again = pickle.loads(pickle.dumps(route))
    assert again == route and again.to_dict() == route.to_dict()
    with pytest.raises(AttributeError):
        route.intent = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        result.meta = {}  # type: ignore[misc]
    lazy = Route("a", 0.5, "rules", trace=lambda: [TraceStep("rules", "accepted", "ok")])
    assert lazy.trace == (TraceStep("rules", "accepted", "ok"),)


@given(st.text(alphabet=st.characters(max_codepoint=127)) | st.text())
def test_normalize_takes_its_ascii_path_to_the_same_answer(text: str) -> None:
    general = " ".join(re.findall(r"[^\W_]+", text.casefold().translate({39: None, 0x2019: None})))
    assert normalize(text) == general


def test_cascades_built_from_one_bundle_share_its_model() -> None:
    first, second = intentroute.default_cascade(), intentroute.default_cascade()
    assert first.layers[1].scorer is second.layers[1].scorer  # type: ignore[attr-defined]


def test_a_long_batch_pauses_the_garbage_collector_and_restores_it_as_it_was() -> None:
    import gc
    import threading

    from intentroute.cascade import GC_PAUSE_MIN

    cascade = intentroute.default_cascade()
    texts = ["what's my cash balance", "how did AAPL do this year"] * GC_PAUSE_MIN
    seen = []

    class Spy:
        name = "spy"

        def route(self, text: str) -> LayerResult:
            return LayerResult()

        def route_batch(self, batch: list[str]) -> list[LayerResult]:
            seen.append(gc.isenabled())
            return [LayerResult() for _ in batch]

    spied = intentroute.Cascade([Spy(), *cascade.layers], extractor=cascade.extractor)
    assert gc.isenabled()
    routes = spied.route_batch(texts)
    assert seen == [False] and gc.isenabled()  # paused during the batch, resumed after
    assert [r.intent for r in routes] == [spied.route(t).intent for t in texts]
    spied.route_batch(texts[:3])
    assert seen[-1] is True  # a short batch leaves it alone
    gc.disable()
    try:
        spied.route_batch(texts)
        assert not gc.isenabled()  # disabled before: left disabled
    finally:
        gc.enable()
    threads = [threading.Thread(target=spied.route_batch, args=(texts,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gc.isenabled()


RANKING = r"\b(best|worst|top|bottom)\b.*\b(stocks?|holdings?|positions?|performers?|investments?)\b"
RANKING_WORDS = ["best", "worst", "top", "bottom", "stock", "stocks", "holding", "bests", "xbest", "my", "top-stocks"]


@given(st.lists(st.sampled_from(RANKING_WORDS), max_size=10).map(" ".join))
def test_the_anchored_ranking_rule_matches_where_the_plain_one_did(text: str) -> None:
    # the brokerage rule, rewritten so that a long text is searched once (its matches unchanged)
    (anchored,) = [r.pattern for r in RULES.rules if r.kind == "regexes" and "(?:best|worst|top|bottom)" in r.pattern]
    assert bool(re.search(anchored, text)) == bool(re.search(RANKING, text))


@given(st.lists(st.floats(min_value=-1e300, max_value=1e300, allow_nan=False), max_size=30))
def test_left_sum_adds_left_to_right_on_every_python(values: list[float]) -> None:
    # (3.12's sum() compensates its rounding: the probabilities must not change with the interpreter)
    total = 0.0
    for v in values:
        total += v
    for add in (left_sum, add_left_to_right):  # (the built-in sum on 3.11, the other from 3.12)
        assert add(values) == total or (math.isnan(total) and math.isnan(add(values)))
        assert add([1e16, 1.0, -1e16]) == 0.0
