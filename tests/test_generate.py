from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from intentroute.data import GeneratorConfig, generate, load_templates, write_dataset
from intentroute.data.augment import add_affixes, char_noise, variants
from intentroute.data.generate import render_template
from intentroute.domains import domain_path
from intentroute.errors import ConfigError
from intentroute.text import tokenize

from .conftest import run_cli

BROKERAGE = load_templates(domain_path("brokerage", "templates.json"))
SYMBOLS = [f"S{i:02d}" for i in range(30)]
TWO_SLOTS = load_templates(
    {
        "intents": {
            "compare": ["compare {SYMBOL} with {OTHER}"],
            "quotes": ["price of {SYMBOL}", "{SYMBOL} quote"],
        },
        "slots": {"SYMBOL": SYMBOLS, "OTHER": ["x", "y", "z"]},
    }
)


def test_every_value_of_a_slot_appears_not_just_the_first_combinations() -> None:
    # the seed kept the first 10 combinations: only S00..S03 would ever appear as the first slot
    t = TWO_SLOTS.intents["compare"][0]
    rendered = render_template(t, TWO_SLOTS.slots, max_combos=60, rng=random.Random(1))
    assert len(rendered) == 60 and len({text for text, _ in rendered}) == 60
    firsts = {dict(values)["SYMBOL"] for _, values in rendered}
    assert len(firsts) >= 25
    ds = generate(TWO_SLOTS, GeneratorConfig(size=600, max_combos=40, seed=3, affix_rate=0, noise_rate=0))
    seen = {v for ex in ds.train + ds.val + ds.test for k, v in ex.slot_values if k == "SYMBOL"}
    assert seen == set(SYMBOLS)
    assert ds.summary["slot_coverage"]["SYMBOL"] == {"values": 30, "seen": 30, "unseen": []}


def test_render_draws_all_combinations_when_the_cap_allows() -> None:
    t = TWO_SLOTS.intents["compare"][0]
    rendered = render_template(t, TWO_SLOTS.slots, max_combos=10_000, rng=random.Random(0))
    assert len(rendered) == 90


def test_intents_are_balanced_and_texts_unique() -> None:
    ds = generate(BROKERAGE, GeneratorConfig(size=2200, seed=1))
    all_ex = ds.train + ds.val + ds.test
    counts = Counter(ex.intent for ex in all_ex)
    assert set(counts.values()) == {200}
    assert len({(ex.text, ex.intent) for ex in all_ex}) == len(all_ex)
    assert ds.summary["shortfall"] == {}


def test_random_split_is_80_10_10() -> None:
    ds = generate(BROKERAGE, GeneratorConfig(size=1000, seed=2))
    assert (len(ds.train), len(ds.val), len(ds.test)) == (800, 100, 100)


def test_template_split_holds_whole_templates_out_of_training() -> None:
    ds = generate(BROKERAGE, GeneratorConfig(size=3000, seed=2, split="template"))
    train_ids = {ex.template_id for ex in ds.train}
    held = {ex.template_id for ex in ds.val + ds.test}
    assert held and not (train_ids & held)
    assert not ({ex.template_id for ex in ds.val} & {ex.template_id for ex in ds.test})
    for intent in BROKERAGE.intents:  # every intent is represented in each split
        assert any(ex.intent == intent for ex in ds.val) and any(ex.intent == intent for ex in ds.test)


def test_conflicting_texts_are_dropped_from_both_intents_and_reported() -> None:
    ts = load_templates(
        {
            "intents": {"a": ["show {X}", "alpha {X}"], "b": ["Show {X}!", "beta {X}"]},
            "slots": {"X": ["one", "two"]},
        }
    )
    ds = generate(ts, GeneratorConfig(size=16, seed=0, affix_rate=0, noise_rate=0))
    texts = {" ".join(tokenize(ex.text)) for ex in ds.train + ds.val + ds.test}
    assert "show one" not in texts and "show two" not in texts
    assert ds.summary["conflicts"]["texts"] == 2
    assert ds.summary["conflicts"]["sample"] == ["show one", "show two"]


def test_too_few_distinct_texts_is_reported_as_shortfall() -> None:
    ts = load_templates({"intents": {"a": ["hello"], "b": ["bye"]}})
    ds = generate(ts, GeneratorConfig(size=100, seed=0, affix_rate=0, noise_rate=0))
    assert ds.summary["shortfall"]["a"] > 40


def test_the_same_seed_gives_the_same_dataset_and_another_seed_does_not() -> None:
    a = generate(BROKERAGE, GeneratorConfig(size=500, seed=5))
    b = generate(BROKERAGE, GeneratorConfig(size=500, seed=5))
    c = generate(BROKERAGE, GeneratorConfig(size=500, seed=6))
    assert a.train == b.train and a.test == b.test
    assert a.train != c.train


def test_output_is_byte_identical_across_processes(tmp_path: Path) -> None:
    outs = []
    for i, hashseed in enumerate(("1", "999")):
        out = tmp_path / f"run{i}"
        res = run_cli(
            "generate",
            "--out",
            str(out),
            "--size",
            "1500",
            "--seed",
            "11",
            "--split",
            "template",
            env={"PYTHONHASHSEED": hashseed},
        )
        assert res.returncode == 0, res.stderr
        outs.append(out)
    for name in ("intent_train.jsonl", "intent_val.jsonl", "intent_test.jsonl", "dataset_summary.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def test_jsonl_lines_have_text_intent_and_template_id(tmp_path: Path) -> None:
    ds = generate(BROKERAGE, GeneratorConfig(size=300, seed=1))
    write_dataset(ds, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "intent_train.jsonl").read_text().splitlines()]
    assert len(rows) == 240 and set(rows[0]) == {"text", "intent", "template_id"}
    assert json.loads((tmp_path / "dataset_summary.json").read_text())["splits"]["train"] == 240


