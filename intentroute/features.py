"""The bag-of-words features themselves, without scikit-learn: what ``BowVectorizer`` computes and
what a bundle stores, so that serving needs neither scikit-learn nor torch.

:class:`Features` is the feature logic over a fitted state (settings, ``vocabulary_``, ``idf_``,
``n_features_out_``); :class:`~intentroute.estimators.BowVectorizer` is it as a scikit-learn
transformer, and :class:`Featurizer` is it as a bundle loads it. Both give the same columns, and
:class:`~intentroute.scoring.BowScorer` reads either through the same public seams.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._floats import left_sum
from .errors import ConfigError
from .patterns import BoundedPattern
from .slots import slot_set, slots_from_spec
from .text import TOKEN_PATTERN, char_ngrams, tokenize, word_ngrams
from .validation import is_number

__all__ = ["SETTINGS", "SLOT_MARKER_PREFIX", "Features", "Featurizer", "stable_hash"]

WEIGHTINGS = ("count", "binary", "tfidf")
NORMS = (None, "l2", "l2_sum")
_SLOT_NAME = re.compile(r"[a-z0-9]+")
#: marker tokens are this prefix and the slot's name: ``xxsymbol``
SLOT_MARKER_PREFIX = "xx"
_CHAR_CACHE_SIZE = 200_000  # tokens whose char n-grams are remembered (a few tens of MB at most)
#: the settings that define the features (BowVectorizer's parameters but the vocabulary cap)
SETTINGS = (
    "ngram_max",
    "char_ngrams",
    "hashing",
    "n_features",
    "weighting",
    "sublinear_tf",
    "norm",
    "lowercase",
    "token_pattern",
    "slots",
)
_MURMUR: Any = None


def stable_hash(feature: str, n_features: int) -> int:
    """The column of ``feature`` under feature hashing: murmurhash3, identical in every process.

    >>> stable_hash("price", 2**18) == stable_hash("price", 2**18)
    True
    """
    global _MURMUR
    if _MURMUR is None:  # scikit-learn's murmurhash, imported only by a hashing featurizer
        from sklearn.utils import murmurhash3_32

        _MURMUR = murmurhash3_32
    return int(_MURMUR(feature, seed=0, positive=True)) % n_features


class Features:
    """The feature logic over a fitted state: tokens, slot markers, columns, counts, weights.

    A subclass provides the settings (``ngram_max``, ``char_ngrams``, ``hashing``, ``n_features``,
    ``weighting``, ``sublinear_tf``, ``norm``, ``lowercase``, ``token_pattern``, ``slots``,
    ``max_vocab``) and the fitted state (``vocabulary_``: ``None`` with hashing, ``idf_`` with
    TF-IDF, ``n_features_out_``), then calls :meth:`_validate_params_` and :meth:`_reset_caches`.
    """

    ngram_max: int
    char_ngrams: tuple[int, int] | None
    max_vocab: int | None
    hashing: bool
    n_features: int
    weighting: str
    sublinear_tf: bool
    norm: str | None
    lowercase: bool
    token_pattern: str
    slots: Mapping[str, Any] | None
    vocabulary_: dict[str, int] | None
    idf_: np.ndarray
    n_features_out_: int

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
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"BowVectorizer: weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        if self.norm not in NORMS:
            raise ValueError(f"BowVectorizer: norm must be one of {NORMS}, got {self.norm!r}")
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
        self._slot_set_ = slot_set(found)  # (found together once per utterance, shared with extraction)
        return {SLOT_MARKER_PREFIX + name: slot for name, slot in found.items()}

    def _reset_caches(self) -> None:
        # a token pattern other than the default comes from a user (or a bundle's manifest): its
        # searches run under a time bound (the default pattern never reaches it: text.tokenize)
        self._pattern_ = BoundedPattern(self.token_pattern)
        self._char_cache_: dict[str, list[int]] = {}
        self._unit_sq_cache_: dict[str, float] = {}

    # -- the seams a fast scorer needs (as scikit-learn's build_analyzer) ---------------------
    # intentroute.scoring.BowScorer precomputes the features per word through these; each gives
    # exactly what the transform uses, so the two cannot drift apart.

    @property
    def default_tokens(self) -> bool:
        """Whether the tokens are :func:`intentroute.text.tokenize`'s (the default pattern, lower-cased)."""
        return bool(self.lowercase and self.token_pattern == TOKEN_PATTERN)

    @property
    def slot_finders(self) -> Mapping[str, Any]:
        """The fitted slot finders, keyed by their marker token (``xxsymbol``); empty without ``slots``."""
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
        if not self._slot_finders_:
            return []
        return [SLOT_MARKER_PREFIX + name for name in self._slot_set_.find_all(text)]

    def slot_markers_many(self, texts: Sequence[str]) -> list[list[str]]:
        """:meth:`slot_markers` of each text, the slots looked for through their batch path
        (texts with the same slots share one list: do not change it)."""
        if not self._slot_finders_:
            return [[] for _ in texts]
        lists: dict[tuple[str, ...], list[str]] = {}
        out = []
        for found in self._slot_set_.present_many(texts):
            markers = lists.get(found)
            if markers is None:
                markers = lists[found] = [SLOT_MARKER_PREFIX + name for name in found]
            out.append(markers)
        return out

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
            sq = float(left_sum((n * (1.0 if w is None else w[col])) ** 2 for col, n in counts.items()))
            if len(self._unit_sq_cache_) < _CHAR_CACHE_SIZE:
                self._unit_sq_cache_[token] = sq
        return sq

    def unit_squared_norms(self, token_lists: list[list[str]]) -> np.ndarray:
        """Per analysed text, the sum of its units' squared lengths: the square of ``l2_sum``'s divisor."""
        token_sq = self.token_squared_norm
        out = np.fromiter((left_sum(map(token_sq, toks)) for toks in token_lists), np.float64, len(token_lists))
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


