"""Background fragments: found in the templates, added to training only, never a whole request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intentroute.data import GeneratorConfig, background_fragments, generate, load_templates, merge_templates
from intentroute.data.fragments import common_words, fragment_forms
from intentroute.domains import domain_path
from intentroute.errors import ConfigError
from intentroute.text import tokenize

from .conftest import run_cli

SMALL_JSON = {
    "intents": {
        "quotes": ["what is the price of {SYMBOL}", "how much is {SYMBOL}", "quote"],
        "positions": ["what is my position in {SYMBOL}", "how much {SYMBOL} do I own", "my positions"],
        "cash": ["what is my cash balance", "how much cash do I have"],
        "none": ["tell me a joke", "what is the weather"],
    },
    "slots": {"SYMBOL": ["AAPL", "TSLA"]},
}
SMALL = load_templates(SMALL_JSON)
BROKERAGE = merge_templates(
    load_templates(domain_path("brokerage", "templates.json")),
    load_templates(domain_path("brokerage", "background.json")),
)


def test_common_words_are_those_of_enough_intents_and_ignore_the_background_class() -> None:
    # "what" is in all three intents, "how"/"much" in all three, "my" in two of three, "is" in all
    assert common_words(SMALL, share=1.0) == {"what", "is", "how", "much"}
    assert "my" in common_words(SMALL, share=0.5) and "cash" not in common_words(SMALL, share=0.5)
    # the background class's "joke" or "weather" never counts, even at the lowest share
    assert {"joke", "weather", "tell"}.isdisjoint(common_words(SMALL, share=0.01))
    with pytest.raises(ValueError, match="share"):
        common_words(SMALL, share=0.0)


def test_fragments_are_short_openings_of_common_words_and_never_a_whole_request() -> None:
    found = background_fragments(SMALL, share=1.0, max_words=2)
    assert found == ["how", "how much", "what", "what is"]
    # a whole form without slots is a request, not a fragment ("quote" is a whole form; so is
    # "my positions" at share 0.5, where "my" is common)
    wider = background_fragments(SMALL, share=0.5, max_words=3)
    assert "what is my" in wider and "my positions" not in wider and "quote" not in wider
    # ... and so is any text the generator made, given as a request
    assert "what is" not in background_fragments(SMALL, share=1.0, requests=["What is?"])
    with pytest.raises(ValueError, match="max_words"):
        background_fragments(SMALL, max_words=0)


def test_the_brokerage_fragments_hold_the_bare_openings_and_no_content_word() -> None:
    found = set(background_fragments(BROKERAGE))
    assert {"what", "my", "how much", "what's my", "show me"} <= found
    # words that name an intent never open a fragment
    assert not any(tokenize(f)[0] in {"cash", "positions", "quote", "transfers", "price"} for f in found)
    assert all(1 <= len(tokenize(f)) <= 2 for f in found)


def test_fragment_forms_are_the_fragment_capitalised_and_asked() -> None:
    assert fragment_forms("what's my") == ["what's my", "What's my", "what's my?"]


def test_the_generator_adds_fragments_to_training_only_and_leaves_the_rest_as_it_was() -> None:
    cfg = {"size": 3000, "seed": 4, "split": "template"}
    plain = generate(BROKERAGE, GeneratorConfig(**cfg))  # type: ignore[arg-type]
    with_fragments = generate(BROKERAGE, GeneratorConfig(**cfg, fragments=True))  # type: ignore[arg-type]
    assert with_fragments.val == plain.val and with_fragments.test == plain.test
    added = with_fragments.train[len(plain.train) :]
    assert with_fragments.train[: len(plain.train)] == plain.train
    assert added and {ex.intent for ex in added} == {"none"}
    assert all(ex.template_id.startswith("fragment/") for ex in added)
    assert with_fragments.summary["fragments"] == len(added)
    texts = [ex.text for ex in with_fragments.train]
    assert len(texts) == len(set(texts))
    assert {"what", "What", "what?"} <= {ex.text for ex in added}


def test_fragments_without_a_background_class_are_a_config_error() -> None:
    base = load_templates(domain_path("brokerage", "templates.json"))
    with pytest.raises(ConfigError, match="background class 'none'.*--background"):
        generate(base, GeneratorConfig(size=500, fragments=True))
    with pytest.raises(ConfigError, match="fragments"):
        GeneratorConfig(fragments="yes")  # type: ignore[arg-type]


def test_cli_generate_fragments_needs_the_background_class_and_reports_what_it_added(tmp_path: Path) -> None:
    res = run_cli("generate", "--out", str(tmp_path / "a"), "--size", "500", "--fragments")
    assert res.returncode == 2 and "--fragments" in res.stderr and "--background" in res.stderr
    assert not (tmp_path / "a").exists()
    res = run_cli(
        "generate", "--out", str(tmp_path / "b"), "--size", "1200", "--background", "brokerage", "--fragments"
    )
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in (tmp_path / "b" / "intent_train.jsonl").read_text().splitlines()]
    added = [r for r in rows if r["template_id"].startswith("fragment/")]
    assert added and all(r["intent"] == "none" for r in added)
    assert f"background fragments: {len(added)} added to train as 'none'" in res.stdout
    # a templates file that has the background class already needs no --background
    own = tmp_path / "own.json"
    own.write_text(json.dumps(SMALL_JSON), encoding="utf-8")
    res = run_cli("generate", "--templates", str(own), "--out", str(tmp_path / "c"), "--size", "300", "--fragments")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in (tmp_path / "c" / "intent_train.jsonl").read_text().splitlines()]
    assert {r["text"] for r in rows if r["template_id"].startswith("fragment/")} >= {"what is", "how much"}
