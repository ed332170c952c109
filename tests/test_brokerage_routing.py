"""The embedded brokerage domain routes typical phrasings of every intent with rules alone."""

from __future__ import annotations

import pytest

import intentroute
from intentroute import Cascade
from intentroute.config import build_cascade
from intentroute.data import GeneratorConfig, generate, load_templates
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
    routes = _rules_only().route_batch([ex.text for ex in examples])
    decided = [(ex, r) for ex, r in zip(examples, routes, strict=True) if r.layer == "rules"]
    wrong = [(ex.text, ex.intent, r.intent) for ex, r in decided if r.intent != ex.intent]
    assert len(decided) > 0.3 * len(examples)
    assert len(wrong) <= 0.002 * len(decided), wrong[:10]
