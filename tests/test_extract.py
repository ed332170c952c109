from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intentroute.domains import available_domains, load_domain
from intentroute.errors import ConfigError
from intentroute.extract import ParamExtractor

EX = load_domain("brokerage").extractor()


@pytest.mark.parametrize(
    ("text", "symbol"),
    [
        ("what's tsla trading at", "TSLA"),
        ("How is Apple doing?", "AAPL"),
        ("apple's stock price", "AAPL"),
        ("price of $nflx", "NFLX"),
        ("quote for XYZ please", "XYZ"),
        ("how many shares of BRK.B do I own", "BRK.B"),
        ("what is coca-cola trading at", "KO"),
        ("GameStop quote", "GME"),
        ("quote for T", "T"),
        ("johnson & johnson price", "JNJ"),
    ],
)
def test_symbols_from_tickers_cashtags_and_company_names(text: str, symbol: str) -> None:
    assert EX.extract("quotes", text)[0].get("symbol") == symbol


@pytest.mark.parametrize(
    "text",
    [
        "what's the price",
        "I want a quote",
        "WHAT IS THE PRICE",
        "is it a good time",
        "how much is my IRA worth YTD",
    ],
)
def test_common_words_and_acronyms_are_not_symbols(text: str) -> None:
    extracted, missing = EX.extract("quotes", text)
    assert "symbol" not in extracted and missing == ["symbol"]


def test_lowercase_words_that_are_also_tickers_need_capitals() -> None:
    assert "symbol" not in EX.extract("quotes", "what does it cost")[0]
    assert EX.extract("quotes", "what does COST cost")[0]["symbol"] == "COST"


def test_several_symbols_are_listed_in_order() -> None:
    extracted, _ = EX.extract("quotes", "compare MSFT, nvidia and $AMD")
    assert extracted["symbol"] == "MSFT" and extracted["symbols"] == ["MSFT", "NVDA", "AMD"]


@pytest.mark.parametrize(
    ("text", "account"),
    [
        ("in my Roth IRA", "Roth IRA"),
        ("my roth", "Roth IRA"),
        ("traditional IRA", "IRA"),
        ("for my brokerage account", "Brokerage"),
        ("the IRA", "IRA"),
    ],
)
def test_accounts(text: str, account: str) -> None:
    assert EX.extract("account_value", text)[0] == {"account": account}


@pytest.mark.parametrize(
    ("text", "timeframe"),
    [
        ("ytd", "YTD"),
        ("year to date", "YTD"),
        ("over the last 3 months", "3M"),
        ("past 6 mo", "6M"),
        ("this month", "this month"),
        ("last month", "last month"),
        ("1y", "1Y"),
        ("in the past year", "1Y"),
        ("QTD", "QTD"),
        ("over 5 years", "5Y"),
        ("since inception", "ALL"),
    ],
)
def test_timeframes(text: str, timeframe: str) -> None:
    assert EX.extract("performance", f"how did I do {text}")[0].get("timeframe") == timeframe


def test_topics_only_for_facts_and_missing_topic_reported() -> None:
    assert EX.extract("facts", "what is a Roth IRA?") == ({"topic": "Roth IRA"}, [])
    assert EX.extract("facts", "explain expense ratios") == ({"topic": "expense ratio"}, [])
    assert EX.extract("facts", "tell me something") == ({}, ["topic"])
    assert "topic" not in EX.extract("positions_list", "show my Roth IRA holdings")[0]


def test_required_parameters_per_intent() -> None:
    assert EX.extract("positions", "how many shares do I own")[1] == ["symbol"]
    assert EX.extract("symbol_performance", "how is it doing")[1] == ["symbol"]
    assert EX.extract("positions_list", "list my holdings")[1] == []
    assert EX.extract("performance", "how am I doing")[1] == []


def test_clarify_gets_every_slot_found() -> None:
    extracted, missing = EX.extract("clarify", "AAPL roth ytd")
    assert extracted == {"symbol": "AAPL", "account": "Roth IRA", "timeframe": "YTD", "topic": "Roth IRA"}
    assert missing == []


@given(st.text())
def test_extraction_never_raises(text: str) -> None:
    for intent in ("quotes", "facts", "clarify"):
        extracted, missing = EX.extract(intent, text)
        assert isinstance(extracted, dict) and isinstance(missing, list)


def test_domain_files_are_validated(tmp_path: pytest.TempPathFactory) -> None:
    import json
    from pathlib import Path

    root = Path(str(tmp_path))
    (root / "domain.json").write_text(
        json.dumps({"intents": {"q": {"params": ["symbol"], "required": []}}, "slots": {}})
    )
    with pytest.raises(ConfigError, match="intent 'q': parameter 'symbol' has no entry under 'slots'"):
        load_domain(root)
    (root / "domain.json").write_text(
        json.dumps({"intents": {"q": {"params": ["s"]}}, "slots": {"s": {"kind": "magic"}}})
    )
    with pytest.raises(ConfigError, match="kind must be 'symbol' or 'lookup'"):
        load_domain(root).extractor()
    with pytest.raises(ConfigError, match="not an embedded domain"):
        load_domain(root / "nowhere")
    assert "brokerage" in available_domains()
    assert isinstance(load_domain().extractor(), ParamExtractor)


