from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import intentroute
from intentroute import Cascade, Policy
from intentroute.bundle import save_bundle
from intentroute.config import build_cascade
from intentroute.domains import domain_path, load_domain
from intentroute.errors import ConfigError, LayerUnavailable
from intentroute.estimators import BowVectorizer, LogitSumClassifier, TorchBowClassifier
from intentroute.layers.torch_bow import TorchBowLayer
from intentroute.legacy import LEGACY_FEATURIZER
from intentroute.policies import load_policies
from intentroute.scoring import BowScorer

from .conftest import run_cli
from .test_bundle import write_seed_bundle

torch = pytest.importorskip("torch")

SEED_STATUS_KEYS = {
    "torch_available",
    "artifacts_present",
    "enabled",
    "confidence_threshold",
    "force_enabled",
    "ngram_max",
    "token_pattern",
}


def make_bundle(path: Path, texts: list[str], labels: list[str], **vp: object) -> Path:
    vec = BowVectorizer(**vp).fit(texts)  # type: ignore[arg-type]
    clf = TorchBowClassifier(hidden_size=0, epochs=40, random_state=0).fit(vec.transform(texts), labels)
    return save_bundle(path, vec, clf)


A_TEXTS = ["price of aapl", "aapl quote", "my cash balance", "how much cash"]
A_LABELS = ["quotes", "quotes", "cash_balance", "cash_balance"]
B_TEXTS = ["wire my money", "deposit status", "explain etfs", "what is a bond"]
B_LABELS = ["transfers", "transfers", "facts", "facts"]


def test_the_embedded_bundle_routes_paraphrases_the_rules_miss() -> None:
    layer = TorchBowLayer()
    result = layer.route("is nvda up for me this month")
    assert result.top is not None and result.top.intent == "symbol_performance" and result.top.score > 0.6
    assert len(result.candidates) == 3 and result.evidence


def test_status_has_the_seed_keys_and_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_ROUTER_CONF_THRESHOLD", "0.7")
    monkeypatch.setenv("TORCH_ROUTER_FORCE", "yes")
    status = TorchBowLayer().status()
    assert set(status) >= SEED_STATUS_KEYS
    assert status["enabled"] and status["torch_available"] and status["artifacts_present"]
    assert status["confidence_threshold"] == 0.7 and status["force_enabled"] is True
    assert (
        status["ngram_max"] == 2
        and status["format_version"] == 1
        and status["hidden_size"] == 0
        and status["model_kind"] == "linear"
    )
    assert len(status["labels"]) == 12 and "none" in status["labels"]  # 11 intents + the background class


def test_status_reports_a_bad_environment_variable_instead_of_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_ROUTER_CONF_THRESHOLD", "high")
    status = TorchBowLayer().status()
    assert status["confidence_threshold"] is None and "TORCH_ROUTER_CONF_THRESHOLD='high'" in status["env_error"]


def test_seed_TORCH_ROUTER_paths_select_the_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_seed_bundle(tmp_path / "seed")
    monkeypatch.setenv("TORCH_ROUTER_MODEL_PATH", str(tmp_path / "seed" / "intent_router.pt"))
    monkeypatch.setenv("TORCH_ROUTER_VOCAB_PATH", str(tmp_path / "seed" / "intent_router_vocab.json"))
    monkeypatch.setenv("TORCH_ROUTER_LABELS_PATH", str(tmp_path / "seed" / "intent_router_labels.json"))
    layer = TorchBowLayer()
    assert layer.status()["labels"] == ["cash_balance", "positions_list", "quotes"]
    assert layer.route("quote for aapl").top is not None


