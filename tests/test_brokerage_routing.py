"""The embedded brokerage domain routes typical phrasings of every intent with rules alone."""

from __future__ import annotations

import pytest

import intentroute
from intentroute import Cascade
from intentroute.config import build_cascade
from intentroute.data import GeneratorConfig, generate, load_templates, merge_templates
from intentroute.domains import domain_path, load_domain

EXPECTED = {
    "activity": [
        "What was my most recent trade?",
        "show my recent activity",
        "what did I buy last week",
        "order history please",
        "any open orders?",
    ],
    "positions": [
        "How many shares of AAPL do I own?",
        "what's my NVDA position",
        "do I hold any tesla",
        "what is my cost basis on MSFT",
    ],
    "positions_list": [
        "show me all my holdings",
        "what do I own",
        "list my positions",
        "what's in my portfolio",
    ],
    "portfolio_ranking": [
        "what are my top performers",
        "biggest losers in my portfolio",
        "which stock is doing best",
        "rank my holdings by return",
    ],
    "symbol_performance": [
        "How is AAPL performing?",
        "how much have I made on tesla",
        "TSLA perf",
        "what's my return on VOO",
    ],
    "performance": [
        "how is my portfolio doing",
        "what are my returns this year",
        "portfolio performance YTD",
        "am I up or down this month",
    ],
    "quotes": [
        "what's tsla trading at",
        "give me a quote for MSFT",
        "AAPL stock price",
        "price of nvidia right now",
    ],
    "transfers": [
        "when will my deposit arrive",
        "show my transfer history",
        "I want to withdraw money",
        "did my ACH transfer go through",
    ],
    "facts": [
        "what is an ETF?",
        "explain dollar cost averaging",
        "what's the difference between a Roth IRA and a traditional IRA",
        "how does a mutual fund work",
    ],
    "account_value": [
        "how much is my account worth",
        "what's my total portfolio value",
        "account value please",
        "what is my IRA worth",
    ],
    "cash_balance": [
        "how much cash do I have",
        "what's my buying power",
        "settled cash in my Roth",
        "cash available to trade",
    ],
}

CASES = [(text, intent) for intent, texts in EXPECTED.items() for text in texts]


def _rules_only() -> Cascade:
    return build_cascade({"domain": "brokerage", "layers": [{"name": "rules", "threshold": 0.75, "margin": 0.1}]})


def _decided_by_rules(texts: list[str]) -> list[tuple[int, str]]:
    """``(index, intent)`` of each text the rules alone decide."""
    routes = _rules_only().route_batch(texts)
    return [(i, r.intent) for i, r in enumerate(routes) if r.layer == "rules"]


def test_every_domain_intent_has_cases() -> None:
    assert set(EXPECTED) == set(load_domain("brokerage").labels)


@pytest.mark.parametrize(("text", "intent"), CASES)
def test_the_default_cascade_routes_typical_phrasings(text: str, intent: str) -> None:
    route = intentroute.default_cascade().route(text)
    assert route.intent == intent, route.explain()
    assert route.layer == "rules"


@pytest.mark.parametrize("text", ["hello", "what's the weather in Paris", "tell me a joke", "asdf qwer", ""])
def test_the_rules_alone_send_out_of_domain_text_to_clarify(text: str) -> None:
    assert _rules_only().route(text).intent == "clarify"


@pytest.mark.parametrize(
    "text", ["asdf qwer", "zzzz", "", "!!!", "hello", "tell me a joke", "what's the weather in Paris"]
)
def test_the_default_cascade_sends_out_of_domain_text_to_clarify(text: str) -> None:
    route = intentroute.default_cascade().route(text)
    assert route.intent == "clarify", route.explain()


def test_the_classifier_answers_what_the_rules_cannot() -> None:
    route = intentroute.default_cascade().route("how did my roth do")
    assert (route.intent, route.layer) == ("performance", "torch_bow")
    assert route.extracted == {"account": "Roth IRA"}
    assert [s.outcome for s in route.trace] == ["abstained", "accepted"]