class Featurizer(Features):
    """Fitted features as a bundle holds them: the settings, the vocabulary (``None`` with feature
    hashing) and, with TF-IDF weighting, the idf weights. ``ValueError`` for invalid settings.

    >>> f = Featurizer({"char_ngrams": None, "weighting": "count", "norm": None}, {"price": 0, "aapl": 1})
    >>> f.analyze("AAPL price"), f.transform(["price price aapl"]).toarray().tolist()
    (['aapl', 'price'], [[2.0, 1.0]])
    """

    DEFAULTS: Mapping[str, Any] = {
        "ngram_max": 2,
        "char_ngrams": (3, 4),
        "hashing": False,
        "n_features": 2**18,
        "weighting": "tfidf",
        "sublinear_tf": False,
        "norm": "l2_sum",
        "lowercase": True,
        "token_pattern": TOKEN_PATTERN,
        "slots": None,
    }

    def __init__(
        self, settings: Mapping[str, Any], vocabulary: Mapping[str, int] | None, idf: Iterable[float] | None = None
    ) -> None:
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise ValueError(f"unknown featurizer settings {unknown}; known: {', '.join(SETTINGS)}")
        merged = {**self.DEFAULTS, **settings}
        for key in SETTINGS:
            setattr(self, key, merged[key])
        if self.char_ngrams is not None:
            self.char_ngrams = tuple(self.char_ngrams)  # type: ignore[assignment]
        if self.hashing:
            self.vocabulary_ = None
            self.n_features_out_ = int(self.n_features)
            self.max_vocab = None
        else:
            if vocabulary is None:
                raise ValueError("a featurizer without hashing needs a vocabulary")
            cols = sorted(vocabulary.values())
            if cols != list(range(len(cols))):
                raise ValueError("vocabulary columns must be exactly 0..n-1")
            self.vocabulary_ = {str(f): int(i) for f, i in vocabulary.items()}
            self.n_features_out_ = len(cols)
            self.max_vocab = len(cols) or None
        if self.weighting == "tfidf":
            if idf is None:
                raise ValueError("TF-IDF weighting needs the idf weights")
            self.idf_ = np.asarray(list(idf), dtype=np.float32)
            if self.idf_.shape != (self.n_features_out_,):
                raise ValueError(f"expected {self.n_features_out_} idf weights, got {len(self.idf_)}")
        self._validate_params_()
        self._reset_caches()

    def settings(self) -> dict[str, Any]:
        """The settings, as :class:`Featurizer` and ``BowVectorizer`` take them."""
        return {key: getattr(self, key) for key in SETTINGS}

    def transform(self, texts: Iterable[str]) -> sp.csr_matrix:
        """Features of ``texts`` as a CSR matrix of float32, one row per text."""
        token_lists = [self.analyze(t) for t in texts]
        return self._weigh(self.count_matrix(token_lists), token_lists)
