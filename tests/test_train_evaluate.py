from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentroute.bundle import load_bundle
from intentroute.data import read_jsonl
from intentroute.domains import domain_path
from intentroute.errors import ConfigError
from intentroute.evaluate import error_analysis, evaluate_bundle, evaluate_cascade, read_examples, score, write_report
from intentroute.train import train

from .conftest import run_cli

pytest.importorskip("torch")


def test_cli_train_prints_the_seed_lines_and_writes_a_bundle(data_dir: Path, tmp_path: Path) -> None:
    out = run_cli("train", "--data", str(data_dir), "--out", str(tmp_path / "b"), "--epochs", "3")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # the seed's line, then which of the default preset's two models the epoch was
    assert lines[0].startswith("Epoch 1/3 - loss ") and " - val_acc " in lines[0] and lines[0].endswith(" (linear)")
    assert lines[3].startswith("Epoch 1/3 - loss ") and lines[3].endswith(" (hidden)")
    assert any(line.startswith("Test accuracy: ") for line in lines)
    assert lines[-1] == f"Saved artifacts to {tmp_path / 'b'}"
    bundle = load_bundle(tmp_path / "b")
    assert len(bundle.labels) == 11 and bundle.manifest is not None
    hp = bundle.manifest["hyperparameters"]
    assert hp["linear"]["epochs"] == 3 and hp["hidden"]["epochs"] == 3 and "test_accuracy" in bundle.manifest["metrics"]
    assert bundle.manifest["model"]["kind"] == "linear+mlp" and bundle.format_version == 2
    from intentroute.layers.torch_bow import TorchBowLayer

    status = TorchBowLayer(str(tmp_path / "b")).status()
    assert status["model_kind"] == "linear+mlp" and status["hidden_size"] == 128 and status["format_version"] == 2
    assert json.loads((tmp_path / "b" / "intent_router_config.json").read_text())["epochs"] == 3
    # the linear preset alone writes the seed's one model, as before
    out = run_cli("train", "--data", str(data_dir), "--out", str(tmp_path / "l"), "--epochs", "3", "--preset", "linear")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith("Epoch 1/3 - loss ") and "(" not in out.stdout.splitlines()[0]
    linear = load_bundle(tmp_path / "l")
    assert linear.manifest is not None and linear.manifest["model"]["kind"] == "linear" and linear.format_version == 1


def test_cli_train_refuses_to_overwrite_without_force(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "mine.txt").write_text("keep me")
    out = run_cli("train", "--data", str(data_dir), "--out", str(tmp_path / "b"))
    assert out.returncode == 2 and "--force" in out.stderr
    assert (tmp_path / "b" / "mine.txt").read_text() == "keep me"


def test_the_legacy_preset_uses_the_legacy_pipeline_s_hyperparameters(data_dir: Path) -> None:
    result = train(data_dir, "legacy", overrides={"epochs": 2})
    vec, clf = result.vectorizer, result.classifier
    assert (vec.max_vocab, vec.ngram_max, vec.char_ngrams, vec.weighting) == (6000, 2, None, "count")
    assert (clf.batch_size, clf.lr, clf.random_state, clf.temperature_) == (32, 1e-2, 7, 1.0)


def test_default_preset_calibrates_on_the_validation_split(data_dir: Path) -> None:
    result = train(data_dir, "default")
    assert result.classifier.temperature_ != 1.0
    assert result.metrics["val_ece"] <= result.metrics["val_ece_before_calibration"] + 1e-9