def test_quotes_without_a_symbol_reports_it_missing() -> None:
    route = intentroute.default_cascade().route("quote please")
    assert route.intent == "quotes" and route.missing_params == ("symbol",)


# phrasings where a single misleading phrase used to make the rules decide the wrong intent
# ("do I hold" for a list, "am I up" for one symbol, "price on" for a fill price, "my holdings"
# for their worth): the rules must answer them right or leave them to the classifier
NOT_MISLED = [
    ("what tickers do I hold", "positions_list"),
    ("which companies do I own shares in", "positions_list"),
    ("what am I holding right now", "positions_list"),
    ("how many different stocks do I own", "positions_list"),
    ("am I up on NFLX", "symbol_performance"),
    ("how much am I down on tesla", "symbol_performance"),
    ("how have I been doing overall", "performance"),
    ("how much is my portfolio up this year", "performance"),
    ("what was the fill price on my last VTI buy", "activity"),
    ("what's my entry price on KO", "positions"),
    ("how much are all my holdings worth", "account_value"),
    ("sum of all my holdings' value", "account_value"),
    ("order my holdings by return", "portfolio_ranking"),
    ("which of my holdings underperformed", "portfolio_ranking"),
    ("which stocks are hurting my returns", "portfolio_ranking"),
    ("cash left after my last trade", "cash_balance"),
]


@pytest.mark.parametrize(("text", "intent"), NOT_MISLED)
def test_the_rules_are_not_misled_by_one_phrase(text: str, intent: str) -> None:
    route = _rules_only().route(text)
    assert route.intent in (intent, "clarify"), route.explain()


def test_the_rules_agree_with_the_domains_own_templates() -> None:
    # The rule layer decides first, so a rule that contradicts the domain's templates costs the
    # cascade every such phrasing whatever the classifier knows. Typing noise may still defeat a
    # negative phrase, hence a bound and not zero.
    templates = load_templates(domain_path("brokerage", "templates.json"))
    data = generate(templates, GeneratorConfig(size=6000, seed=3, noise_rate=0.0))
    examples = data.train + data.val + data.test
    decided = _decided_by_rules([ex.text for ex in examples])
    wrong = [(examples[i].text, examples[i].intent, intent) for i, intent in decided if intent != examples[i].intent]
    assert len(decided) > 0.3 * len(examples)
    assert len(wrong) <= 0.002 * len(decided), wrong[:10]


def test_the_rules_leave_the_background_class_to_the_classifier() -> None:
    # The background phrasings (requests the assistant does not serve: the weather, placing a
    # trade, investment advice) have no intent, so a rule that decides one is always wrong.
    templates = merge_templates(
        load_templates(domain_path("brokerage", "templates.json")),
        load_templates(domain_path("brokerage", "background.json")),
    )
    data = generate(templates, GeneratorConfig(size=20000, seed=3, noise_rate=0.0))
    texts = [ex.text for ex in data.train + data.val + data.test if ex.intent == "none"]
    decided = [(texts[i], intent) for i, intent in _decided_by_rules(texts)]
    assert len(texts) > 1000
    assert len(decided) <= 0.002 * len(texts), decided[:10]


# Requests the brokerage assistant does not serve although they use its words: placing trades and
# investment advice. Written apart from background.json's templates (none is one of their
# phrasings); the model trained before those templates answered 19 of these 25 with an intent.
UNSERVED = [
    "buy 3 shares of nflx",
    "purchase twenty shares of Disney",
    "sell my entire AMD position",
    "please sell 10 TSLA",
    "I'd like to buy some Apple stock",
    "place a market order for 5 shares of MSFT",
    "put a stop loss on my nvda at 100",
    "can you short GME for me",
    "invest $200 in VOO every month",
    "buy $1000 of bitcoin",
    "cancel and replace my order at $50",
    "should I sell my Tesla shares",
    "is apple a good investment right now",
    "which stocks should I buy this week",
    "what should I do with $5000",
    "do you think NVDA will go up",
    "give me some stock recommendations",
    "is it a good time to buy the dip",
    "will the market go down tomorrow",
    "should I buy more VOO or QQQ",
    "what's a good stock to invest in",
    "tell me which ETF to buy",
    "predict where AMZN will be next year",
    "is MSFT undervalued",
    "should i get out of the market",
]
# ... and questions the assistant does serve that share those words
SERVED_LOOK_ALIKES = [
    ("what did I buy last week", "activity"),
    ("when did I sell TSLA", "activity"),
    ("did I buy any apple this month", "activity"),
    ("is my limit order filled", "activity"),
    ("show my recent trades", "activity"),
    ("do I have enough cash to buy AAPL", "cash_balance"),
    ("how much buying power do I have", "cash_balance"),
    ("how much did I make on NVDA", "symbol_performance"),
    ("what's my best performer", "portfolio_ranking"),
    ("what are the best performing stocks in my portfolio", "portfolio_ranking"),
    ("what is a limit order", "facts"),
    ("how many shares of AAPL do I own", "positions"),
    ("what stocks do I own", "positions_list"),
    ("what's tsla trading at", "quotes"),
    ("how is my portfolio doing", "performance"),
]


