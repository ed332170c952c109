"""The learning loop: the LLM's verdicts (from a real HTTP teacher on 127.0.0.1) reviewed and
trained on, never an abstention, a restricted answer or a test-split text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intentroute import Cascade, Policy
from intentroute.bundle import save_bundle
from intentroute.data import GeneratorConfig, generate, load_templates, read_extra, read_jsonl
from intentroute.data.generate import extra_examples, text_key
from intentroute.domains import domain_path
from intentroute.errors import ConfigError
from intentroute.layers.llm import LLMLayer
from intentroute.layers.torch_bow import TorchBowLayer
from intentroute.loop import read_review, read_traffic, review_rows, traffic_view, write_review

from .conftest import run_cli
from .llm_server import ChatServer, Reply, completion, verdict

INTENTS = ["quotes", "cash_balance", "account_value", "facts"]
SLANG = {  # words no brokerage template has, and what they mean
    "yo whats my dough situation": "cash_balance",
    "how fat is my stash lately": "account_value",
    "gimme the lowdown on moolah in the kitty": "cash_balance",
}


def write_jsonl(path: Path, rows: list[Any]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def teacher(body: Any) -> Reply:
    """The true label of a known text, "none" for anything else, a refusal for a rude one."""
    text = body["messages"][-1]["content"]
    if "rude" in text:
        return Reply(200, completion(None, refusal="no"))
    return Reply(200, verdict(SLANG.get(text, "none"), 0.9))


def llm_layer(server: ChatServer, log: Path) -> LLMLayer:
    return LLMLayer(
        model="teacher",
        base_url=server.url,
        api_key="sk-test",
        intents={i: i for i in INTENTS},
        cache_size=0,
        log_file=log,
        timeout=5.0,
        deadline=10.0,
    )


@pytest.fixture
def verdict_log(tmp_path: Path) -> Path:
    """A verdict log written by the real LLM layer: answers, abstentions, a refusal, a restricted answer."""
    log = tmp_path / "verdicts.jsonl"
    with ChatServer() as server:
        server.default = teacher  # type: ignore[assignment]
        layer = llm_layer(server, log)
        for text in [*SLANG, "yo whats my dough situation", "sing me a song", "a rude one"]:
            layer.route(text)
        layer.route_within("how fat is my stash lately", frozenset({"account_value", "facts"}))
    return log


def test_the_llm_layer_logs_answers_abstentions_and_restricted_answers(verdict_log: Path) -> None:
    rows = [json.loads(line) for line in verdict_log.read_text().splitlines()]
    assert len(rows) == 7
    answers = [r for r in rows if r["intent"] is not None]
    assert [r["text"] for r in answers if "restricted_to" not in r] == [*SLANG, "yo whats my dough situation"]
    abstained = [r for r in rows if r["intent"] is None]
    assert [r["text"] for r in abstained] == ["sing me a song", "a rude one"]
    assert "none of the intents" in abstained[0]["abstained"] and "refused" in abstained[1]["abstained"]
    assert [r["restricted_to"] for r in rows if "restricted_to" in r] == [["account_value", "facts"]]


class Echo:
    """A classifier stand-in that answers one intent for every text (``None``: no answer)."""

    name = "echo"

    def __init__(self, intent: str | None, score: float = 0.7) -> None:
        self.intent, self.score = intent, score

    def route_batch(self, texts: list[str]) -> list[Any]:
        from intentroute.types import Candidate, LayerResult

        return [LayerResult([Candidate(self.intent, self.score)] if self.intent else []) for _ in texts]


def test_review_rows_use_answers_only_and_put_disagreements_and_low_confidence_first(verdict_log: Path) -> None:
    traffic = read_traffic([verdict_log], intents=INTENTS)
    assert (traffic.records, traffic.abstained, traffic.restricted) == (7, 2, 1)
    rows = review_rows(traffic, Echo("cash_balance"))
    assert {r["text"] for r in rows} == set(SLANG)  # never an abstention or a restricted answer
    assert [r["agree"] for r in rows] == [False, True, True]  # the disagreement first
    assert rows[0]["intent"] == "account_value" and rows[0]["classifier_intent"] == "cash_balance"
    dough = next(r for r in rows if r["text"].startswith("yo"))
    assert dough["seen"] == 2 and dough["review"] == "pending"


def test_accept_all_leaves_low_confidence_pending_and_a_majority_label_wins(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    lines = [
        {"text": "what is my dough", "intent": "cash_balance", "confidence": 0.9, "source": "llm"},
        {"text": "what is my dough", "intent": "cash_balance", "confidence": 0.8, "source": "llm"},
        {"text": "What is my dough?", "intent": "facts", "confidence": 0.95, "source": "llm"},
        {"text": "stash", "intent": "account_value", "confidence": 0.3, "source": "llm"},
    ]
    write_jsonl(log, lines)
    rows = review_rows(read_traffic([log], intents=INTENTS), Echo(None), accept_all=True)
    dough = next(r for r in rows if r["text"] == "what is my dough")
    assert dough["intent"] == "cash_balance" and dough["labels"] == {"cash_balance": 2, "facts": 1}
    assert dough["llm_confidence"] == pytest.approx(0.85) and dough["review"] == "accepted"
    assert next(r for r in rows if r["text"] == "stash")["review"] == "pending"
    assert rows[0]["text"] == "stash"  # the lowest confidence first (no answer from the classifier: no agreement)


def test_review_cli_is_idempotent_and_keeps_a_reviewers_decisions(verdict_log: Path, tmp_path: Path) -> None:
    out = tmp_path / "review.jsonl"
    res = run_cli("review", str(verdict_log), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "7 records: llm 100.0%" in res.stdout and "abstained on 2" in res.stdout
    assert "no feature for: " in res.stdout and "dough" in res.stdout  # the words templates lack
    first = out.read_bytes()
    assert run_cli("review", str(verdict_log), "--out", str(out)).returncode == 0
    assert out.read_bytes() == first  # the same log again: the same file
    rows = read_review(out)
    assert all(r["review"] == "pending" for r in rows)
    # a reviewer rejects one row and corrects another's label
    for r in rows:
        if r["text"].startswith("gimme"):
            r["review"] = "rejected"
        if r["text"].startswith("how fat"):
            r["review"], r["intent"] = "accepted", "facts"
    write_review(rows, out)
    res = run_cli("review", str(verdict_log), "--out", str(out), "--accept-all")
    assert res.returncode == 0, res.stderr
    after = {r["text"]: r for r in read_review(out)}
    assert after["gimme the lowdown on moolah in the kitty"]["review"] == "rejected"
    assert (after["how fat is my stash lately"]["review"], after["how fat is my stash lately"]["intent"]) == (
        "accepted",
        "facts",
    )
    assert after["yo whats my dough situation"]["review"] == "accepted"  # pending, then accepted by --accept-all
    pairs, report = read_extra([out])
    assert sorted(pairs) == [("how fat is my stash lately", "facts"), ("yo whats my dough situation", "cash_balance")]
    assert report["not_accepted"] == 1


def test_review_cli_errors_name_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hi", "intent": "quotes", "confidence": 0.9, "source": "llm"}\n{"text": 3}\n')
    res = run_cli("review", str(bad), "--out", str(tmp_path / "r.jsonl"))
    assert res.returncode == 1 and f"{bad}: line 2" in res.stderr and not (tmp_path / "r.jsonl").exists()
    res = run_cli("review", str(bad), "--out", str(tmp_path / "r.jsonl"), "--layer", "nope")
    assert res.returncode == 2 and "no layer 'nope'" in res.stderr
    not_review = tmp_path / "mine.jsonl"
    not_review.write_text('{"text": "hi", "intent": "quotes"}\n')
    good = tmp_path / "good.jsonl"
    good.write_text('{"text": "hi", "intent": "quotes", "confidence": 0.9, "source": "llm"}\n')
    res = run_cli("review", str(good), "--out", str(not_review))
    assert res.returncode == 1 and "is this a review file?" in res.stderr
    assert not_review.read_text() == '{"text": "hi", "intent": "quotes"}\n'  # the user's file untouched


def test_routed_records_count_per_layer_and_only_the_llms_answers_become_rows(tmp_path: Path) -> None:
    routed = tmp_path / "routed.jsonl"
    records = [
        {"text": "price of tsla", "intent": "quotes", "confidence": 0.85, "layer": "rules"},
        {"text": "my cash", "intent": "cash_balance", "confidence": 0.9, "layer": "torch_bow"},
        {"text": "yo whats my dough situation", "intent": "cash_balance", "confidence": 0.9, "layer": "llm"},
        {"text": "sing me a song", "intent": "clarify", "confidence": 0.0, "layer": "fallback"},
    ]
    write_jsonl(routed, records)
    traffic = read_traffic([routed], intents=INTENTS)
    view = traffic_view(traffic)
    assert view["per_layer"] == {"rules": 0.25, "torch_bow": 0.25, "llm": 0.25, "fallback": 0.25}
    assert (
        view["escalated"] == 2 and view["abstained"] == 1 and list(traffic.verdicts) == ["yo whats my dough situation"]
    )
    with pytest.raises(ConfigError, match="line 1: a routed record"):
        read_extra([routed])  # its intents are the cascade's own answers: review first


rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "text": st.text(min_size=1, max_size=20),
            "intent": st.one_of(st.none(), st.sampled_from([*INTENTS, "clarify"])),
            "confidence": st.floats(0, 1),
        },
        optional={
            "review": st.sampled_from(["pending", "accepted", "rejected"]),
            "abstained": st.just("the model says none of the intents fits"),
            "restricted_to": st.just(["quotes"]),
            "source": st.just("llm"),
        },
    ),
    max_size=30,
)


@given(rows=rows_strategy)
def test_extra_rows_never_include_an_abstention_a_restricted_or_unaccepted_answer(
    rows: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("extra") / "rows.jsonl"
    write_jsonl(path, rows)
    pairs, report = read_extra([path])
    usable = [
        (r["text"], r["intent"])
        for r in rows
        if r["intent"] not in (None, "clarify")
        and not r.get("abstained")
        and "restricted_to" not in r
        and r.get("review", "accepted") == "accepted"
        and not ("review" not in r and r.get("source") == "llm" and r["confidence"] < 0.5)
    ]
    assert pairs == usable
    assert report["rows"] == len(rows)


@given(
    extra=st.lists(st.tuples(st.sampled_from(["a b", "A b!", "c", "d e", "f", "x y"]), st.sampled_from(INTENTS))),
    held=st.lists(st.sampled_from(["a b", "c", "zz"]), max_size=3),
    weight=st.integers(1, 4),
)
def test_extra_examples_never_include_a_held_out_text_and_count_each_once(
    extra: list[tuple[str, str]], held: list[str], weight: int
) -> None:
    added, report = extra_examples(extra, intents=INTENTS, train=["f"], held_out=held, weight=weight)
    keys = [text_key(ex.text) for ex in added]
    assert not {text_key(h) for h in held} & set(keys)
    assert "f" not in keys  # already a training text
    assert all(keys.count(k) == weight for k in keys)  # each kept text once, weight times
    assert report["added"] * weight == len(added)
    assert report["added"] + report["held_out"] + report["duplicates"] + report["unknown_intent"] == len(extra)


def test_train_extra_skips_test_split_texts_and_generate_extra_too(data_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    test_texts, test_labels = read_jsonl(data_dir / "intent_test.jsonl")
    extra = tmp_path / "extra.jsonl"
    extra.write_text(
        json.dumps({"text": test_texts[0], "intent": test_labels[0], "review": "accepted"})
        + "\n"
        + json.dumps({"text": test_texts[1].upper() + " ?", "intent": test_labels[1], "review": "accepted"})
        + "\n"
        + json.dumps({"text": "yo whats my dough situation", "intent": "cash_balance", "review": "accepted"})
        + "\n"
    )
    res = run_cli(
        "train", "--data", str(data_dir), "--out", str(tmp_path / "b"), "--preset", "linear", "--epochs", "2",
        "--extra", str(extra), "--extra-weight", "3",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "extra examples: 1 of 3 added, each 3 times (0 duplicates, 2 in the validation or test split" in res.stdout
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    train_rows = len(read_jsonl(data_dir / "intent_train.jsonl")[0])
    assert manifest["metrics"]["train_examples"] == train_rows + 3
    assert manifest["training"]["extra"]["held_out"] == 2
    templates = load_templates(domain_path("brokerage", "templates.json"))
    dataset = generate(
        templates, GeneratorConfig(size=2200, seed=3, split="template"), extra=[(test_texts[0], "quotes")]
    )
    assert dataset.summary["extra"]["held_out"] == 1
    assert test_texts[0] not in {ex.text for ex in dataset.train}


def test_one_round_of_the_loop_teaches_the_classifier_words_no_template_had(data_dir: Path, tmp_path: Path) -> None:
    """Route with a teacher LLM behind the classifier, review (accept all), retrain: the slang the
    teacher answered is then the classifier's own answer, and no abstention was trained on."""
    pytest.importorskip("torch")
    from intentroute.train import train

    def cascade_for(bundle: Path, server: ChatServer, log: Path) -> Cascade:
        layer = TorchBowLayer(bundle)
        return Cascade([layer, llm_layer(server, log)], [Policy(0.99), Policy(0.5)])

    result = train(data_dir, "linear", overrides={"epochs": 5})
    save_bundle(tmp_path / "b0", result.vectorizer, result.classifier)
    log = tmp_path / "verdicts.jsonl"
    with ChatServer() as server:
        server.default = teacher  # type: ignore[assignment]
        routes = cascade_for(tmp_path / "b0", server, log).route_batch([*SLANG, "sing me a song"])
        assert [r.layer for r in routes] == ["llm", "llm", "llm", "fallback"]
    review = tmp_path / "review.jsonl"
    assert run_cli("review", str(log), "--out", str(review), "--accept-all").returncode == 0
    pairs, _ = read_extra([review])
    assert sorted(pairs) == sorted(SLANG.items())  # "sing me a song" (abstained) is not among them
    result = train(data_dir, "linear", overrides={"epochs": 5}, extra=pairs, extra_weight=3)
    save_bundle(tmp_path / "b1", result.vectorizer, result.classifier)
    after = TorchBowLayer(tmp_path / "b1")
    assert [after.route(t).top.intent for t in SLANG] == list(SLANG.values())  # type: ignore[union-attr]
    assert result.metrics["train_examples"] == len(read_jsonl(data_dir / "intent_train.jsonl")[0]) + 3 * len(SLANG)


