from __future__ import annotations

import itertools
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from intentroute.estimators import BowVectorizer
from intentroute.legacy import LEGACY_FEATURIZER
from intentroute.text import tokenize

TEXTS = [
    "What's AAPL trading at?",
    "price of MSFT",
    "show my positions",
    "how is TSLA performing",
    "my cash balance",
    "what is an ETF",
    "list my holdings",
    "AAPL perf",
    "quote for NVDA please",
    "how much cash do I have",
    "portfolio performance ytd",
    "what did I buy",
]
LABELS = ["q", "q", "l", "p", "c", "f", "l", "p", "q", "c", "p", "a"]


def legacy(**params: object) -> dict[str, object]:
    """The legacy pipeline's feature settings with ``params`` changed (what these tests were first
    written against; ``{}`` below is the recommended defaults)."""
    return {**LEGACY_FEATURIZER, **params}


VARIANTS = [
    legacy(),
    legacy(char_ngrams=(2, 4)),
    legacy(hashing=True, n_features=2**12),
    legacy(weighting="tfidf", norm="l2"),
    legacy(weighting="tfidf", norm="l2_sum", char_ngrams=(3, 4), max_vocab=None),
    legacy(weighting="binary"),
    legacy(sublinear_tf=True, char_ngrams=(3, 3), hashing=True, n_features=1000),
    legacy(
        slots={
            "symbol": {"kind": "symbol", "tickers": ["AAPL"]},
            "when": {"kind": "lookup", "values": {"ytd": "YTD"}},
        }
    ),
    {},
]


# -- the seed's own vocabulary builder, to prove compatibility -------------------------------
def seed_build_vocab(texts: list[str], max_vocab: int, ngram_max: int) -> dict[str, int]:
    token_re = re.compile(r"[A-Za-z0-9']+")
    freq: dict[str, int] = {}
    for text in texts:
        tokens = [t.lower() for t in token_re.findall(text)]
        feats = list(tokens)
        if ngram_max >= 2:
            feats += [f"{tokens[i]}_{tokens[i + 1]}" for i in range(len(tokens) - 1)]
        for f in feats:
            freq[f] = freq.get(f, 0) + 1
    ranked = sorted(freq.items(), key=lambda x: (-x[1], x[0]))
    return {t: i for i, (t, _) in enumerate(ranked[:max_vocab])}


def test_vocabulary_matches_the_seed_builder_exactly() -> None:
    for cap in (5, 6000):
        assert BowVectorizer(**legacy(max_vocab=cap)).fit(TEXTS).vocabulary_ == seed_build_vocab(TEXTS, cap, 2)


def test_seed_vocabulary_file_round_trip(tmp_path: Path) -> None:
    vec = BowVectorizer(**LEGACY_FEATURIZER).fit(TEXTS)
    path = tmp_path / "intent_router_vocab.json"
    vec.save_vocabulary(path)
    assert json.loads(path.read_text()) == seed_build_vocab(TEXTS, 6000, 2)
    again = BowVectorizer.load_vocabulary(path)
    assert (again.transform(TEXTS) != vec.transform(TEXTS)).nnz == 0
    assert list(again.get_feature_names_out()) == list(vec.get_feature_names_out())


def test_a_vocabulary_with_gaps_is_refused() -> None:
    with pytest.raises(ValueError, match="0..n-1"):
        BowVectorizer.from_vocabulary({"a": 0, "b": 2})


@pytest.mark.parametrize("params", VARIANTS, ids=str)
def test_output_is_float32_csr_with_one_row_per_text(params: dict[str, object]) -> None:
    m = BowVectorizer(**params).fit(TEXTS).transform([*TEXTS, ""])
    assert m.format == "csr" and m.dtype == np.float32 and m.shape[0] == len(TEXTS) + 1