def _answered_and_wrong(
    unanswerable: list[str], labelled: list[tuple[str, str]]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Which of ``unanswerable`` the default cascade answers instead of sending to clarify, and
    which of the ``(text, intent)`` pairs it answers with another intent, each as (text, routed)."""
    cascade = intentroute.default_cascade()
    answered = [(t, r.intent) for t in unanswerable if (r := cascade.route(t)).intent != "clarify"]
    wrong = [(t, r.intent) for t, i in labelled if (r := cascade.route(t)).intent != i]
    return answered, wrong


def test_the_default_cascade_sends_most_trade_and_advice_requests_to_clarify() -> None:
    answered, wrong = _answered_and_wrong(UNSERVED, SERVED_LOOK_ALIKES)
    assert len(answered) <= 0.4 * len(UNSERVED), answered
    assert wrong == []


# Openings of requests that name no intent yet, written apart from the generator's fragments
# (intentroute.data.fragments finds its own in the templates). The model before the fragments
# answered 16 of these 25 with an intent, "what", "my" and "how much" at 1.0.
FRAGMENTS = [
    "what",
    "What?",
    "my",
    "I",
    "how much",
    "what is my",
    "what is",
    "what are",
    "what's my",
    "how",
    "how many",
    "do I",
    "how did",
    "is my",
    "show me",
    "tell me",
    "can you",
    "what was",
    "how is my",
    "the",
    "is it",
    "how are my",
    "what do I",
    "show my",
    "what's the",
]
# ... and short requests, one to three words, that do name one
SHORT_REQUESTS = [
    ("cash", "cash_balance"),
    ("positions", "positions_list"),
    ("my positions", "positions_list"),
    ("my holdings", "positions_list"),
    ("what do I own", "positions_list"),
    ("buying power", "cash_balance"),
    ("account value", "account_value"),
    ("cash balance", "cash_balance"),
    ("recent trades", "activity"),
    ("my deposits", "transfers"),
    ("top performers", "portfolio_ranking"),
    ("aapl price", "quotes"),
    ("how am I doing", "performance"),
]


def test_the_default_cascade_sends_request_openings_to_clarify() -> None:
    answered, wrong = _answered_and_wrong(FRAGMENTS, SHORT_REQUESTS)
    assert len(answered) <= 0.2 * len(FRAGMENTS), answered
    assert wrong == []


def test_routing_from_many_threads_equals_routing_from_one() -> None:
    # the slots' memories of their last finds are shared by every thread that routes
    from concurrent.futures import ThreadPoolExecutor

    templates = load_templates(domain_path("brokerage", "templates.json"))
    texts = [ex.text for ex in generate(templates, GeneratorConfig(size=1200, seed=5)).train]
    cascade = intentroute.default_cascade()

    def answer(text: str) -> tuple[str, tuple[tuple[str, object], ...], tuple[str, ...]]:
        route = cascade.route(text)
        return route.intent, tuple(sorted((k, str(v)) for k, v in route.extracted.items())), route.missing_params

    alone = [answer(t) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(answer, texts * 3))
    assert together == alone * 3