def test_a_bundle_folder_that_does_not_exist_is_a_config_error_unless_the_layer_waits_for_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no bundle folder at .*absent.*wait_for_bundle"):
        TorchBowLayer(tmp_path / "absent")
    with pytest.raises(ConfigError, match="parameter 'bundle'"):
        build_cascade({"layers": [{"name": "torch_bow", "params": {"bundle": str(tmp_path / "absnet")}}]})
    layer = TorchBowLayer(tmp_path / "later", wait_for_bundle=True, reload_interval=0)
    with pytest.raises(LayerUnavailable):
        layer.route("price of aapl")
    make_bundle(tmp_path / "later", A_TEXTS, A_LABELS)
    assert layer.route("price of aapl").top.intent == "quotes"  # type: ignore[union-attr]


def test_missing_artifacts_make_the_layer_unavailable_and_the_cascade_skips_it(tmp_path: Path) -> None:
    layer = TorchBowLayer(tmp_path / "absent", wait_for_bundle=True)
    with pytest.raises(LayerUnavailable, match="no bundle folder"):
        layer.route("anything")
    assert layer.status()["enabled"] is False and layer.status()["artifacts_present"] is False
    route = Cascade([layer]).route("anything")
    assert route.intent == "clarify" and route.trace[0].outcome == "unavailable"


def test_without_torch_a_folder_of_legacy_files_alone_is_unavailable_with_the_pip_hint(tmp_path: Path) -> None:
    write_seed_bundle(tmp_path / "legacy")  # the .pt only: no safetensors weights to read
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("blocked")
sys.meta_path.insert(0, Block())
import importlib.util
real_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "torch" else real_find_spec(name, *a)
import intentroute
from intentroute.layers.torch_bow import TorchBowLayer
cascade = intentroute.Cascade([TorchBowLayer({str(tmp_path / "legacy")!r})])
route = cascade.route("how did my roth do")
step = route.trace[0]
assert step.layer == "torch_bow" and step.outcome == "unavailable", step
assert "pip install 'intentroute[torch]'" in step.reason, step.reason
print(route.intent)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clarify"


def test_route_batch_matches_route() -> None:
    layer = TorchBowLayer()
    texts = [
        "how did my roth do",
        "is nvda up for me this month",
        "",
        "zzzz",
        "qoute for aapl",
        "list everything i own",
    ]
    for single, batched in zip([layer.route(t) for t in texts], layer.route_batch(texts), strict=True):
        assert [c.intent for c in single.candidates] == [c.intent for c in batched.candidates]
        assert np.allclose([c.score for c in single.candidates], [c.score for c in batched.candidates], atol=1e-12)


def test_the_background_class_makes_the_layer_abstain_and_never_appears_as_a_candidate() -> None:
    layer = TorchBowLayer()
    result = layer.route("what's the weather like in paris tomorrow")
    assert result.abstained and "out of scope: background class 'none'" in result.meta["reason"]
    for r in layer.route_batch(["how did my roth do", "tell me a joke", "list my holdings"]):
        assert all(c.intent != "none" for c in r.candidates)
    keep = TorchBowLayer(background_label=None).route("what's the weather like in paris tomorrow")
    assert keep.top is not None and keep.top.intent == "none"


def test_in_scope_confidence_scores_the_top_intent_by_one_minus_the_background_probability() -> None:
    plain, in_scope = TorchBowLayer(), TorchBowLayer(confidence="in_scope")
    model = in_scope._current()
    texts = ["break down my roth ira by holding", "how did my roth do", "whats tsla at", "what is a p/e ratio"]
    for text, a, b in zip(texts, [plain.route(t) for t in texts], in_scope.route_batch(texts), strict=True):
        p_bg = model.proba(text)[model.labels.index("none")]
        assert a.top is not None and b.top is not None and a.top.intent == b.top.intent
        assert b.top.score == pytest.approx(1.0 - p_bg, abs=1e-9) and b.top.score >= a.top.score
        assert [c.score for c in b.candidates[1:]] == pytest.approx([c.score for c in a.candidates[1:]], abs=1e-9)
        assert "in scope p=" in b.evidence[0]
    assert in_scope.route("what's the weather like in paris tomorrow").abstained
    assert in_scope.status()["confidence_in_effect"] == "in_scope"