def test_cli_train_mlp_preset_writes_a_hidden_layer_bundle_the_layer_routes_with(
    data_dir: Path, tmp_path: Path
) -> None:
    import numpy as np

    from intentroute.layers.torch_bow import TorchBowLayer

    out = run_cli("train", "--data", str(data_dir), "--out", str(tmp_path / "m"), "--preset", "mlp", "--epochs", "2")
    assert out.returncode == 0, out.stderr
    bundle = load_bundle(tmp_path / "m")
    assert bundle.manifest is not None
    assert bundle.manifest["model"]["kind"] == "mlp" and bundle.manifest["model"]["hidden_size"] == 512
    assert bundle.manifest["hyperparameters"]["dropout"] == 0.5
    texts, labels = read_jsonl(data_dir / "intent_test.jsonl")
    layer = TorchBowLayer(str(tmp_path / "m"), min_known_words=0)
    assert layer.status()["hidden_size"] == 512 and layer.status()["model_kind"] == "mlp"
    expected = bundle.classifier.predict_proba(bundle.vectorizer.transform(texts[:50]))
    for text, row in zip(texts[:50], expected, strict=True):
        result = layer.route(text)
        top = result.candidates[0]
        assert top.intent == bundle.labels[int(row.argmax())]
        assert np.isclose(top.score, row.max())
    assert float(np.mean([layer.route(t).candidates[0].intent == y for t, y in zip(texts, labels, strict=True)])) > 0.5


def test_cli_train_with_a_domain_s_slots_and_a_weight_decay_writes_them_into_the_bundle(
    data_dir: Path, tmp_path: Path
) -> None:
    from intentroute.domains import load_domain
    from intentroute.layers.torch_bow import TorchBowLayer

    out = run_cli(
        "train",
        "--data",
        str(data_dir),
        "--out",
        str(tmp_path / "s"),
        "--slots",
        "brokerage",
        "--epochs",
        "2",
        "--weight-decay",
        "3e-4",
    )
    assert out.returncode == 0, out.stderr
    bundle = load_bundle(tmp_path / "s")
    assert bundle.manifest is not None and bundle.manifest["featurizer"]["slots"] == load_domain("brokerage").slots
    hp = bundle.manifest["hyperparameters"]
    assert hp["linear"]["weight_decay"] == 3e-4 and hp["hidden"]["weight_decay"] == 3e-4  # both models
    assert {"xxsymbol", "xxaccount", "xxtimeframe", "xxtopic"} <= set(bundle.vectorizer.vocabulary_ or {})
    layer = TorchBowLayer(str(tmp_path / "s"))
    assert layer.route("how did TSLA do this year").candidates
    bad = run_cli("train", "--data", str(data_dir), "--out", str(tmp_path / "x"), "--slots", "no-such-domain")
    assert bad.returncode == 2 and "--slots" in bad.stderr and "no-such-domain" in bad.stderr
    assert not (tmp_path / "x").exists()


def test_read_jsonl_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "d.jsonl"
    bad.write_text('{"text": "a", "intent": "b"}\n{"text": 3}\n')
    with pytest.raises(ConfigError, match="d.jsonl: line 2: expected"):
        read_jsonl(bad)
    bad.write_text('{"text": "a", "intent": "b"}\nnot json\n')
    with pytest.raises(ConfigError, match="line 2: not valid JSON"):
        read_jsonl(bad)