def test_existing_files_are_not_overwritten_without_asking(tmp_path: Path) -> None:
    (tmp_path / "intent_train.jsonl").write_text("mine\n")
    ds = generate(BROKERAGE, GeneratorConfig(size=110, seed=1))
    with pytest.raises(ConfigError, match="would overwrite intent_train.jsonl"):
        write_dataset(ds, tmp_path)
    assert (tmp_path / "intent_train.jsonl").read_text() == "mine\n"
    write_dataset(ds, tmp_path, overwrite=True)
    assert (tmp_path / "intent_train.jsonl").read_text() != "mine\n"


def test_a_failure_mid_write_leaves_the_old_files_and_no_temporaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = generate(BROKERAGE, GeneratorConfig(size=110, seed=1))
    write_dataset(first, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls = {"n": 0}
    real_fsync = os.fsync

    def flaky_fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", flaky_fsync)
    with pytest.raises(OSError, match="No space"):
        write_dataset(generate(BROKERAGE, GeneratorConfig(size=110, seed=2)), tmp_path, overwrite=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_cli_writes_nothing_when_the_templates_are_invalid(tmp_path: Path) -> None:
    bad = tmp_path / "t.json"
    bad.write_text(json.dumps({"intents": {"quotes": ["price of {TICKER}"]}}))
    out = tmp_path / "out"
    res = run_cli("generate", "--templates", str(bad), "--out", str(out), "--size", "10")
    assert res.returncode == 1
    assert (
        "TemplateError" in res.stderr
        and "t.json" in res.stderr
        and "'quotes'" in res.stderr
        and "{TICKER}" in res.stderr
    )
    assert not out.exists()


def test_cli_summary_fits_on_a_screen(tmp_path: Path) -> None:
    res = run_cli("generate", "--out", str(tmp_path), "--size", "1100", "--split", "template")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) <= 24
    assert any(line.startswith("quotes") for line in lines) and any("slot coverage" in line for line in lines)


def test_environment_variables_set_size_and_combos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTENT_DATASET_SIZE", "123")
    monkeypatch.setenv("INTENT_MAX_COMBOS", "7")
    cfg = GeneratorConfig()
    assert (cfg.size, cfg.max_combos) == (123, 7)
    monkeypatch.setenv("INTENT_DATASET_SIZE", "many")
    with pytest.raises(ConfigError, match="INTENT_DATASET_SIZE='many'"):
        GeneratorConfig()


@pytest.mark.parametrize(
    "kwargs",
    [{"size": 0}, {"split": "stratified"}, {"noise_rate": 2.0}, {"val_fraction": 0.5, "test_fraction": 0.5}],
)
def test_bad_generator_settings_are_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        GeneratorConfig(**kwargs)  # type: ignore[arg-type]


def test_variants_follow_the_seed_and_skip_non_symbols() -> None:
    assert variants("How is ETF performance?", {}, ["AAPL"]) == [
        "How is ETF performance?",
        "how is etf performance?",
        "How is ETF performance",
    ]
    assert "qoute for AAPL" in variants("quote for AAPL", {"quote": ["qoute"]})


def test_affixes_fill_placeholders() -> None:
    text = add_affixes("price", [], ["in my {ACCOUNT}"], {"ACCOUNT": ["Roth IRA"]}, random.Random(0))
    assert text == "price in my Roth IRA"


def test_char_noise_is_seeded_and_makes_one_edit() -> None:
    import difflib

    for seed in range(50):
        a = char_noise("show my positions please", random.Random(seed))
        assert a == char_noise("show my positions please", random.Random(seed))
        ratio = difflib.SequenceMatcher(None, a, "show my positions please").ratio()
        assert ratio > 0.9
    assert char_noise("a b c", random.Random(0)) == "a b c"


def test_extra_examples_join_the_training_split(tmp_path: Path) -> None:
    extra = tmp_path / "escalations.jsonl"
    extra.write_text(
        '{"text": "yo whats my dough situation", "intent": "cash_balance", "confidence": 0.9, "source": "llm"}\n'
        '{"text": "what is my dough", "intent": "cash_balance", "confidence": 0.2, "source": "llm"}\n'
        '{"text": "sing", "intent": null, "abstained": "none of the intents", "source": "llm"}\n'
        '{"text": "is it raining", "intent": "weather"}\n'
    )
    res = run_cli("generate", "--out", str(tmp_path / "out"), "--size", "1100", "--extra", str(extra))
    assert res.returncode == 0, res.stderr
    assert (
        "--extra: 2 of 4 rows are labels (1 abstentions or the fallback, 1 verdicts below confidence 0.5 left out)"
        in res.stderr
    )
    assert (
        "extra examples: 1 of 2 added to train (0 duplicates, 0 in the validation or test split, "
        "1 with unknown intents skipped)" in res.stdout
    )
    rows = [json.loads(line) for line in (tmp_path / "out" / "intent_train.jsonl").read_text().splitlines()]
    assert {"text": "yo whats my dough situation", "intent": "cash_balance", "template_id": "extra/0000"} in rows