@pytest.mark.parametrize("params", VARIANTS, ids=str)
def test_clone_and_get_set_params_round_trip(params: dict[str, object]) -> None:
    vec = BowVectorizer(**params)
    assert clone(vec).get_params() == vec.get_params()
    other = BowVectorizer().set_params(**vec.get_params())
    assert other.get_params() == vec.get_params()


@pytest.mark.parametrize("params", VARIANTS, ids=str)
def test_pickle_round_trip_gives_the_same_matrix(params: dict[str, object]) -> None:
    vec = BowVectorizer(**params).fit(TEXTS)
    again = pickle.loads(pickle.dumps(vec))
    assert (again.transform(TEXTS) != vec.transform(TEXTS)).nnz == 0


def test_not_fitted_error_before_fit() -> None:
    with pytest.raises(NotFittedError):
        BowVectorizer().transform(["x"])
    with pytest.raises(NotFittedError):
        BowVectorizer().get_feature_names_out()


def test_works_in_a_pipeline_and_grid_search() -> None:
    pipe = Pipeline([("bow", BowVectorizer()), ("clf", LogisticRegression(max_iter=500))])
    grid = GridSearchCV(pipe, {"bow__ngram_max": [1, 2], "bow__char_ngrams": [None, (3, 4)]}, cv=2)
    grid.fit(TEXTS * 3, LABELS * 3)
    assert grid.best_params_["bow__ngram_max"] in (1, 2)
    assert grid.predict(["price of AAPL"]).shape == (1,)