def test_an_evaluation_report_shows_what_went_past_the_classifier_and_its_unknown_words() -> None:
    from intentroute import default_cascade
    from intentroute.evaluate import evaluate_cascade, format_report

    texts = ["what's tsla trading at", "show my positions", *SLANG, "blorp zindle quux"]
    report = evaluate_cascade(default_cascade(), texts, ["quotes", "positions", *SLANG.values(), "clarify"])
    esc = report["escalated"]
    assert esc["past"] == "torch_bow"
    routes = default_cascade().route_batch(texts)
    assert esc["count"] == sum(r.layer == "fallback" for r in routes) and esc["count"] >= 1
    assert "blorp" in esc["unknown_words"] and "tsla" not in esc["unknown_words"]
    assert "## Escalated" in format_report(report) and "blorp (1)" in format_report(report)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "text": st.text(max_size=12) | json_values,
                "intent": st.sampled_from([*INTENTS, "clarify"]) | json_values,
                "confidence": st.floats(-1, 2) | json_values,
                "source": st.just("llm") | json_values,
                "layer": st.sampled_from(["llm", "rules", "fallback"]) | json_values,
                "abstained": json_values,
                "restricted_to": json_values,
            },
        )
        | json_values,
        max_size=6,
    )
)
def test_reading_traffic_either_works_or_names_the_line(
    rows: list[Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("traffic") / "log.jsonl"
    write_jsonl(path, rows)
    try:
        traffic = read_traffic([path], intents=INTENTS)
    except ConfigError as exc:
        assert str(path) in str(exc) and "line " in str(exc)
        return
    assert traffic.records == len(rows)
    assert all(v.intent in INTENTS for v in traffic.verdicts.values())
    review_rows(traffic, Echo("quotes"))