def test_in_scope_confidence_without_a_background_class_is_the_probability(tmp_path: Path) -> None:
    path = make_bundle(tmp_path / "b", A_TEXTS, A_LABELS)
    layer, plain = TorchBowLayer(path, confidence="in_scope"), TorchBowLayer(path)
    assert layer.status()["confidence_in_effect"] == "probability"
    assert layer.route("aapl quote").top == plain.route("aapl quote").top


def test_no_known_word_means_abstain() -> None:
    layer = TorchBowLayer()
    gated = layer.route("asdf qwer zxcv")
    assert gated.abstained and "known word" in gated.meta["reason"]
    # without the gate the model itself decides (the embedded one: its background class)
    ungated = TorchBowLayer(min_known_words=0).route("asdf qwer zxcv")
    assert "known word" not in ungated.meta.get("reason", "")
    assert ungated.candidates or "background class" in ungated.meta["reason"]


def test_a_label_the_cascade_does_not_know_is_not_accepted(tmp_path: Path) -> None:
    path = make_bundle(
        tmp_path / "b",
        ["what is the weather", "weather today", "my cash", "cash please"],
        ["weather", "weather", "cash_balance", "cash_balance"],
    )
    route = Cascade([TorchBowLayer(path)], labels=["cash_balance", "quotes"]).route("what is the weather")
    assert route.intent == "clarify" and "unknown label 'weather'" in route.trace[0].reason


def test_a_new_bundle_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    path = make_bundle(tmp_path / "b", A_TEXTS, A_LABELS)
    layer = TorchBowLayer(path, reload_interval=0)
    assert layer.route("price of aapl").top.intent == "quotes"  # type: ignore[union-attr]
    make_bundle(path, B_TEXTS, B_LABELS)
    layer.route("price of aapl")  # finds the new files; the old model answers while they load
    assert layer.wait_for_reload(timeout=60)
    assert layer.route("deposit status").top.intent == "transfers"  # type: ignore[union-attr]
    assert layer.status()["reloads"] == 1 and layer.status()["labels"] == ["facts", "transfers"]


def test_a_bad_new_bundle_leaves_the_old_model_serving(tmp_path: Path) -> None:
    path = make_bundle(tmp_path / "b", A_TEXTS, A_LABELS)
    layer = TorchBowLayer(path, reload_interval=0)
    weights = path / "intent_router.pt"
    weights.write_bytes(weights.read_bytes()[:100])
    result = layer.route("price of aapl")
    assert result.top is not None and result.top.intent == "quotes"
    assert layer.wait_for_reload(timeout=60)
    status = layer.status()
    assert status["enabled"] and "intent_router.pt: does not match the manifest" in status["reload_error"]
    make_bundle(path, B_TEXTS, B_LABELS)  # a good one again
    layer.route("deposit status")
    assert layer.wait_for_reload(timeout=60)
    assert layer.route("deposit status").top.intent == "transfers"  # type: ignore[union-attr]
    assert layer.status()["reload_error"] is None


def test_a_route_never_waits_for_a_reload_the_old_model_answers_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import intentroute.layers.torch_bow as torch_bow_module

    path = make_bundle(tmp_path / "b", A_TEXTS, A_LABELS)
    layer = TorchBowLayer(path, reload_interval=0)
    release = threading.Event()
    real_load = torch_bow_module.load_bundle

    def slow_load(where: Any) -> Any:  # a load that takes as long as the test wants
        release.wait(60)
        return real_load(where)

    monkeypatch.setattr(torch_bow_module, "load_bundle", slow_load)
    make_bundle(path, B_TEXTS, B_LABELS)
    for _ in range(5):  # the reload is under way and blocked: every route is answered by the old model
        assert layer.route("price of aapl").top.intent == "quotes"  # type: ignore[union-attr]
    assert not layer.wait_for_reload(timeout=0.05)
    release.set()
    assert layer.wait_for_reload(timeout=60)
    assert layer.route("deposit status").top.intent == "transfers"  # type: ignore[union-attr]