def test_score_reports_accuracy_per_intent_confusion_ece_and_risk_coverage() -> None:
    report = score(["a", "a", "b", "b"], ["a", "b", "b", "b"], [0.9, 0.55, 0.8, 0.95])
    assert report["accuracy"] == 0.75
    assert report["per_intent"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert report["confusion"] == {"labels": ["a", "b"], "matrix": [[1, 1], [0, 2]]}
    at_06 = next(r for r in report["risk_coverage"] if r["threshold"] == 0.6)
    assert at_06 == {"threshold": 0.6, "coverage": 0.75, "accuracy": 1.0}
    assert 0.0 <= report["ece"] <= 1.0


def test_evaluate_bundle_and_cascade(data_dir: Path, tmp_path: Path) -> None:
    import intentroute

    texts, labels = read_jsonl(data_dir / "intent_test.jsonl")
    b = evaluate_bundle(domain_path("brokerage", "bundle"), texts[:200], labels[:200], latency_samples=50)
    assert (
        b["kind"] == "bundle" and b["accuracy"] > 0.7 and b["latency"]["p50_us"] > 0 and b["latency"]["batch_per_s"] > 0
    )
    c = evaluate_cascade(
        intentroute.default_cascade(), [*texts[:200], "asdf qwer"], [*labels[:200], "oos"], latency_samples=50
    )
    # out-of-scope gold labels, as tune counts them: CLINC150's "oos" and the background class "none"
    oos = evaluate_cascade(intentroute.default_cascade(), ["asdf qwer", "zxcv"], ["oos", "none"], latency_samples=5)
    assert oos["accuracy"] == 1.0 and oos["clarify_rate"] == 1.0
    assert set(c["per_layer"]) <= {"rules", "torch_bow", "fallback"}
    assert abs(sum(v["share"] for v in c["per_layer"].values()) - 1.0) < 1e-3
    paths = write_report(c, tmp_path / "report")
    names = {p.name for p in paths}
    assert {"report.json", "report.md", "confusion_matrix.png", "reliability.png", "risk_coverage.png"} <= names
    assert json.loads((tmp_path / "report" / "report.json").read_text())["kind"] == "cascade"
    assert (tmp_path / "report" / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_evaluate_writes_a_report(data_dir: Path, tmp_path: Path) -> None:
    out = run_cli("evaluate", "--data", str(data_dir / "intent_test.jsonl"), "--report", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    assert "# Evaluation (bundle)" in out.stdout and "| intent | precision |" in out.stdout
    assert (tmp_path / "r" / "report.md").exists()
    both = run_cli("evaluate", "--data", str(data_dir / "intent_test.jsonl"), "--bundle", str(tmp_path), "--cascade")
    assert both.returncode == 2 and "pick one" in both.stderr


def test_cli_train_input_dropout_is_recorded_and_a_bad_value_is_refused(data_dir: Path, tmp_path: Path) -> None:
    args = ("train", "--data", str(data_dir), "--preset", "linear", "--epochs", "2")
    out = run_cli(*args, "--out", str(tmp_path / "d"), "--input-dropout", "0.5")
    assert out.returncode == 0, out.stderr
    manifest = load_bundle(tmp_path / "d").manifest
    assert manifest is not None and manifest["hyperparameters"]["input_dropout"] == 0.5
    assert run_cli(*args, "--out", str(tmp_path / "p")).returncode == 0
    plain = load_bundle(tmp_path / "p").manifest
    assert plain is not None and "input_dropout" not in plain["hyperparameters"]
    bad = run_cli(*args, "--out", str(tmp_path / "bad"), "--input-dropout", "1.5")
    assert bad.returncode == 2 and "--input-dropout" in bad.stderr and "1.5" in bad.stderr
    assert not (tmp_path / "bad").exists()


class _Vocab:
    """What error_analysis reads of the torch_bow layer's model: vocab, markers, tokens()."""

    def __init__(self) -> None:
        self.vocab = {"price": 0, "of": 1, "aapl": 2, "cash": 3}
        self.markers = frozenset({"xxsymbol"})

    def tokens(self, text: str) -> list[str]:
        return [*text.lower().split(), *(["xxsymbol"] if "aapl" in text.lower() else [])]


def test_error_analysis_ranks_templates_by_errors_and_names_words_without_a_feature() -> None:
    texts = ["price of aapl", "aapl quote", "cash", "cash pls", "how rich am i", "rich?", "price of aapl"]
    gold = ["quotes", "quotes", "cash", "cash", "value", "value", "quotes"]
    pred = ["quotes", "cash", "cash", "quotes", "performance", "performance", "quotes"]
    groups = ["q/1", "q/2", "c/1", "c/2", "v/1", "v/1", None]
    out = error_analysis(texts, gold, pred, groups=groups, model=_Vocab())
    assert (out["errors"], out["examples"], out["groups_with_errors"]) == (4, 7, 3)
    first = out["by_group"][0]
    assert first == {
        "group": "v/1",
        "errors": 2,
        "examples": 2,
        "gold": "value",
        "routed_to": {"performance": 2},
        "example": "how rich am i",
    }
    assert [r["group"] for r in out["by_group"]] == ["v/1", "c/2", "q/2"]  # ties by name
    # words outside the vocabulary, once per wrong utterance; slot markers are not words
    assert out["unknown_words"] == {"rich": 1, "how": 1, "am": 1, "i": 1, "quote": 1, "pls": 1, "rich?": 1}
    assert out["errors_with_unknown_word"] == 1.0 and out["right_with_unknown_word"] == 0.0
    with pytest.raises(ValueError, match="7 texts, 7 labels and 6 groups"):
        error_analysis(texts, gold, pred, groups=groups[:-1])
    top1 = error_analysis(texts, gold, pred, groups=groups, top=1)
    assert len(top1["by_group"]) == 1 and top1["errors_in_top_groups"] == 2 and "unknown_words" not in top1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.sampled_from("abc"), st.sampled_from(["t1", "t2", "t3", None])),
        min_size=1,
        max_size=40,
    )
)
def test_error_analysis_accounts_for_every_error(rows: list[tuple[str, str, str | None]]) -> None:
    gold, pred, groups = (list(c) for c in zip(*rows, strict=True))
    out = error_analysis([f"text {i}" for i in range(len(rows))], gold, pred, groups=groups, top=100)
    wrong = [i for i, (y, p) in enumerate(zip(gold, pred, strict=True)) if y != p]
    assert out["errors"] == len(wrong)
    assert out["errors_in_top_groups"] == sum(1 for i in wrong if groups[i] is not None)
    counts = [r["errors"] for r in out["by_group"]]
    assert counts == sorted(counts, reverse=True)
    for r in out["by_group"]:
        assert 0 < r["errors"] <= r["examples"] == groups.count(r["group"])
        assert sum(r["routed_to"].values()) == r["errors"]