def test_slots_built_from_equal_settings_are_one_object_and_others_are_not() -> None:
    from intentroute.estimators import BowVectorizer
    from intentroute.slots import slots_from_spec

    domain = load_domain("brokerage")
    vec = BowVectorizer(slots=domain.slots).fit(["what is aapl at", "my roth"])
    ex = domain.extractor()
    assert vec.slot_finders["xxsymbol"] is ex.slots["symbol"]  # what the classifier's markers and extraction share
    changed = {**domain.slots["account"], "values": {**domain.slots["account"]["values"], "pension": "Pension"}}
    other = slots_from_spec({"account": changed}, "test")["account"]
    assert other is not ex.slots["account"]
    assert other.find("my pension", "my pension") == ["Pension"]
    assert ex.slots["account"].find("my pension", "my pension") == []


_SLOT_WORDS = ["AAPL", "tsla", "roth", "ytd", "3 months", "my", "ira", "what", "$nflx", "x"]


@given(st.lists(st.sampled_from(_SLOT_WORDS), max_size=8))
def test_remembered_finds_equal_fresh_ones_and_cannot_be_changed_by_a_caller(words: list[str]) -> None:
    from intentroute.text import normalize

    text = " ".join(words)
    norm = normalize(text)
    for slot in EX.slots.values():
        first = slot.find(text, norm)
        assert first == slot._find(text, norm)
        first.append("SPOILED")
        assert slot.find(text, norm) == slot._find(text, norm)  # a fresh list each time


def test_long_utterances_are_found_in_and_not_remembered() -> None:
    from intentroute.slots import MEMO_MAX_CHARS, MEMO_SIZE
    from intentroute.text import normalize

    slot = EX.slots["symbol"]
    text = "what is AAPL at " + "and so on " * (MEMO_MAX_CHARS // 10 + 1)
    assert slot.find(text, normalize(text)) == ["AAPL"]
    assert all(len(t) <= MEMO_MAX_CHARS for t, _ in slot._memo)
    for i in range(3 * MEMO_SIZE):
        slot.find(f"quote {i}", f"quote {i}")
    assert 0 < len(slot._memo) <= MEMO_SIZE


def test_within_remembering_a_slot_searches_each_utterance_once_per_thread_and_forgets_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from intentroute.slots import MEMO_SIZE, LookupSlot, remembering, slots_from_spec

    slot = slots_from_spec({"when": {"kind": "lookup", "values": {"today": "1D", "remembering test": "R"}}}, "test")
    ours = slot["when"]
    searched: list[str] = []
    real = LookupSlot._find

    def counted(self: LookupSlot, text: str, norm: str) -> list[str]:
        if self is ours:
            searched.append(text)
        return real(self, text, norm)

    monkeypatch.setattr(LookupSlot, "_find", counted)
    texts = [f"quote {i} today" for i in range(3 * MEMO_SIZE)]  # more than the slot's own memo keeps
    elsewhere: list[list[str]] = []
    with remembering():
        first = [ours.find(t, t) for t in texts]
        with remembering():  # nested: the outer block's memory
            again = [ours.find(t, t) for t in texts]
        assert [ours.find(t, t) for t in texts] == first
        assert len(searched) == len(texts)  # each utterance searched once
        # another thread, outside any block of its own, searches for itself
        worker = threading.Thread(target=lambda: elsewhere.append(ours.find(texts[0], texts[0])))
        worker.start()
        worker.join()
    assert first == again == [["1D"]] * len(texts) and elsewhere == [["1D"]]
    assert len(searched) == len(texts) + 1
    assert ours.find(texts[1], texts[1]) == ["1D"]  # the block's memory is gone: searched again
    assert len(searched) == len(texts) + 2
    first[0].append("SPOILED")
    with remembering():
        assert ours.find(texts[0], texts[0]) == ours.find(texts[0], texts[0]) == ["1D"]  # fresh lists


def test_route_batch_of_many_utterances_extracts_what_route_does() -> None:
    import intentroute

    cascade = intentroute.default_cascade()
    texts = [
        f"{verb} {sym} {when}"
        for verb in ("how did", "quote for", "what is the price of", "did I buy")
        for sym in ("AAPL", "tesla", "$nflx", "my roth")
        for when in ("", "this year", "in the last 3 months")
    ]
    singles = [cascade.route(t) for t in texts]
    for text, single, batched in zip(texts, singles, cascade.route_batch(texts), strict=True):
        assert (batched.intent, batched.extracted, batched.missing_params) == (
            single.intent,
            single.extracted,
            single.missing_params,
        ), text