def test_routing_is_thread_safe_while_bundles_are_replaced(tmp_path: Path) -> None:
    path = make_bundle(tmp_path / "b", A_TEXTS, A_LABELS)
    layer = TorchBowLayer(path, reload_interval=0)
    errors: list[BaseException] = []
    seen: set[str] = set()
    stop = threading.Event()

    def router() -> None:
        try:
            while not stop.is_set():
                for r in [layer.route("price of aapl"), *layer.route_batch(["deposit status", "my cash"])]:
                    if r.top is not None:
                        seen.add(r.top.intent)
        except LayerUnavailable:
            pass  # only if no model was ever loaded, which cannot happen here
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=router) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(6):
        make_bundle(path, *((B_TEXTS, B_LABELS) if i % 2 == 0 else (A_TEXTS, A_LABELS)))
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert seen <= {"quotes", "cash_balance", "transfers", "facts"}


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"top_k": 0}, "top_k"),
        ({"min_known_words": -1}, "min_known_words"),
        ({"reload_interval": "soon"}, "reload_interval"),
        ({"confidence": "energy"}, "confidence"),
    ],
)
def test_bad_parameters_are_config_errors(params: dict[str, object], param: str) -> None:
    with pytest.raises(ConfigError) as info:
        TorchBowLayer(**params)  # type: ignore[arg-type]
    assert info.value.param == param


def test_cli_status_and_layers_show_the_classifier() -> None:
    out = run_cli("status", "--json")
    assert out.returncode == 0, out.stderr
    layers = {entry["name"]: entry for entry in json.loads(out.stdout)["layers"]}
    fitted = load_policies(domain_path("brokerage", "policies.toml"))["torch_bow"]
    assert layers["torch_bow"]["policy"]["threshold"] == fitted.threshold and layers["torch_bow"]["status"]["enabled"]
    assert layers["torch_bow"]["status"]["confidence_in_effect"] == "in_scope"
    rows = {r["name"]: r for r in json.loads(run_cli("layers", "--json").stdout)}
    assert rows["torch_bow"]["available"] is True


def test_default_cascade_uses_the_classifier_after_the_rules() -> None:
    cascade = intentroute.default_cascade()
    # the threshold make model fitted on the model's validation split (docs/tuning.md), for the
    # in-scope confidence; the rules keep the seed's policy
    assert cascade.policy_for("torch_bow") == load_policies(domain_path("brokerage", "policies.toml"))["torch_bow"]
    assert cascade.policy_for("rules") == Policy(0.75, 0.1)
    route = cascade.route("is nvda up for me this month")
    assert route.layer == "torch_bow" and route.extracted == {"symbol": "NVDA", "timeframe": "this month"}
    # make model trains the embedded classifier with the domain's slot markers
    assert cascade.layers[1].status()["slots"] == list(load_domain("brokerage").slots)


