from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from intentroute.data.templates import expand_syntax, load_templates
from intentroute.domains import domain_path
from intentroute.errors import TemplateError

SEED_STYLE = {
    "intents": {
        "quotes": ["What's {SYMBOL} trading at?", "Give me the quote for {SYMBOL}"],
        "positions": ["How many shares of {SYMBOL} do I own?"],
    },
    "slots": {"SYMBOL": ["AAPL", "MSFT"], "ACCOUNT": ["IRA"]},
    "prefixes": ["please"],
    "suffixes": ["in my {ACCOUNT}"],
    "typos": {"quote": ["qoute"]},
}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "intent_templates.json"
    path.write_text(json.dumps(data))
    return path


def test_the_seed_format_loads(tmp_path: Path) -> None:
    ts = load_templates(write(tmp_path, SEED_STYLE))
    assert list(ts.intents) == ["quotes", "positions"]
    assert ts.intents["quotes"][1].id == "quotes/001" and ts.intents["quotes"][1].placeholders == ("SYMBOL",)
    assert ts.typos == {"quote": ["qoute"]} and ts.suffixes == ["in my {ACCOUNT}"]


def test_alternatives_optional_words_and_weights() -> None:
    ts = load_templates(
        {"intents": {"q": [{"text": "(quote|price) for {S} [please]", "weight": 3}]}, "slots": {"S": ["A"]}}
    )
    t = ts.intents["q"][0]
    assert t.weight == 3.0
    assert t.forms == ("quote for {S} please", "quote for {S}", "price for {S} please", "price for {S}")


def test_expand_syntax_keeps_plain_parentheses_and_tidies_spaces() -> None:
    assert expand_syntax("price (USD) [now]?") == ["price (USD) now?", "price (USD)?"]
    assert expand_syntax("(a|)b") == ["ab", "b"]


@pytest.mark.parametrize("bad", ["[unclosed", "(a|b", "close]", "[a (b|c)]"])
def test_expand_syntax_refuses_unbalanced_or_nested_brackets(bad: str) -> None:
    with pytest.raises(ValueError):
        expand_syntax(bad)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (
            {"intents": {"quotes": ["price of {TICKER}"]}, "slots": {"SYMBOL": ["A"]}},
            re.escape(
                "intent 'quotes': template 'price of {TICKER}': unknown placeholder {TICKER}; slots are ['SYMBOL']"
            ),
        ),
        ({"intents": {"quotes": []}}, "intent 'quotes' has no templates"),
        ({"intents": {"quotes": "price"}}, "intent 'quotes': templates must be a list"),
        ({"intents": {"quotes": [42]}}, "intent 'quotes': template #0 must be a non-empty string"),
        (
            {"intents": {"quotes": ["price", "price"]}},
            "intent 'quotes': template 'price': duplicate template \\(twice in this intent\\)",
        ),
        (
            {"intents": {"quotes": ["price"], "facts": ["price"]}},
            "intent 'facts': template 'price': duplicate template \\(also under intent 'quotes'\\)",
        ),
        ({"intents": {"quotes": ["price {SYMBOL}"]}, "slots": {"SYMBOL": []}}, "slot 'SYMBOL' has no values"),
        (
            {"intents": {"quotes": ["price {SYMBOL}"]}, "slots": {"SYMBOL": "AAPL"}},
            "slot 'SYMBOL' must be a list",
        ),
        ({"intents": {"q": ["[price"]}}, "intent 'q': template '\\[price': unclosed"),
        ({"intents": {"q": ["price {SYM BOL}"]}}, "malformed placeholder"),
        ({"intents": {"q": [{"text": "p", "weight": 0}]}}, "weight must be a number"),
        ({"intents": {"q": [{"text": "p", "wieght": 2}]}}, "unknown keys \\['wieght'\\]"),
        (
            {"intents": {"q": ["p"]}, "suffixes": ["in my {ACCOUNT}"]},
            "affix 'in my {ACCOUNT}': unknown placeholder",
        ),
        ({"intents": {}}, "'intents' must be a non-empty object"),
        ({"intents": {"q": ["p"]}, "templates": {}}, "unknown keys \\['templates'\\]"),
        ([], "the top level must be an object"),
    ],
)
def test_template_errors_name_the_file_the_intent_and_the_template(tmp_path: Path, data: object, fragment: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(TemplateError, match=fragment) as info:
        load_templates(path)
    assert str(info.value).startswith(str(path))


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="cannot read template file"):
        load_templates(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(TemplateError, match="bad.json: not valid JSON"):
        load_templates(bad)


def test_the_embedded_brokerage_templates_cover_every_intent_with_30_or_more() -> None:
    from intentroute.domains import load_domain

    ts = load_templates(domain_path("brokerage", "templates.json"))
    assert set(ts.intents) == set(load_domain("brokerage").labels)
    assert all(len(t) >= 30 for t in ts.intents.values()), {k: len(v) for k, v in ts.intents.items()}


def test_background_templates_merge_into_a_domain() -> None:
    from intentroute.data.templates import merge_templates

    base = load_templates(domain_path("brokerage", "templates.json"))
    bg = load_templates(domain_path("brokerage", "background.json"))
    merged = merge_templates(base, bg)
    assert list(merged.intents)[-1] == "none" and len(merged.intents) == len(base.intents) + 1
    assert merged.prefixes == base.prefixes and "CITY" in merged.slots and "SYMBOL" in merged.slots
    with pytest.raises(TemplateError, match="already defined"):
        merge_templates(merged, bg)
