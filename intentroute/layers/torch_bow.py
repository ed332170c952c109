"""The trained bag-of-words layer (``torch_bow``): a bundle's classifier, answering in microseconds.

The bundle comes from ``bundle=PATH`` (a folder), an embedded domain name, or the seed's
``TORCH_ROUTER_MODEL_PATH`` / ``TORCH_ROUTER_VOCAB_PATH`` / ``TORCH_ROUTER_LABELS_PATH``; by
default the embedded brokerage bundle. A new bundle written to the path is picked up without a
restart (one ``stat`` per file at most every ``reload_interval`` seconds); a bad new bundle leaves
the old model serving and ``status()`` says why. Loading needs torch (the ``[torch]`` extra);
without it, or without the files, the layer is unavailable and the cascade skips it.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import ConfigError, IntentRouteError, LayerUnavailable
from ..hookspecs import hookimpl
from ..text import ASCII_TOKEN_TABLE
from ..types import Candidate, LayerResult

__all__ = ["CONFIDENCES", "TorchBowLayer"]

#: what the ``torch_bow`` layer's top score can be (see :class:`TorchBowLayer`)
CONFIDENCES = ("probability", "in_scope")


def _softmax(z: np.ndarray) -> list[float]:
    e = np.exp(z - z.max())
    out: list[float] = (e / e.sum()).tolist()
    return out


def _softmax_owned(z: np.ndarray) -> list[float]:
    """:func:`_softmax` of an array nobody else holds, computed in place (three NumPy calls fewer)."""
    z -= np.maximum.reduce(z)
    np.exp(z, out=z)
    z *= 1.0 / float(np.add.reduce(z))
    out: list[float] = z.tolist()
    return out


_LOWER_TOKEN_RE = re.compile(r"[a-z0-9']+")
_SEPARATOR = "\x00"
_ASCII_BATCH_TOKENS = {**ASCII_TOKEN_TABLE, 0: _SEPARATOR}  # text.tokenize's table, keeping the separator
_UNKNOWN_CACHE = 20_000  # words outside the vocabulary whose scores are remembered


class _Model:
    """A loaded bundle prepared for fast scoring.

    With features that add up over an utterance's units (``count`` or ``tfidf`` weights without
    ``sublinear_tf``, ``norm`` ``None`` or ``"l2_sum"``: the default preset and the seed's), each
    unit's contribution to the first layer is computed once: a table row per vocabulary word (the
    word's own feature with all its character n-grams) and per feature column (word n-grams),
    with the unit's squared length in a last column. Scoring an utterance is then a lookup per
    word and per word pair, one gather-and-sum, and a softmax. Other feature settings (``binary``,
    ``sublinear_tf``, exact ``l2``) take the general path, one row per feature column.
    Probabilities equal the vectorizer + classifier's on every path (tested).
    """

    def __init__(self, bundle: Any, background_label: str | None = None) -> None:
        self.bundle = bundle
        vec = self.vec = bundle.vectorizer
        clf = self.clf = bundle.classifier
        self.labels = bundle.labels
        # the background class's index, when the bundle has the label the layer was given
        self.background_index = self.labels.index(background_label) if background_label in self.labels else None
        self.temperature = bundle.temperature
        self.linear = not clf.hidden_size
        self.vocab = vec.vocabulary_
        self.markers = frozenset(vec._slot_finders_)  # the slot marker tokens, when there are slots
        # a linear and a hidden-layer model summed: one first layer, the linear model's class
        # weights (the first ``wide`` columns, added to the logits as they are) beside the hidden
        # layer's input weights (through the ReLU and the head)
        from ..estimators.ensemble import LogitSumClassifier  # (loaded with the bundle already)

        self.wide = 0
        if isinstance(clf, LogitSumClassifier):
            self.wide = len(self.labels)
            first = np.vstack([clf.linear_.coef_, clf.hidden_.hidden_coef_]).astype(np.float64)
            self.bias = np.concatenate([clf.linear_.intercept_, clf.hidden_.hidden_intercept_]).astype(np.float64)
            head = clf.hidden_
        else:
            first = np.asarray(clf.coef_ if self.linear else clf.hidden_coef_, dtype=np.float64)
            self.bias = np.asarray(clf.intercept_ if self.linear else clf.hidden_intercept_, dtype=np.float64)
            head = clf
        self.width = first.shape[0]
        if not self.linear:
            # the output layer, transposed once (float64, as the first layer's sums); the
            # temperature divides the logits, so it is folded into the head and the wide columns
            inv_t = 1.0 / self.temperature
            self.head_weight = np.ascontiguousarray(np.asarray(head.coef_, dtype=np.float64).T) * inv_t
            self.head_bias = np.asarray(head.intercept_, dtype=np.float64) * inv_t
            first[: self.wide] *= inv_t
            self.bias[: self.wide] *= inv_t
            if self.wide:  # the wide columns go straight to the logits: they carry the head's bias too
                self.bias[: self.wide] += self.head_bias
        idf = vec._feature_weights()
        # per feature column, the row of weights it adds to the first layer, times its idf
        feat = first.T if idf is None else first.T * idf[:, None]
        self.additive = vec.weighting != "binary" and not vec.sublinear_tf and vec.norm in (None, "l2_sum")
        if self.additive:
            self._build_units(feat, idf)
        else:
            # float32 halves the memory a single utterance touches; sums are still in float64
            self.rows = np.ascontiguousarray(feat, dtype=np.float32)
            self.rows64 = self.rows.astype(np.float64)  # the same values, for the batch's sparse product
            self.sq_weight = np.ones(len(feat)) if idf is None else idf**2

    def _build_units(self, feat: np.ndarray, idf: np.ndarray | None) -> None:
        vec, width = self.vec, self.width
        n_feat = len(feat)
        columns = np.empty((n_feat, width + 1))
        columns[:, :width] = feat
        columns[:, width] = 1.0 if idf is None else idf**2
        words: list[str] = []
        if self.vocab is not None:  # hashing: every word is scored on first sight, then remembered
            words = [f for f in self.vocab if vec._tokens(f) == [f]]
        singles = [[w] for w in words]
        word_rows = np.zeros((len(words) + 1, width + 1))  # the last row: zeros, for absent word pairs
        if words:
            word_rows[:-1, :width] = vec._counts(singles).astype(np.float64) @ feat
            word_rows[:-1, width] = vec._unit_squared_norms(singles)
        self.table = np.vstack([columns, word_rows])
        self.zero_row = len(self.table) - 1
        self.token_row = {w: n_feat + i for i, w in enumerate(words)}
        self.n_feat, self.n_words = n_feat, len(words)
        self.separator_row = len(self.table)  # in the batch's lookups only; never a token
        self.token_row_batch = {**self.token_row, _SEPARATOR: self.separator_row}
        # word pairs by (first, second) token: pairwise() yields those tuples, no string to build
        self.pair_col: dict[tuple[str, str], int] | None = None
        if self.vocab is not None and vec.ngram_max == 2 and vec._seed_tokens:
            self.pair_col = {}
            for f, c in self.vocab.items():
                first, sep, second = f.partition("_")
                if sep and _LOWER_TOKEN_RE.fullmatch(first) and _LOWER_TOKEN_RE.fullmatch(second):
                    self.pair_col[(first, second)] = c
        # for batches, the same pairs as sorted integers (first word's index * words + second's),
        # found for a whole batch at once by np.searchsorted; only when every pair's two words are
        # vocabulary words, which a vocabulary cut at max_vocab can break at the cut
        self.pair_keys: np.ndarray | None = None  # sorted keys, and the column of each
        self.pair_key_col: np.ndarray | None = None
        if self.pair_col is not None and all(a in self.token_row and b in self.token_row for a, b in self.pair_col):
            keys = np.array(
                [(self.token_row[a] - n_feat) * self.n_words + self.token_row[b] - n_feat for a, b in self.pair_col],
                dtype=np.int64,
            )
            order = np.argsort(keys)
            self.pair_keys = keys[order]
            self.pair_key_col = np.fromiter(self.pair_col.values(), dtype=np.intp, count=len(keys))[order]
        if self.linear:  # the temperature divides the logits: fold it into the table and the bias
            self.table[:, :width] /= self.temperature
            self.bias = self.bias / self.temperature
        self.bias_list: list[float] = self.bias.tolist()
        # The wide softmax computes exp(logit) = exp(scale * sum) * exp(bias) without subtracting
        # the largest logit, when no logit can leave +-700 (no overflow, no sum underflowing to 0).
        # With l2_sum rows an utterance of n units has ||x|| <= sqrt(n), so |logit - bias| <= the
        # largest class weight norm * sqrt(n): up to ``max_units`` units (words plus word pairs,
        # fewer than twice the words) that form is exact and safe.
        self.max_units = 0
        self.exp_bias = np.ones(width)
        if self.linear and vec.norm == "l2_sum":
            coef = np.asarray(self.clf.coef_, dtype=np.float64)
            weight_norm = float(np.linalg.norm(coef, axis=1).max()) / self.temperature
            room = 700.0 - float(np.abs(self.bias).max())
            if room > 0:
                self.exp_bias = np.exp(self.bias)
                self.max_units = int((room / weight_norm) ** 2) if weight_norm > 0 else 1 << 30
        self._unknown: dict[str, np.ndarray] = {}

    def _unknown_row(self, token: str) -> np.ndarray:
        """The table row a word outside the vocabulary would have (its character n-grams)."""
        row = self._unknown.get(token)
        if row is None:
            vec = self.vec
            # the word's own feature and character n-grams, a repeated one once per occurrence
            # (its count); summed straight from the table, not through a one-row sparse matrix,
            # which cost about 20x more for each word seen for the first time
            cols = vec._token_columns(token)
            row = np.zeros(self.width + 1)
            if cols:
                row[: self.width] = np.add.reduce(self.table.take(cols, axis=0)[:, : self.width], 0)
            row[self.width] = vec._token_squared_norm(token)
            if len(self._unknown) >= _UNKNOWN_CACHE:
                self._unknown.clear()
            self._unknown[token] = row
        return row

    def tokens(self, text: str) -> list[str]:
        """The utterance's tokens, then its slot markers (when the vectorizer has ``slots``)."""
        found: list[str] = self.vec._doc_tokens(text)
        return found

    def known_words(self, tokens: list[str]) -> int:
        """How many of the utterance's word tokens the model was trained on (hashing: all);
        slot markers are not words of the utterance and do not count."""
        markers = self.markers
        if self.vocab is None:
            return sum(1 for t in tokens if t not in markers) if markers else len(tokens)
        vocab = self.vocab
        return sum(1 for t in tokens if t in vocab and t not in markers)

    def proba(self, text: str) -> list[float]:
        """Probabilities for one utterance (see :meth:`proba_tokens`)."""
        return self.proba_tokens(self.tokens(text))

    def proba_tokens(self, tokens: list[str]) -> list[float]:
        """Probabilities for one tokenised utterance, with as few NumPy calls as possible."""
        if not self.additive:
            z = self._first_layer_columns(tokens)
            return _softmax(z / self.temperature) if self.linear else _softmax_owned(self._head(z))
        u = self._unit_sum(tokens)
        sq = float(u[-1])
        scale = 1.0 / math.sqrt(sq) if sq > 0 and self.vec.norm == "l2_sum" else 1.0
        if not self.linear:
            h = u[:-1]  # u is this call's own array: scaled, shifted and rectified in place
            if scale != 1.0:
                h *= scale
            h += self.bias
            return _softmax_owned(self._head(h, owned=True))  # temperature folded in
        if self.width > 64:  # temperature folded in (see _build_units)
            z = u[: self.width]
            if 2 * len(tokens) <= self.max_units:  # every logit within +-700: two NumPy calls fewer
                z *= scale
                np.exp(z, out=z)
                z *= self.exp_bias
                z *= 1.0 / float(np.add.reduce(z))
                out: list[float] = z.tolist()
                return out
            return _softmax(z * scale + self.bias)
        # few intents: plain floats are faster than NumPy calls
        logits = [v * scale + b for v, b in zip(u.tolist(), self.bias_list, strict=False)]
        top = max(logits)
        e = [math.exp(v - top) for v in logits]
        total = sum(e)
        return [v / total for v in e]

    def _unit_sum(self, tokens: list[str]) -> np.ndarray:
        """The sum of the utterance's unit rows: first-layer inputs, then the squared length."""
        # map() with the dicts' own get: the lookups loop in C
        ids = list(map(self.token_row.get, tokens, itertools.repeat(-1)))
        unknown = None
        if -1 in ids:
            unknown = [t for t, r in zip(tokens, ids, strict=True) if r < 0]
            ids = [r for r in ids if r >= 0]
        if self.pair_col is not None:
            ids += map(self.pair_col.get, itertools.pairwise(tokens), itertools.repeat(self.zero_row))
        else:
            ids += self.vec._ngram_columns(tokens)
        # np.add.reduce and a list index: the same sum as .sum(axis=0), without two Python-level wrappers
        u: np.ndarray = np.add.reduce(self.table.take(ids, axis=0), 0)
        if unknown:
            for t in unknown:
                u += self._unknown_row(t)
        return u

    def _first_layer_columns(self, tokens: list[str]) -> np.ndarray:
        cols: list[int] = self.vec._row_columns(tokens)
        if not cols:
            return self.bias
        w = self.vec.weighting
        distinct = set(cols)
        if len(distinct) == len(cols) or w == "binary":
            # every feature once (the usual case) or binary weights: each weight is 1 before
            # the idf, under any weighting, so the first layer is a plain sum of rows
            u = np.fromiter(distinct, dtype=np.intp, count=len(distinct))
            z = self.rows[u].sum(axis=0, dtype=np.float64)
            sq = float(self.sq_weight[u].sum())
        else:
            counts = Counter(cols)
            u = np.fromiter(counts, dtype=np.intp, count=len(counts))
            if self.vec.sublinear_tf:
                vals = np.array([1.0 + math.log(c) if c > 1 else 1.0 for c in counts.values()])
            else:
                vals = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            # rows and squared weights are pre-multiplied by the idf (see __init__)
            z = vals @ self.rows[u].astype(np.float64)
            sq = float((vals * vals) @ self.sq_weight[u])
        if self.vec.norm == "l2":
            z = z / math.sqrt(sq)
        out: np.ndarray = z + self.bias
        return out

    def _head(self, h: np.ndarray, owned: bool = False) -> np.ndarray:
        """The logits (divided by the temperature) from the first layer's outputs ``h`` (one row
        or a batch): the hidden units through ReLU and the head, plus any wide columns (which
        hold the head's bias). ``owned``: ``h`` may be overwritten."""
        wide = self.wide
        hidden = h[..., wide:]
        out: np.ndarray = np.maximum(hidden, 0.0, out=hidden if owned else None) @ self.head_weight
        out += h[..., :wide] if wide else self.head_bias
        return out

    def proba_batch(self, texts: list[str]) -> np.ndarray:
        """Probabilities for many utterances (see :meth:`score_batch`)."""
        return self.score_batch(texts)[0]

    def score_batch(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities for many utterances, and how many of each one's words the model knows.

        The same float64 arithmetic as :meth:`proba`, as sparse products over the whole batch.
        """
        if self.additive:
            z, known = self._batch_units(texts)
            if not self.linear:
                z = self._head(z)  # temperature folded in
        else:
            token_lists = [self.tokens(t) for t in texts]
            known = np.array([self.known_words(toks) for toks in token_lists], dtype=np.intp)
            z = self._batch_columns(token_lists)
            z = z / self.temperature if self.linear else self._head(z)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        out: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return out, known

    def _flat_tokens(self, texts: list[str]) -> list[str]:
        """The tokens of all texts in one list, texts separated by ``"\\x00"`` (never a token)."""
        if self.vec._seed_tokens and not self.markers:  # (slot markers need each text on its own)
            joined = " \x00 ".join(texts)
            if joined.isascii() and joined.count(_SEPARATOR) == len(texts) - 1:
                return joined.translate(_ASCII_BATCH_TOKENS).split()  # one pass for the whole batch
        flat = []
        for i, text in enumerate(texts):
            if i:
                flat.append(_SEPARATOR)
            flat.extend(self.tokens(text))
        return flat

    def _batch_units(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        n = len(texts)
        if n == 0:
            return np.zeros((0, self.width)), np.zeros(0, dtype=np.intp)
        flat = self._flat_tokens(texts)
        get = self.token_row_batch.get
        ids = np.fromiter(map(get, flat, itertools.repeat(-1)), dtype=np.intp, count=len(flat))
        ids[ids == self.separator_row] = -2
        is_word = ids != -2
        row_of = np.cumsum(~is_word)  # the text each token belongs to
        known = ids >= 0
        n_rows = len(self.table)
        if self.pair_col is not None:
            # one row of the sparse unit matrix per text, two entries per token position: the
            # word (weight 0 when absent) and the pair it starts (the zero row when absent; a
            # pair across two texts includes the separator, which no pair in the table has)
            zero = self.zero_row
            entries = np.empty(2 * len(flat), dtype=np.intp)
            entries[0::2] = np.where(known, ids, zero)
            entries[1::2] = zero
            if self.pair_keys is not None and self.pair_key_col is not None and len(self.pair_keys) and len(flat) > 1:
                both = known[:-1] & known[1:]
                keys = (ids[:-1] - self.n_feat) * self.n_words + (ids[1:] - self.n_feat)
                at = np.minimum(np.searchsorted(self.pair_keys, keys), len(self.pair_keys) - 1)
                hit = both & (self.pair_keys[at] == keys)
                entries[1:-1:2] = np.where(hit, self.pair_key_col[at], zero)
            else:
                pair = self.pair_col.get
                entries[1:-1:2] = np.fromiter(
                    map(pair, itertools.pairwise(flat), itertools.repeat(zero)), dtype=np.intp, count=len(flat) - 1
                )
            weights = np.ones(2 * len(flat))
            weights[0::2] = known
            indptr = np.concatenate([[0], np.cumsum(2 * np.bincount(row_of, minlength=n))])
            units = sp.csr_matrix((weights, entries, indptr), shape=(n, n_rows))
        else:
            bounds = np.flatnonzero(~is_word)
            token_lists = [flat[a + 1 : b] for a, b in itertools.pairwise([-1, *bounds.tolist(), len(flat)])]
            pair_lists = [self.vec._ngram_columns(toks) for toks in token_lists]
            pair_ids = np.array([c for cols in pair_lists for c in cols], dtype=np.intp)
            pair_rows = np.repeat(np.arange(n), [len(cols) for cols in pair_lists])
            rows = np.concatenate([row_of[known], pair_rows])
            cols = np.concatenate([ids[known], pair_ids])
            units = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(n, n_rows))
        z = np.asarray(units @ self.table)
        missing = np.flatnonzero(is_word & ~known)
        if len(missing):
            names, inverse = np.unique(np.array([flat[i] for i in missing], dtype=object), return_inverse=True)
            extra = np.array([self._unknown_row(str(t)) for t in names])
            np.add.at(z, row_of[missing], extra[inverse])
        counted = is_word if self.vocab is None else known
        if self.markers:  # slot markers are not words of the utterance
            markers = self.markers
            counted = counted & ~np.fromiter((t in markers for t in flat), dtype=bool, count=len(flat))
        words_per_text = np.bincount(row_of[counted], minlength=n)
        sq = z[:, -1]
        z = z[:, :-1]
        if self.vec.norm == "l2_sum":
            z = z / np.where(sq > 0, np.sqrt(np.maximum(sq, 1e-300)), 1.0)[:, None]
        out: np.ndarray = z + self.bias
        return out, words_per_text

    def _batch_columns(self, token_lists: list[list[str]]) -> np.ndarray:
        vec = self.vec
        counts = vec._counts(token_lists).astype(np.float64)
        if vec.weighting == "binary":
            counts.data[:] = 1.0
        elif vec.sublinear_tf:
            counts.data = 1.0 + np.log(counts.data)
        z = np.asarray(counts @ self.rows64)
        if vec.norm == "l2":
            sq = counts.multiply(counts) @ self.sq_weight
            z = z / np.where(sq > 0, np.sqrt(np.maximum(sq, 1e-300)), 1.0)[:, None]
        out: np.ndarray = z + self.bias
        return out


class TorchBowLayer:
    """The trained BoW classifier as a cascade layer.

    Parameters
    ----------
    bundle:
        A bundle folder, or an embedded domain name (``"brokerage"``). ``None`` (default): the
        seed's ``TORCH_ROUTER_*_PATH`` variables when set, else the embedded brokerage bundle.
    name:
        The layer's name in the cascade.
    top_k:
        Candidates returned, best first.
    reload_interval:
        Seconds between checks for a new bundle on disk (0: every call; negative: never).
    min_known_words:
        Abstain when fewer of the utterance's words than this were seen in training: a linear
        model still spreads probability over intents for "asdf qwer", and no evidence is not a
        reason to answer.
    background_label:
        The label of a background class the bundle may have been trained with (``"none"``:
        out-of-domain requests). When it wins, the layer abstains ("out of scope"); otherwise it
        is left out of the candidates.
    confidence:
        What the top candidate's score (the number the cascade's threshold sees) is.
        ``"probability"`` (default, the seed's): the top intent's probability. ``"in_scope"``: the
        probability that the utterance is in scope, ``1 - p(background class)``, for bundles
        trained with a background class (others are scored by ``"probability"``; ``status()``
        says which one is in effect); runners-up keep their probabilities, so a margin still
        compares the top two. A model spreads its probability over two intents for many
        in-domain paraphrases it has not seen, which a probability threshold rejects; the
        background class's probability separates those from out-of-scope requests much better
        (docs/benchmarks.md).
    """

    def __init__(
        self,
        bundle: str | Path | None = None,
        *,
        name: str = "torch_bow",
        top_k: int = 3,
        reload_interval: float = 1.0,
        min_known_words: int = 1,
        background_label: str | None = "none",
        confidence: str = "probability",
    ) -> None:
        from ..bundle import BundlePaths

        if not isinstance(name, str) or not name:
            raise ConfigError("must be a non-empty string", param="name", value=name)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ConfigError(f"must be a positive integer, got {top_k!r}", param="top_k", value=top_k)
        if isinstance(reload_interval, bool) or not isinstance(reload_interval, int | float):
            raise ConfigError(
                f"must be a number of seconds, got {reload_interval!r}",
                param="reload_interval",
                value=reload_interval,
            )
        if isinstance(min_known_words, bool) or not isinstance(min_known_words, int) or min_known_words < 0:
            raise ConfigError(
                f"must be an integer >= 0, got {min_known_words!r}",
                param="min_known_words",
                value=min_known_words,
            )
        if confidence not in CONFIDENCES:
            raise ConfigError(
                f"must be one of {', '.join(map(repr, CONFIDENCES))}, got {confidence!r}",
                param="confidence",
                value=confidence,
            )
        self.min_known_words = min_known_words
        self.background_label = background_label
        self.confidence = confidence
        self.name = name
        self.top_k = top_k
        self.reload_interval = float(reload_interval)
        self.paths = self._resolve(bundle, BundlePaths)
        self._model: _Model | None = None
        self._signature: tuple[Any, ...] | None = None
        self._lock = threading.Lock()
        self._last_check = 0.0
        self.load_error: str | None = None
        self.reload_error: str | None = None
        self.reloads = 0
        self.loaded_at: float | None = None
        self._try_load(initial=True)

    @staticmethod
    def _resolve(bundle: str | Path | None, BundlePaths: Any) -> Any:
        from ..config import TORCH_BUNDLE_VARIABLES
        from ..domains import domain_file_or_path, domain_path

        if bundle is None:
            model, vocab, labels = (os.environ.get(v) for v in TORCH_BUNDLE_VARIABLES)
            if model or vocab or labels:
                default = BundlePaths.folder(domain_path("brokerage", "bundle"))
                m = Path(model) if model else default.weights
                root = m.parent
                return BundlePaths(
                    m,
                    Path(vocab) if vocab else root / "intent_router_vocab.json",
                    Path(labels) if labels else root / "intent_router_labels.json",
                    root / "intent_router_config.json",
                    root if (root / "manifest.json").exists() else None,
                )
            bundle = "brokerage"
        return BundlePaths.folder(domain_file_or_path(bundle, "bundle"))

    @staticmethod
    def availability() -> str | None:
        from ..bundle import torch_missing_reason

        return torch_missing_reason()

    # -- loading -----------------------------------------------------------------------------

    def _try_load(self, *, initial: bool = False) -> None:
        from ..bundle import load_bundle

        with self._lock:
            signature = self.paths.signature()
            if not initial and signature == self._signature:
                return
            try:
                bundle = load_bundle(self.paths if self.paths.root is None else self.paths.root)
                model = _Model(bundle, self.background_label)
            except (IntentRouteError, ImportError) as exc:
                message = f"{type(exc).__name__}: {exc}"
                if self._model is None:
                    self.load_error = message
                else:
                    self.reload_error = message  # keep serving the old model
                self._signature = signature
                return
            if self._model is not None:
                self.reloads += 1
            self._model = model
            self._signature = signature
            self.load_error = self.reload_error = None
            self.loaded_at = time.time()

    def _current(self) -> _Model:
        if self.reload_interval >= 0:
            now = time.monotonic()
            if now - self._last_check >= self.reload_interval:
                self._last_check = now
                if self.paths.signature() != self._signature:
                    self._try_load()
        model = self._model
        if model is None:
            raise LayerUnavailable(self.load_error or "no bundle loaded")
        return model

    def reload(self) -> bool:
        """Check for a new bundle now; ``True`` if a new model is serving."""
        before = self.reloads
        self._try_load()
        return self.reloads > before

    # -- routing -----------------------------------------------------------------------------

    def _result(self, model: _Model, proba: Any) -> LayerResult:
        probs = proba.tolist() if isinstance(proba, np.ndarray) else proba
        order = sorted(range(len(probs)), key=probs.__getitem__, reverse=True)  # stable, as -p would be
        bg = model.background_index
        if order[0] == bg:
            reason = f"out of scope: background class {self.background_label!r} p={probs[bg]:.3f}"
            return LayerResult(meta={"reason": reason})
        order = [i for i in order if i != bg][: self.top_k]
        cands = [Candidate(model.labels[i], min(1.0, max(0.0, probs[i]))) for i in order]
        evidence = f"model label {cands[0].intent} p={probs[order[0]]:.3f} (T={model.temperature:.2f})"
        if self.confidence == "in_scope" and bg is not None:
            in_scope = min(1.0, max(0.0, 1.0 - probs[bg]))
            cands[0] = Candidate(cands[0].intent, in_scope)
            evidence += f", in scope p={in_scope:.3f}"
        return LayerResult(cands, evidence=[evidence])

    def _too_few_known(self) -> LayerResult:
        return LayerResult(meta={"reason": f"fewer than {self.min_known_words} known word(s)"})

    def route(self, text: str) -> LayerResult:
        model = self._current()
        tokens = model.tokens(text)  # once, for the known-word check and the features
        if self.min_known_words and model.known_words(tokens) < self.min_known_words:
            return self._too_few_known()
        return self._result(model, model.proba_tokens(tokens))

    def route_batch(self, texts: list[str]) -> list[LayerResult]:
        model = self._current()
        probs, known = model.score_batch(list(texts))
        few = self._too_few_known()
        return [
            few if k < self.min_known_words else self._result(model, p)
            for k, p in zip(known.tolist(), probs, strict=True)
        ]

    def status(self) -> dict[str, Any]:
        """The seed's ``torch_router_status()`` keys, and what this layer knows besides."""
        from ..bundle import model_kind, torch_missing_reason
        from ..config import env_bool, env_unit_float

        env_error = None
        try:
            threshold, force = env_unit_float("TORCH_ROUTER_CONF_THRESHOLD", 0.6), env_bool("TORCH_ROUTER_FORCE", False)
        except ConfigError as exc:  # a diagnostics call reports a bad setting instead of failing
            threshold, force, env_error = None, None, str(exc)

        model = self._model
        manifest = model.bundle.manifest if model else None
        vec = model.vec if model else None
        artifacts = all(p.exists() for p in (self.paths.weights, self.paths.vocab, self.paths.labels))
        torch_ok = torch_missing_reason() is None
        return {
            "torch_available": torch_ok,
            "artifacts_present": artifacts,
            "enabled": model is not None,
            "confidence_threshold": threshold,
            "force_enabled": force,
            "ngram_max": vec.ngram_max if vec else None,
            "token_pattern": vec.token_pattern if vec else None,
            "available": model is not None,
            "bundle": str(self.paths.root or self.paths.weights),
            "format_version": model.bundle.format_version if model else None,
            "library_version": manifest.get("library_version") if manifest else None,
            "labels": model.labels if model else [],
            "n_features": int(model.clf.n_features_in_) if model else None,
            "model_kind": model_kind(model.clf) if model else None,
            "hidden_size": int(model.clf.hidden_size) if model else None,
            "char_ngrams": list(vec.char_ngrams) if vec and vec.char_ngrams else None,
            "weighting": vec.weighting if vec else None,
            "slots": list(vec.slots) if vec and vec.slots else None,  # the slots marked as features
            "temperature": model.temperature if model else None,
            "confidence": self.confidence,
            "confidence_in_effect": (
                "in_scope"
                if self.confidence == "in_scope" and model and model.background_index is not None
                else "probability"
            ),
            "loaded_at": self.loaded_at,
            "reloads": self.reloads,
            "load_error": self.load_error,
            "reload_error": self.reload_error,
            "env_error": env_error,
        }


@hookimpl
def register_layers(register: Any) -> None:
    register("torch_bow", TorchBowLayer)