# -- the precomputed-unit path equals the estimators ------------------------------------------
FAST_TRAIN = ["price of aapl", "aapl quote aapl quote", "my cash balance", "how much cash", "wire my money"]
FAST_TRAIN += ["deposit status", "explain etfs", "what is a bond", "bond yields explained", "cash cash cash"]
FAST_LABELS = ["q", "q", "c", "c", "t", "t", "f", "f", "f", "c"]
PROBES = ["", "aapl", "zzzz unknownword", "CASH cash cash balance", "Émile's cash", "İstanbul quote"]
PROBES += ["bond bond bond", "price of msft today", "a\x00b cash", "qoute for aapl", "'''", "x" * 300]
PROBES += ["ZZZZ", "apple cash today xxsymbol"]  # a capitalised unknown word is a symbol; a typed marker
#: a domain's slots, as BowVectorizer(slots=...) takes them: markers xxsymbol and xxtimeframe
SLOTS = {
    "symbol": {"kind": "symbol", "tickers": ["AAPL", "MSFT"], "names": {"apple": "AAPL"}},
    "timeframe": {"kind": "lookup", "values": {"today": "1D"}, "patterns": {r"\b(\d) ?days?\b": "{1}D"}},
}
FEATURE_SETTINGS = [
    {**LEGACY_FEATURIZER},  # the legacy pipeline's: raw counts, no norm
    {
        **LEGACY_FEATURIZER,
        "weighting": "tfidf",
        "norm": "l2_sum",
        "char_ngrams": (3, 4),
        "max_vocab": None,
    },  # the default
    {
        **LEGACY_FEATURIZER,
        "weighting": "tfidf",
        "norm": "l2",
        "sublinear_tf": True,
        "char_ngrams": (3, 4),
    },  # the general path
    {**LEGACY_FEATURIZER, "weighting": "binary", "char_ngrams": (2, 3)},
    {**LEGACY_FEATURIZER, "hashing": True, "n_features": 64, "char_ngrams": (3, 3), "norm": "l2_sum"},
    {**LEGACY_FEATURIZER, "ngram_max": 3, "weighting": "tfidf", "norm": "l2_sum", "char_ngrams": (3, 3)},
    {
        **LEGACY_FEATURIZER,
        "weighting": "tfidf",
        "norm": "l2_sum",
        "char_ngrams": (2, 3),
        "max_vocab": 20,
    },  # words cut from the vocabulary
    {**LEGACY_FEATURIZER, "weighting": "tfidf", "norm": "l2_sum", "token_pattern": r"[A-Za-z_]+"},  # no fast tokeniser
    {
        **LEGACY_FEATURIZER,
        "weighting": "tfidf",
        "norm": "l2_sum",
        "char_ngrams": (3, 4),
        "max_vocab": None,
        "slots": SLOTS,
    },
    {
        **LEGACY_FEATURIZER,
        "weighting": "tfidf",
        "norm": "l2",
        "sublinear_tf": True,
        "char_ngrams": (3, 4),
        "slots": SLOTS,
    },
    {**LEGACY_FEATURIZER, "hashing": True, "n_features": 64, "char_ngrams": (3, 3), "norm": "l2_sum", "slots": SLOTS},
]


def fast_model(
    params: dict[str, object], hidden: int | str, temperature: float = 1.0
) -> tuple[BowScorer, BowVectorizer, TorchBowClassifier]:
    """The layer's model of a small fit: ``hidden`` 0 (linear), a width, or "sum" (a linear and
    an 8-unit model, their logits summed)."""
    vec = BowVectorizer(**params).fit(FAST_TRAIN)  # type: ignore[arg-type]
    X = vec.transform(FAST_TRAIN)
    clf: Any
    if hidden == "sum":
        clf = LogitSumClassifier(
            linear=TorchBowClassifier(hidden_size=0, epochs=20, random_state=0),
            hidden=TorchBowClassifier(epochs=20, random_state=1, hidden_size=8, row_optimizer="rowwise_rmsprop"),
        ).fit(X, FAST_LABELS)
    else:
        clf = TorchBowClassifier(epochs=20, random_state=0, hidden_size=hidden).fit(X, FAST_LABELS)
    clf.temperature_ = temperature
    return BowScorer.from_estimators(vec, clf), vec, clf


@pytest.mark.parametrize(
    ("hidden", "temperature"), [(0, 1.0), (8, 1.0), (0, 1.7), (8, 0.6), ("sum", 1.0), ("sum", 1.7)]
)
@pytest.mark.parametrize("params", FEATURE_SETTINGS, ids=str)
def test_layer_probabilities_equal_the_estimators_on_every_path(
    params: dict[str, object], hidden: int | str, temperature: float
) -> None:
    model, vec, clf = fast_model(params, hidden, temperature)
    reference = clf.predict_proba(vec.transform(PROBES))
    single = np.array([model.proba(t) for t in PROBES])
    batch, known = model.score_batch(PROBES)
    assert np.allclose(single, reference, atol=1e-6) and np.allclose(batch, single, atol=1e-12)
    assert known.tolist() == [model.known_words(model.tokens(t)) for t in PROBES]
    assert np.allclose(model.proba_batch(list(reversed(PROBES))), batch[::-1], atol=1e-12)