def test_read_examples_reads_template_ids_and_none_without_them(tmp_path: Path) -> None:
    with_ids = tmp_path / "a.jsonl"
    with_ids.write_text(
        '{"text": "x", "intent": "a", "template_id": "a/1"}\n\n{"text": "y", "intent": "b", "template_id": 3}\n'
    )
    assert read_examples(with_ids) == (["x", "y"], ["a", "b"], ["a/1", None])
    without = tmp_path / "b.jsonl"
    without.write_text('{"text": "x", "intent": "a"}\n')
    assert read_examples(without) == (["x"], ["a"], None)
    bad = tmp_path / "c.jsonl"
    bad.write_text('{"text": "x", "intent": "a"}\n{"text": 1}\n')
    with pytest.raises(ConfigError, match="line 2"):
        read_examples(bad)


def test_cli_evaluate_reports_errors_by_template_and_unknown_words(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    rows = [
        {"text": "what's my cash balance", "intent": "cash_balance", "template_id": "cash_balance/1"},
        {"text": "zzqx blorfing wibble", "intent": "quotes", "template_id": "quotes/9"},
        {"text": "zzqx blorfing wibble please", "intent": "quotes", "template_id": "quotes/9"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for mode in ((), ("--cascade",)):
        out = run_cli("evaluate", "--data", str(data), *mode, "--report", str(tmp_path / f"r{len(mode)}"))
        assert out.returncode == 0, out.stderr
        assert "## Errors" in out.stdout and "| quotes/9 | 2 | 2 | quotes |" in out.stdout
        assert "zzqx (2)" in out.stdout and "blorfing (2)" in out.stdout
        report = json.loads((tmp_path / f"r{len(mode)}" / "report.json").read_text())
        assert report["error_analysis"]["by_group"][0]["group"] == "quotes/9"
        assert report["error_analysis"]["errors_with_unknown_word"] == 1.0
