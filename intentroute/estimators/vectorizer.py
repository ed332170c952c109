"""``BowVectorizer``: bag-of-words features (word and character n-grams) as a scikit-learn transformer.

The feature logic itself, and the seams a fast scorer reads, are :class:`intentroute.features.Features`,
which serving uses without scikit-learn; this module adds the estimator: parameters, fitting (the
vocabulary and document frequencies), the legacy vocabulary file, pickling.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..features import SLOT_MARKER_PREFIX, Features, stable_hash
from ..legacy import LEGACY_FEATURIZER
from ..text import TOKEN_PATTERN, word_ngrams

__all__ = ["SLOT_MARKER_PREFIX", "BowVectorizer", "stable_hash"]


class BowVectorizer(TransformerMixin, BaseEstimator, Features):  # type: ignore[misc]
    """Word (and optional character) n-gram counts of utterances, as a sparse float32 matrix.

    The defaults are the features measured best on brokerage, BANKING77 and CLINC150 (every
    preset but ``legacy`` uses them, docs/training.md): tokens ``[A-Za-z0-9']+`` lower-cased, word
    uni- and bigrams (``a_b``), character 3-4-grams within words, every feature kept, TF-IDF
    weights, rows scaled by ``l2_sum``. With ``char_ngrams=None, max_vocab=6000,
    weighting="count", norm=None`` (:data:`intentroute.legacy.LEGACY_FEATURIZER`) it reproduces
    the legacy pipeline's features exactly: a vocabulary of the 6,000 most frequent features
    (ties alphabetical) numbered in that order, raw counts.

    Parameters
    ----------
    ngram_max : int, default=2
        Word n-grams from 1 to ``ngram_max``.
    char_ngrams : tuple of (int, int) or None, default=(3, 4)
        Word-bounded character n-gram range, for robustness to typos; ``None``: words only.
    max_vocab : int or None, default=None
        Keep the most frequent features (the legacy ordering). ``None`` keeps all. Ignored with hashing.
    hashing : bool, default=False
        Map features to ``n_features`` columns with murmurhash3 instead of a vocabulary: no cap,
        no vocabulary to store, stable across processes; collisions add up.
    n_features : int, default=2**18
        Number of columns when ``hashing`` is true.
    weighting : {"count", "binary", "tfidf"}, default="tfidf"
        Raw counts (the legacy pipeline's), presence, or counts times smoothed inverse document frequency.
    sublinear_tf : bool, default=False
        Use ``1 + log(count)`` instead of the count.
    norm : {None, "l2", "l2_sum"}, default="l2_sum"
        ``"l2"`` scales each row to unit Euclidean length. ``"l2_sum"`` divides each row by the
        square root of the sum of the squared lengths of its *units* — each word occurrence with
        its character n-grams, each word n-gram occurrence — which equals the l2 length when no two
        units share a feature and stays within a few percent of it otherwise. It keeps the row a
        sum of per-unit vectors, so a linear model's scores for a word can be computed once and
        reused (the ``torch_bow`` layer's fast path). Needs ``sublinear_tf=False`` and no
        ``binary`` weighting, which are not additive over units.
    lowercase : bool, default=True
        Lower-case tokens (the legacy pipeline does).
    token_pattern : str, default="[A-Za-z0-9']+"
        The tokeniser's regular expression.
    slots : mapping or None, default=None
        Slots in a domain.json's ``slots`` format (``{"symbol": {"kind": "symbol", "tickers":
        [...], ...}, "account": {"kind": "lookup", "values": {...}}}``). When given, each
        utterance's tokens are followed by one marker token ``xx<name>`` per slot the domain's
        parameter extractor finds in it (``"how did TSLA do this year"`` gains ``xxsymbol``
        and ``xxtimeframe``), so the model can learn from "a ticker is mentioned" instead of from
        each ticker on its own. Slot names must be lower-case letters and digits. Marker tokens
        are features like any word (with their word pairs and character n-grams).

    Examples
    --------
    >>> texts = ["AAPL price", "price of MSFT", "price"]
    >>> vec = BowVectorizer().fit(texts)
    >>> [f for f in vec.get_feature_names_out() if "#" not in f]  # "#" marks a character n-gram
    ['price', 'aapl', 'aapl_price', 'msft', 'of', 'of_msft', 'price_of']
    >>> from intentroute.legacy import LEGACY_FEATURIZER
    >>> legacy = BowVectorizer(**LEGACY_FEATURIZER).fit(texts)
    >>> legacy.transform(["price price aapl"]).toarray().tolist()
    [[2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]]
    """

    def __init__(
        self,
        ngram_max: int = 2,
        char_ngrams: tuple[int, int] | None = (3, 4),
        max_vocab: int | None = None,
        hashing: bool = False,
        n_features: int = 2**18,
        weighting: str = "tfidf",
        sublinear_tf: bool = False,
        norm: str | None = "l2_sum",
        lowercase: bool = True,
        token_pattern: str = TOKEN_PATTERN,
        slots: Mapping[str, Any] | None = None,
    ) -> None:
        self.ngram_max = ngram_max
        self.char_ngrams = char_ngrams
        self.max_vocab = max_vocab
        self.hashing = hashing
        self.n_features = n_features
        self.weighting = weighting
        self.sublinear_tf = sublinear_tf
        self.norm = norm
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.slots = slots

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

    # -- validation --------------------------------------------------------------------------

    @staticmethod
    def _check_texts(X: Any) -> list[str]:
        if isinstance(X, str):
            raise ValueError("BowVectorizer expects an iterable of strings, got a single string; wrap it in a list")
        if isinstance(X, np.ndarray) and X.ndim != 1:
            raise ValueError(f"BowVectorizer expects a 1-d sequence of strings, got an array of shape {X.shape}")
        texts = list(X)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise ValueError(f"BowVectorizer expects strings; item {i} is {type(t).__name__}")
        return texts

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, X: Iterable[str], y: Any = None) -> BowVectorizer:
        """Learn the vocabulary (and document frequencies for TF-IDF) from ``X``."""
        self._fit(self._check_texts(X))
        return self

    def fit_transform(self, X: Iterable[str], y: Any = None, **fit_params: Any) -> sp.csr_matrix:
        """``fit(X).transform(X)``, tokenising each text once."""
        texts = self._check_texts(X)
        token_lists, counts = self._fit(texts)
        return self._weigh(self.count_matrix(token_lists) if counts is None else counts, token_lists)

    def _fit(self, texts: list[str]) -> tuple[list[list[str]], sp.csr_matrix | None]:
        """Fit on ``texts``; their token lists, and their counts when fitting needed them (TF-IDF)."""
        self._validate_params_()
        self._reset_caches()
        token_lists = [self.analyze(t) for t in texts]
        if self.hashing:
            self.vocabulary_: dict[str, int] | None = None
            self.n_features_out_ = int(self.n_features)
        else:
            # the legacy pipeline's frequencies: every feature of every text; a token's character n-grams
            # count once per occurrence of the token, so they are added per distinct token
            freq: Counter[str] = Counter()
            token_freq: Counter[str] = Counter()
            for toks in token_lists:
                freq.update(word_ngrams(toks, self.ngram_max))
                if self.char_ngrams is not None:
                    token_freq.update(toks)
            for tok, n in token_freq.items():
                for g in self._char_grams(tok):
                    freq[g] += n
            ranked = sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))
            if self.max_vocab is not None:
                ranked = ranked[: self.max_vocab]
            self.vocabulary_ = {f: i for i, (f, _) in enumerate(ranked)}
            self.n_features_out_ = len(self.vocabulary_)
        counts = None
        if self.weighting == "tfidf":
            counts = self.count_matrix(token_lists)
            df = np.bincount(counts.indices, minlength=self.n_features_out_).astype(np.float64)
            self.idf_ = (np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0).astype(np.float32)
        return token_lists, counts

    # -- transforming ------------------------------------------------------------------------

    def transform(self, X: Iterable[str]) -> sp.csr_matrix:
        """Features of ``X`` as a CSR matrix of float32, one row per text."""
        check_is_fitted(self, "n_features_out_")
        token_lists = [self.analyze(t) for t in self._check_texts(X)]
        return self._weigh(self.count_matrix(token_lists), token_lists)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Feature names in column order (seed names: ``word``, ``word_word``, ``#chr``)."""
        check_is_fitted(self, "n_features_out_")
        if self.vocabulary_ is None:
            width = len(str(self.n_features_out_ - 1))
            return np.asarray([f"hash_{i:0{width}d}" for i in range(self.n_features_out_)], dtype=object)
        names = [""] * len(self.vocabulary_)
        for f, i in self.vocabulary_.items():
            names[i] = f
        return np.asarray(names, dtype=object)

    # -- the legacy pipeline's vocabulary file ------------------------------------------------------------

    @classmethod
    def from_vocabulary(
        cls,
        vocabulary: Mapping[str, int],
        *,
        ngram_max: int = 2,
        token_pattern: str = TOKEN_PATTERN,
        **params: Any,
    ) -> BowVectorizer:
        """A fitted vectorizer from a legacy vocabulary (``{feature: column}``, columns 0..n-1);
        the settings not given are the legacy pipeline's (:data:`~intentroute.legacy.LEGACY_FEATURIZER`)."""
        cols = sorted(vocabulary.values())
        if cols != list(range(len(cols))):
            raise ValueError("vocabulary columns must be exactly 0..n-1")
        settings = {**LEGACY_FEATURIZER, **params, "ngram_max": ngram_max, "token_pattern": token_pattern}
        if settings["weighting"] == "tfidf":
            raise ValueError("a legacy vocabulary has no document frequencies; use count or binary weighting")
        settings["max_vocab"] = len(cols) or None
        vec = cls(**settings)
        vec._validate_params_()
        vec._reset_caches()
        vec.vocabulary_ = {str(f): int(i) for f, i in vocabulary.items()}
        vec.n_features_out_ = len(cols)
        return vec

    @classmethod
    def from_featurizer(cls, features: Features) -> BowVectorizer:
        """A fitted vectorizer with the settings and fitted state of ``features`` (a bundle's
        :class:`~intentroute.features.Featurizer`): the same columns, as a scikit-learn estimator."""
        vec = cls(**{k: getattr(features, k) for k in cls._get_param_names()})
        vec._validate_params_()
        vec._reset_caches()
        vec.vocabulary_ = features.vocabulary_
        vec.n_features_out_ = features.n_features_out_
        if features.weighting == "tfidf":
            vec.idf_ = features.idf_
        return vec

    def save_vocabulary(self, path: str | Path) -> None:
        """Write the vocabulary as the legacy pipeline's ``intent_router_vocab.json``."""
        check_is_fitted(self, "n_features_out_")
        if self.vocabulary_ is None:
            raise ValueError("a hashing vectorizer has no vocabulary to save")
        Path(path).write_text(json.dumps(self.vocabulary_), encoding="utf-8")

    @classmethod
    def load_vocabulary(cls, path: str | Path, **params: Any) -> BowVectorizer:
        """Read the legacy pipeline's ``intent_router_vocab.json`` into a fitted vectorizer."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a vocabulary file holds a JSON object of feature -> column")
        return cls.from_vocabulary(data, **params)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_pattern_", None)  # compiled again on load
        state.pop("_char_cache_", None)
        state.pop("_unit_sq_cache_", None)
        state.pop("_weight_list_", None)
        state.pop("_slot_finders_", None)
        state.pop("_slot_set_", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "n_features_out_" in state:
            self._reset_caches()
            self._slot_finders_ = self._build_slots()
