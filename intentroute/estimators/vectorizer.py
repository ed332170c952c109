"""``BowVectorizer``: bag-of-words features (word and character n-grams) as a scikit-learn transformer.

About 480 lines, one estimator: its parameters and their validation, fitting, the transform, the
legacy vocabulary file, and the public seams a fast scorer reads (``analyze``, ``token_columns``,
...), which must stay beside the transform they reproduce.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import murmurhash3_32
from sklearn.utils.validation import check_is_fitted

from ..errors import ConfigError
from ..legacy import LEGACY_FEATURIZER
from ..slots import slots_from_spec
from ..text import TOKEN_PATTERN, char_ngrams, normalize, tokenize, word_ngrams
from ..validation import is_number

__all__ = ["SLOT_MARKER_PREFIX", "BowVectorizer", "stable_hash"]

_WEIGHTINGS = ("count", "binary", "tfidf")
_NORMS = (None, "l2", "l2_sum")
_SLOT_NAME = re.compile(r"[a-z0-9]+")
#: marker tokens are this prefix and the slot's name: ``xxsymbol``
SLOT_MARKER_PREFIX = "xx"
_CHAR_CACHE_SIZE = 200_000  # tokens whose char n-grams are remembered (a few tens of MB at most)


def stable_hash(feature: str, n_features: int) -> int:
    """The column of ``feature`` under feature hashing: murmurhash3, identical in every process.

    >>> stable_hash("price", 2**18) == stable_hash("price", 2**18)
    True
    """
    return int(murmurhash3_32(feature, seed=0, positive=True)) % n_features


class BowVectorizer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
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

    def _validate_params_(self) -> None:
        def positive_int(name: str, value: Any) -> None:
            if not is_number(value, 1, integer=True):
                raise ValueError(f"BowVectorizer: {name} must be a positive integer, got {value!r}")

        positive_int("ngram_max", self.ngram_max)
        if self.char_ngrams is not None:
            lo_hi = tuple(self.char_ngrams)
            if len(lo_hi) != 2 or not all(is_number(v, integer=True) for v in lo_hi):
                raise ValueError(f"BowVectorizer: char_ngrams must be (lo, hi) integers, got {self.char_ngrams!r}")
            if not 1 <= lo_hi[0] <= lo_hi[1]:
                raise ValueError(f"BowVectorizer: char_ngrams needs 1 <= lo <= hi, got {self.char_ngrams!r}")
        if self.max_vocab is not None:
            positive_int("max_vocab", self.max_vocab)
        positive_int("n_features", self.n_features)
        if self.weighting not in _WEIGHTINGS:
            raise ValueError(f"BowVectorizer: weighting must be one of {_WEIGHTINGS}, got {self.weighting!r}")
        if self.norm not in _NORMS:
            raise ValueError(f"BowVectorizer: norm must be one of {_NORMS}, got {self.norm!r}")
        if self.norm == "l2_sum" and (self.sublinear_tf or self.weighting == "binary"):
            raise ValueError(
                "BowVectorizer: norm='l2_sum' needs weights that add up over words "
                f"(sublinear_tf=False and weighting 'count' or 'tfidf'), got sublinear_tf={self.sublinear_tf!r}, "
                f"weighting={self.weighting!r}"
            )
        try:
            re.compile(self.token_pattern)
        except (re.error, TypeError) as exc:
            raise ValueError(f"BowVectorizer: invalid token_pattern {self.token_pattern!r}: {exc}") from exc
        self._slot_finders_ = self._build_slots()

    def _build_slots(self) -> dict[str, Any]:
        """The extractor's slot finders for ``slots``, keyed by marker token; ValueError if invalid."""
        if getattr(self, "slots", None) is None:  # (also a vectorizer pickled before slots existed)
            return {}
        if not isinstance(self.slots, Mapping) or not self.slots:
            raise ValueError(
                f"BowVectorizer: slots must be a non-empty mapping of slot name -> settings, got {self.slots!r}"
            )
        bad = [n for n in self.slots if not (isinstance(n, str) and _SLOT_NAME.fullmatch(n))]
        if bad:
            raise ValueError(f"BowVectorizer: slot names must be lower-case letters and digits, got {bad!r}")
        try:
            found = slots_from_spec(self.slots, "BowVectorizer(slots=...)")
        except ConfigError as exc:
            raise ValueError(f"BowVectorizer: invalid slots: {exc}") from exc
        return {SLOT_MARKER_PREFIX + name: slot for name, slot in found.items()}

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

    # -- the seams a fast scorer needs (as scikit-learn's build_analyzer) ---------------------
    # intentroute.scoring.BowScorer precomputes a fitted vectorizer's features per word through
    # these; each gives exactly what transform() uses, so the two cannot drift apart.

    @property
    def default_tokens(self) -> bool:
        """Whether the tokens are :func:`intentroute.text.tokenize`'s (the default pattern, lower-cased)."""
        return bool(self.lowercase and self.token_pattern == TOKEN_PATTERN)

    @property
    def slot_finders(self) -> Mapping[str, Any]:
        """The fitted slot finders, keyed by their marker token (``xxsymbol``); empty without ``slots``."""
        check_is_fitted(self, "n_features_out_")
        finders: Mapping[str, Any] = self._slot_finders_
        return finders

    def tokenize(self, text: str) -> list[str]:
        """The word tokens of ``text`` (no slot markers)."""
        if self.default_tokens:
            return tokenize(text)  # with its fast path for ASCII text
        tokens: list[str] = self._pattern_.findall(text)
        return [t.lower() for t in tokens] if self.lowercase else tokens

    def slot_markers(self, text: str) -> list[str]:
        """The marker tokens of the slots found in ``text``, in the order of ``slots``."""
        finders = self._slot_finders_
        if not finders:
            return []
        norm = normalize(text)
        return [marker for marker, slot in finders.items() if slot.find(text, norm)]

    def analyze(self, text: str) -> list[str]:
        """An utterance's tokens, followed by its slot markers when ``slots`` is set: what
        every feature of the utterance is built from."""
        tokens = self.tokenize(text)
        return tokens + self.slot_markers(text) if self._slot_finders_ else tokens

    def _char_grams(self, token: str) -> list[str]:
        lo, hi = self.char_ngrams  # type: ignore[misc]
        return char_ngrams([token], lo, hi)

    def token_columns(self, token: str) -> list[int]:
        """The columns a token contributes by itself: its unigram and its character n-grams
        (a repeated column once per occurrence). Cached per token."""
        cached = self._char_cache_.get(token)
        if cached is not None:
            return cached
        feats = [token]
        if self.char_ngrams is not None:
            feats.extend(self._char_grams(token))
        cols = self._columns(feats)
        if len(self._char_cache_) < _CHAR_CACHE_SIZE:
            self._char_cache_[token] = cols
        return cols

    def row_columns(self, tokens: list[str]) -> list[int]:
        """The columns of one analysed text's features, with repeats (which become counts)."""
        cache = self._char_cache_
        cols: list[int] = []
        for tok in tokens:
            c = cache.get(tok)
            cols.extend(c if c is not None else self.token_columns(tok))
        cols.extend(self.ngram_columns(tokens))
        return cols

    def ngram_columns(self, tokens: list[str]) -> list[int]:
        """The columns of the word n-grams (n >= 2) of one analysed text."""
        if self.ngram_max == 2 and len(tokens) > 1:  # the common case, without word_ngrams' generality
            return self._columns([a + "_" + b for a, b in itertools.pairwise(tokens)])
        if self.ngram_max > 2 and len(tokens) > 1:
            return self._columns(word_ngrams(tokens, self.ngram_max)[len(tokens) :])
        return []

    def feature_weights(self) -> np.ndarray | None:
        """Each column's weight before normalisation (the idf), or ``None`` for all ones."""
        return np.asarray(self.idf_, dtype=np.float64) if self.weighting == "tfidf" else None

    def _weight_list(self) -> list[float] | None:
        """``feature_weights()`` as Python floats (the same float64 values), kept while ``idf_``
        is the same array: per token, indexing a list is cheap where converting the whole array
        (what ``feature_weights`` does on each call) is not."""
        if self.weighting != "tfidf":
            return None
        kept = getattr(self, "_weight_list_", None)
        if kept is None or kept[0] is not self.idf_:
            kept = (self.idf_, np.asarray(self.idf_, dtype=np.float64).tolist())
            self._weight_list_ = kept
        out: list[float] = kept[1]
        return out

    def token_squared_norm(self, token: str) -> float:
        """The squared length of one word occurrence's own weighted features (``l2_sum``'s unit)."""
        sq = self._unit_sq_cache_.get(token)
        if sq is None:
            counts = Counter(self.token_columns(token))
            w = self._weight_list()
            sq = float(sum((n * (1.0 if w is None else w[col])) ** 2 for col, n in counts.items()))
            if len(self._unit_sq_cache_) < _CHAR_CACHE_SIZE:
                self._unit_sq_cache_[token] = sq
        return sq

    def unit_squared_norms(self, token_lists: list[list[str]]) -> np.ndarray:
        """Per analysed text, the sum of its units' squared lengths: the square of ``l2_sum``'s divisor."""
        token_sq = self.token_squared_norm
        out = np.fromiter((sum(token_sq(t) for t in toks) for toks in token_lists), np.float64, len(token_lists))
        indptr = [0]
        indices: list[int] = []
        for toks in token_lists:
            indices.extend(self.ngram_columns(toks))
            indptr.append(len(indices))
        if indices:
            w = self.feature_weights()
            sq = np.ones(len(indices)) if w is None else w[np.asarray(indices, dtype=np.intp)] ** 2
            rows = np.repeat(np.arange(len(token_lists)), np.diff(indptr))
            out += np.bincount(rows, weights=sq, minlength=len(token_lists))
        return out

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
        self._pattern_ = re.compile(self.token_pattern)
        self._char_cache_: dict[str, list[int]] = {}
        self._unit_sq_cache_: dict[str, float] = {}
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

    def _columns(self, feats: list[str]) -> list[int]:
        if self.vocabulary_ is None:
            n = self.n_features_out_
            return [stable_hash(f, n) for f in feats]
        vocab = self.vocabulary_
        return [c for f in feats if (c := vocab.get(f)) is not None]

    def count_matrix(self, token_lists: list[list[str]]) -> sp.csr_matrix:
        """Raw feature counts of analysed texts (before weighting and normalisation), as CSR."""
        indptr = [0]
        indices: list[int] = []
        for toks in token_lists:
            indices.extend(self.row_columns(toks))
            indptr.append(len(indices))
        m = sp.csr_matrix(
            (
                np.ones(len(indices), dtype=np.float32),
                np.asarray(indices, dtype=np.int32),
                np.asarray(indptr, dtype=np.int64),
            ),
            shape=(len(token_lists), self.n_features_out_),
        )
        m.sum_duplicates()  # repeated features become counts; also sorts the indices
        return m

    def transform(self, X: Iterable[str]) -> sp.csr_matrix:
        """Features of ``X`` as a CSR matrix of float32, one row per text."""
        check_is_fitted(self, "n_features_out_")
        token_lists = [self.analyze(t) for t in self._check_texts(X)]
        return self._weigh(self.count_matrix(token_lists), token_lists)

    def _weigh(self, m: sp.csr_matrix, token_lists: list[list[str]]) -> sp.csr_matrix:
        if self.weighting == "binary":
            m.data[:] = 1.0
        elif self.sublinear_tf:
            m.data = (1.0 + np.log(m.data)).astype(np.float32)
        if self.weighting == "tfidf":
            m.data *= self.idf_[m.indices]
        if self.norm is not None:
            if self.norm == "l2":
                sq = np.asarray(m.multiply(m).sum(axis=1)).ravel()
            else:
                sq = self.unit_squared_norms(token_lists)
            scale = np.where(sq > 0, 1.0 / np.sqrt(np.maximum(sq, 1e-30)), 0.0).astype(np.float32)
            m = sp.csr_matrix(sp.diags(scale) @ m, dtype=np.float32)
        return m

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
        vec._pattern_ = re.compile(token_pattern)
        vec._char_cache_ = {}
        vec._unit_sq_cache_ = {}
        vec.vocabulary_ = {str(f): int(i) for f, i in vocabulary.items()}
        vec.n_features_out_ = len(cols)
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
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "n_features_out_" in state:
            self._pattern_ = re.compile(self.token_pattern)
            self._char_cache_ = {}
            self._unit_sq_cache_ = {}
            self._slot_finders_ = self._build_slots()