DEFAULT_FAST = fast_model(FEATURE_SETTINGS[1], 0)
SLOTS_FAST = fast_model(FEATURE_SETTINGS[8], 0)


def test_slot_markers_are_features_but_not_known_words() -> None:
    model, vec, _clf = SLOTS_FAST
    tokens = model.tokens("price of AAPL today")
    assert tokens == ["price", "of", "aapl", "today", "xxsymbol", "xxtimeframe"]
    assert {"xxsymbol", "aapl_xxsymbol"} <= set(vec.vocabulary_ or {})  # trained on "price of aapl"
    # "ZZZZ" is a symbol to the extractor, but no word the model knows: the layer still abstains
    assert model.known_words(model.tokens("ZZZZ")) == 0
    assert model.score_batch(["ZZZZ", "aapl ZZZZ"])[1].tolist() == [0, 1]


def assert_scores_like_the_estimators(fast: tuple[object, BowVectorizer, TorchBowClassifier], texts: list[str]) -> None:
    """One by one and in a batch, the layer's model gives the estimators' probabilities."""
    model, vec, clf = fast
    single = np.array([model.proba(t) for t in texts]).reshape(len(texts), len(clf.classes_))
    assert np.allclose(model.proba_batch(texts), single, atol=1e-12)
    if texts:
        assert np.allclose(single, clf.predict_proba(vec.transform(texts)), atol=1e-6)


@given(st.lists(st.text(max_size=40) | st.sampled_from([*FAST_TRAIN, "AAPL 3 days", "apple today"]), max_size=6))
def test_any_strings_score_like_the_estimators_with_slot_markers(texts: list[str]) -> None:
    assert_scores_like_the_estimators(SLOTS_FAST, texts)


@given(st.lists(st.text(max_size=40) | st.sampled_from(FAST_TRAIN), max_size=6))
def test_any_strings_score_like_the_estimators_alone_and_in_batches(texts: list[str]) -> None:
    assert_scores_like_the_estimators(DEFAULT_FAST, texts)
    model = DEFAULT_FAST[0]
    seed_token = re.compile(r"[A-Za-z0-9']+")  # the seed's tokeniser, which the fast paths must equal
    for t in texts:
        assert model.tokens(t) == [w.lower() for w in seed_token.findall(t)]


@pytest.mark.parametrize("weight_scale", [1.0, 5000.0])  # 5000: logits whose exp overflows float64
def test_many_intents_score_like_the_estimators_even_when_exp_would_overflow(weight_scale: float) -> None:
    texts = [f"{how} number {i} word{i} w{i % 7}" for how in ("intent", "ask") for i in range(80)]
    labels = [f"i{i:02d}" for _ in range(2) for i in range(80)]  # 80 classes: the wide path
    vec = BowVectorizer(**FEATURE_SETTINGS[1]).fit(texts)  # type: ignore[arg-type]
    clf = TorchBowClassifier(hidden_size=0, epochs=30, lr=0.1, random_state=0).fit(vec.transform(texts), labels)
    clf.coef_ = clf.coef_ * weight_scale
    model = BowScorer.from_estimators(vec, clf)
    probes = [*texts[:5], "", "word3 word4", "unknownword", "intent"]
    reference = clf.predict_proba(vec.transform(probes))
    single = np.array([model.proba(t) for t in probes])
    assert np.isfinite(single).all()
    assert np.allclose(single, reference, atol=1e-6)
    assert np.allclose(model.proba_batch(probes), single, atol=1e-9)