def test_string_input_tags() -> None:
    tags = BowVectorizer().__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"ngram_max": 0}, "ngram_max"),
        ({"char_ngrams": (4, 2)}, "char_ngrams"),
        ({"weighting": "bm25"}, "weighting"),
        ({"norm": "l1"}, "norm"),
        ({"norm": "l2_sum", "sublinear_tf": True}, "l2_sum"),
        ({"norm": "l2_sum", "weighting": "binary"}, "l2_sum"),
        ({"max_vocab": -1}, "max_vocab"),
        ({"token_pattern": "("}, "token_pattern"),
        ({"slots": {}}, "slots"),
        ({"slots": ["symbol"]}, "slots"),
        ({"slots": {"Symbol": {"kind": "symbol"}}}, "lower-case"),
        ({"slots": {"when": {"kind": "dates"}}}, "slot 'when': kind"),
        ({"slots": {"when": {"kind": "lookup", "patterns": {"(": "x"}}}}, "invalid pattern"),
    ],
)
def test_bad_parameters_fail_in_fit_with_the_parameter_named(params: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        BowVectorizer(**params).fit(TEXTS)


def test_slot_markers_follow_the_tokens_of_texts_with_slot_values() -> None:
    vec = BowVectorizer(**legacy(slots=VARIANTS[-2]["slots"])).fit(TEXTS)
    assert vec.slot_markers("What's AAPL at YTD?") == ["xxsymbol", "xxwhen"]
    assert vec.slot_markers("what is an etf") == []
    # a marker is a feature: "xxsymbol" counts in every text naming a ticker, the extractor's way
    col = vec.vocabulary_["xxsymbol"]
    rows = vec.transform(["aapl", "XYZ price", "price", "portfolio performance ytd"])[:, col].toarray().ravel()
    assert rows.tolist() == [1.0, 1.0, 0.0, 0.0]
    # without slots, the same texts have no marker features
    assert "xxsymbol" not in BowVectorizer(**legacy()).fit(TEXTS).vocabulary_


def test_a_single_string_is_refused() -> None:
    with pytest.raises(ValueError, match="single string"):
        BowVectorizer().fit("price of AAPL")


def test_char_ngrams_make_typos_share_features() -> None:
    vec = BowVectorizer().fit(["quote for AAPL"])  # character 3-4-grams by default
    assert vec.transform(["qoute"]).nnz > 0
    assert BowVectorizer(char_ngrams=None).fit(["quote for AAPL"]).transform(["qoute"]).nnz == 0


# -- properties ------------------------------------------------------------------------------
FITTED = {str(p): BowVectorizer(**p).fit(TEXTS) for p in VARIANTS}
words = st.sampled_from(sorted({w.lower() for t in TEXTS for w in re.findall(r"[A-Za-z0-9']+", t)}))


@pytest.mark.parametrize("key", list(FITTED))
@given(text=st.text())
def test_any_unicode_transforms_to_a_non_negative_row_of_the_right_width(key: str, text: str) -> None:
    vec = FITTED[key]
    row = vec.transform([text])
    assert row.shape == (1, vec.n_features_out_) == (1, len(vec.get_feature_names_out()))
    assert (row.data >= 0).all()


@given(
    words=st.lists(words, min_size=1, max_size=8),
    spaces=st.lists(st.sampled_from([" ", "  ", "\t", "\n "]), min_size=8, max_size=8),
)
def test_case_and_extra_whitespace_do_not_change_the_row(words: list[str], spaces: list[str]) -> None:
    vec = FITTED[str(legacy(char_ngrams=(2, 4)))]
    plain = " ".join(words)
    noisy = "".join(w.upper() + s for w, s in zip(words, spaces, strict=False))
    assert (vec.transform([plain]) != vec.transform([noisy])).nnz == 0


@given(st.lists(words, min_size=1, max_size=8), st.randoms())
def test_unigram_counts_do_not_depend_on_word_order(ws: list[str], rnd: object) -> None:
    vec = BowVectorizer(ngram_max=1).fit(TEXTS)
    shuffled = list(ws)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert (vec.transform([" ".join(ws)]) != vec.transform([" ".join(shuffled)])).nnz == 0


@given(st.lists(words, min_size=1, max_size=8))
def test_bigram_count_is_tokens_minus_one_when_all_are_in_the_vocabulary(ws: list[str]) -> None:
    text = " ".join(ws)
    vec = BowVectorizer(**legacy(max_vocab=None)).fit([*TEXTS, text])
    names = vec.get_feature_names_out()
    row = vec.transform([text]).toarray()[0]
    bigrams = sum(v for n, v in zip(names, row, strict=True) if "_" in n)
    assert bigrams == len(ws) - 1


@given(st.text(alphabet=st.characters(categories=["Zs", "P", "S"], exclude_characters="'"), max_size=20))
def test_text_without_tokens_gives_an_empty_row(text: str) -> None:
    for vec in FITTED.values():  # char n-grams come from tokens, so they are empty too
        assert vec.transform([text]).nnz == 0


def test_empty_string_and_unseen_words_give_empty_rows() -> None:
    vec = FITTED[str(legacy())]
    assert vec.transform([""]).nnz == 0
    assert vec.transform(["zebra xylophone quokka"]).nnz == 0


def test_hashing_is_stable_across_processes() -> None:
    text = "How is TSLA performing year to date? qoute"
    vec = BowVectorizer(hashing=True, n_features=2**16, char_ngrams=(3, 5))
    here = vec.fit([text]).transform([text])
    code = (
        "from intentroute.estimators import BowVectorizer;"
        "v=BowVectorizer(hashing=True, n_features=2**16, char_ngrams=(3, 5)).fit(['x']);"
        f"m=v.transform([{text!r}]);print(list(m.indices), list(m.data))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert out.stdout.strip() == f"{list(here.indices)} {list(here.data)}"


# -- the l2_sum norm ---------------------------------------------------------------------------
def l2_sum_reference(vec: BowVectorizer, text: str) -> np.ndarray:
    """l2_sum by its definition: the row over the square root of the sum of the squared lengths
    of each word occurrence's own features and of each word-pair occurrence's feature."""
    weights = vec.idf_ if vec.weighting == "tfidf" else np.ones(vec.n_features_out_)
    tokens = vec.tokenize(text)
    units = [vec.count_matrix([[t]]).toarray()[0] * weights for t in tokens]
    for pair in itertools.pairwise(tokens):
        one = np.zeros(vec.n_features_out_)
        col = vec.vocabulary_.get("_".join(pair))
        if col is not None:
            one[col] = weights[col]
        units.append(one)
    if not units:
        return np.zeros(vec.n_features_out_)
    total = np.sum(units, axis=0)
    sq = sum(float(u @ u) for u in units)
    return total / np.sqrt(sq) if sq > 0 else total


@pytest.mark.parametrize("weighting", ["count", "tfidf"])
@given(text=st.lists(st.sampled_from(["aapl", "Aapl", "price", "cash", "zzz", "qoute", "of", "!", "aaaa"]), max_size=9))
def test_l2_sum_divides_by_the_root_of_the_units_squared_lengths(weighting: str, text: list[str]) -> None:
    vec = BowVectorizer(char_ngrams=(2, 3), max_vocab=None, weighting=weighting, norm="l2_sum").fit([*TEXTS, "aaaa"])
    joined = " ".join(text)
    assert np.allclose(vec.transform([joined]).toarray()[0], l2_sum_reference(vec, joined), atol=1e-6)


def test_l2_sum_rows_follow_the_idf_of_the_latest_fit_and_of_weights_set_on_load() -> None:
    # the per-token squared lengths use a kept copy of the idf weights: refitting, or a bundle
    # setting idf_ on load, must not leave the old weights in use
    settings = {"char_ngrams": (2, 3), "max_vocab": None, "weighting": "tfidf", "norm": "l2_sum"}
    other = ["cash cash cash", "price of aapl", "aapl aapl", "zzz price"]
    text = "price of aapl cash zzz"
    refitted = BowVectorizer(**settings).fit(TEXTS)
    refitted.transform([text])
    refitted.fit(other)
    fresh = BowVectorizer(**settings).fit(other)
    assert np.array_equal(refitted.transform([text]).toarray(), fresh.transform([text]).toarray())
    assert np.allclose(fresh.transform([text]).toarray()[0], l2_sum_reference(fresh, text), atol=1e-6)
    loaded = pickle.loads(pickle.dumps(fresh))
    loaded.transform([text])
    loaded.idf_ = np.ones_like(loaded.idf_)  # as a bundle assigns the stored weights
    loaded._unit_sq_cache_ = {}
    assert np.allclose(loaded.transform([text]).toarray()[0], l2_sum_reference(loaded, text), atol=1e-6)


@given(st.lists(words, min_size=1, max_size=8, unique=True))
def test_l2_sum_equals_l2_when_no_two_units_share_a_feature(ws: list[str]) -> None:
    # word features only, each word once: the units are disjoint, so the two norms agree
    exact = BowVectorizer(ngram_max=1, char_ngrams=None, weighting="tfidf", norm="l2").fit(TEXTS)
    summed = BowVectorizer(ngram_max=1, char_ngrams=None, weighting="tfidf", norm="l2_sum").fit(TEXTS)
    text = " ".join(ws)
    assert np.allclose(exact.transform([text]).toarray(), summed.transform([text]).toarray(), atol=1e-6)


ASCII_HEAVY = st.text(alphabet=st.characters(max_codepoint=127) | st.sampled_from("ÉßİK\u2019"), max_size=40)


@given(st.text(max_size=40) | ASCII_HEAVY)
def test_the_fast_tokeniser_equals_the_seed_regex_on_any_string(text: str) -> None:
    seed = [t.lower() for t in re.findall(r"[A-Za-z0-9']+", text)]
    assert tokenize(text) == seed
    assert BowVectorizer().fit(TEXTS).tokenize(text) == seed
    custom = BowVectorizer(token_pattern=r"[A-Za-z0-9']+|#").fit(TEXTS)  # not the seed's: the regex path
    assert custom.tokenize(text) == [t.lower() for t in re.findall(r"[A-Za-z0-9']+|#", text)]
