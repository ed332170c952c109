"""``BowScorer``: a loaded bundle prepared to score utterances in microseconds, NumPy only.

The ``torch_bow`` layer, :mod:`intentroute.evaluate`, the tests and the benchmarks score through
it. It reads a fitted :class:`~intentroute.estimators.BowVectorizer` only through its public seams
(``analyze``, ``token_columns``, ``ngram_columns``, ...), so its probabilities equal the
vectorizer + classifier's ``predict_proba`` on every path (tested to ~1e-8); docs/architecture.md
says why it is built the way it is. About 430 lines, one engine: the per-word table, its
single-utterance and batch paths, and the general path for features that do not add up.

>>> from intentroute.bundle import load_bundle
>>> from intentroute.domains import domain_path
>>> scorer = BowScorer.from_bundle(load_bundle(domain_path("brokerage", "bundle")), background_label="none")
>>> probs = scorer.proba("what's my cash balance")
>>> scorer.labels[max(range(len(probs)), key=probs.__getitem__)]
'cash_balance'
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._floats import left_sum
from .bundle import Bundle, weight_arrays
from .errors import BundleError
from .lexical import LexicalHead, LexicalTable, lexical_missing_reason
from .text import ASCII_TOKEN_TABLE, byte_table

__all__ = ["BowScorer"]


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
# text.tokenize's table, keeping the separator
_ASCII_BATCH_TOKENS = byte_table({**ASCII_TOKEN_TABLE, 0: _SEPARATOR})[0]
_UNKNOWN_CACHE = 20_000  # words outside the vocabulary whose scores are remembered


def _lexical_head(bundle: Bundle, markers: frozenset[str], temperature: float) -> LexicalHead:
    """The bundle's lexical head on the installed table; a :class:`BundleError` naming what to
    install, or saying that the installed table is not the one the bundle was trained with."""
    head = bundle.lexical
    assert head is not None
    where = bundle.paths.root if bundle.paths is not None and bundle.paths.root else "the bundle"
    reason = lexical_missing_reason()
    if reason is not None:
        raise BundleError(f"{where}: this bundle has a lexical head ({head['table']}): {reason}")
    table = LexicalTable.load()
    if table.sha256 != head["table_sha256"] or table.name != head["table"]:
        raise BundleError(
            f"{where}: the lexical head was trained on {head['table']} (sha256 {head['table_sha256'][:12]}...); "
            f"the installed table is {table.name} (sha256 {table.sha256[:12]}...): install the wordllama "
            "version it was trained with, or retrain"
        )
    if head["weight"].shape[1] != table.dim:
        raise BundleError(
            f"{where}: the lexical head takes {head['weight'].shape[1]}-d vectors, the table has {table.dim}"
        )
    return LexicalHead(
        head["weight"],
        head["bias"],
        mix=head["mix"],
        temperature=head["temperature"],
        base_temperature=temperature,
        exclude=markers,
        table=table,
    )


class BowScorer:
    """A loaded bundle prepared for fast scoring.

    With features that add up over an utterance's units (``count`` or ``tfidf`` weights without
    ``sublinear_tf``, ``norm`` ``None`` or ``"l2_sum"``: the default preset and the legacy pipeline's), each
    unit's contribution to the first layer is computed once: a table row per vocabulary word (the
    word's own feature with all its character n-grams) and per feature column (word n-grams),
    with the unit's squared length in a last column. Scoring an utterance is then a lookup per
    word and per word pair, one gather-and-sum, and a softmax. Other feature settings (``binary``,
    ``sublinear_tf``, exact ``l2``) take the general path, one row per feature column.
    Probabilities equal the vectorizer + classifier's on every path (tested).

    Attributes
    ----------
    bundle : Bundle
        What was loaded; ``vec`` is its featurizer (a ``Featurizer`` or a fitted ``BowVectorizer``).
    labels : list of str
        The classes, in the order of every probability vector.
    temperature : float
        The calibration temperature, folded into the scores.
    background_index : int or None
        The index of ``background_label`` among ``labels`` when the bundle has that class.
    """

    @classmethod
    def from_bundle(cls, bundle: Bundle, *, background_label: str | None = None) -> BowScorer:
        """Prepare a loaded bundle for scoring (builds its per-word table once)."""
        return cls(bundle, background_label)

    @classmethod
    def from_estimators(cls, vectorizer: Any, classifier: Any, *, background_label: str | None = None) -> BowScorer:
        """Prepare a fitted vectorizer and classifier that were never saved (``TorchBowClassifier``
        or ``LogitSumClassifier``)."""
        labels = [str(c) for c in classifier.classes_]
        bundle = Bundle(None, vectorizer, weight_arrays(classifier), labels, float(classifier.temperature_), {})
        return cls(bundle, background_label)

    def __init__(self, bundle: Bundle, background_label: str | None = None) -> None:
        self.bundle = bundle
        vec = self.vec = bundle.featurizer
        weights = {k: np.asarray(v, dtype=np.float64) for k, v in bundle.weights.items()}
        self.labels = bundle.labels
        # the background class's index, when the bundle has the label the layer was given
        self.background_index = self.labels.index(background_label) if background_label in self.labels else None
        self.temperature = bundle.temperature
        self.linear = bundle.kind == "linear"
        self.vocab = vec.vocabulary_
        self.markers = frozenset(vec.slot_finders)  # the slot marker tokens, when there are slots
        self.known_markers = self.markers & set(self.vocab or ())  # those in the vocabulary
        # a linear and a hidden-layer model summed: one first layer, the linear model's class
        # weights (the first ``wide`` columns, added to the logits as they are) beside the hidden
        # layer's input weights (through the ReLU and the head)
        self.wide = 0
        head_weight, head_bias = weights.get("linear.weight"), weights.get("linear.bias")  # an mlp's output layer
        if bundle.kind == "linear+mlp":
            self.wide = len(self.labels)
            first = np.vstack([weights["linear.weight"], weights["hidden.weight"]])
            self.bias = np.concatenate([weights["linear.bias"], weights["hidden.bias"]])
            head_weight, head_bias = weights["head.weight"], weights["head.bias"]
        elif self.linear:
            first, self.bias = weights["linear.weight"].copy(), weights["linear.bias"].copy()
        else:
            first, self.bias = weights["hidden.weight"].copy(), weights["hidden.bias"].copy()
        self.linear_weight = weights["linear.weight"]  # (the linear model's class weights bound the logits)
        self.width = first.shape[0]
        if not self.linear:
            # the output layer, transposed once (float64, as the first layer's sums); the
            # temperature divides the logits, so it is folded into the head and the wide columns
            inv_t = 1.0 / self.temperature
            assert head_weight is not None and head_bias is not None
            self.head_weight = np.ascontiguousarray(head_weight.T) * inv_t
            self.head_bias = head_bias * inv_t
            first[: self.wide] *= inv_t
            self.bias[: self.wide] *= inv_t
            if self.wide:  # the wide columns go straight to the logits: they carry the head's bias too
                self.bias[: self.wide] += self.head_bias
        idf = vec.feature_weights()
        # per feature column, the row of weights it adds to the first layer, times its idf
        feat = first.T if idf is None else first.T * idf[:, None]
        self.additive = vec.weighting != "binary" and not vec.sublinear_tf and vec.norm in (None, "l2_sum")
        self.l2_sum = vec.norm == "l2_sum"
        if self.additive:
            self._build_units(feat, idf)
        else:
            # float32 halves the memory a single utterance touches; sums are still in float64
            self.rows = np.ascontiguousarray(feat, dtype=np.float32)
            self.rows64 = self.rows.astype(np.float64)  # the same values, for the batch's sparse product
            self.sq_weight = np.ones(len(feat)) if idf is None else idf**2
        self.lexical: LexicalHead | None = (
            None if bundle.lexical is None else _lexical_head(bundle, self.markers, self.temperature)
        )

    def _build_units(self, feat: np.ndarray, idf: np.ndarray | None) -> None:
        vec, width = self.vec, self.width
        n_feat = len(feat)
        columns = np.empty((n_feat, width + 1))
        columns[:, :width] = feat
        columns[:, width] = 1.0 if idf is None else idf**2
        words: list[str] = []
        if self.vocab is not None:  # hashing: every word is scored on first sight, then remembered
            words = [f for f in self.vocab if vec.tokenize(f) == [f]]
        singles = [[w] for w in words]
        word_rows = np.zeros((len(words) + 1, width + 1))  # the last row: zeros, for absent word pairs
        if words:
            word_rows[:-1, :width] = vec.count_matrix(singles).astype(np.float64) @ feat
            word_rows[:-1, width] = vec.unit_squared_norms(singles)
        self.table = np.vstack([columns, word_rows])
        self.zero_row = len(self.table) - 1
        self.token_row = {w: n_feat + i for i, w in enumerate(words)}
        self.n_feat, self.n_words = n_feat, len(words)
        self.separator_row = len(self.table)  # in the batch's lookups only; never a token
        # the slot markers' word rows, when each marker the vocabulary has is a word of it: a
        # batch then tells its marker tokens from its words by their rows
        rows = [self.token_row.get(m) for m in sorted(self.known_markers)]
        self.marker_rows: np.ndarray | None = None
        if None not in rows:
            self.marker_rows = np.array(rows, dtype=np.intp)
        self.token_row_batch = {**self.token_row, _SEPARATOR: self.separator_row}
        # word pairs by (first, second) token: pairwise() yields those tuples, no string to build
        self.pair_col: dict[tuple[str, str], int] | None = None
        if self.vocab is not None and vec.ngram_max == 2 and vec.default_tokens:
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
            coef = self.linear_weight
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
            cols = vec.token_columns(token)
            row = np.zeros(self.width + 1)
            if cols:
                row[: self.width] = np.add.reduce(self.table.take(cols, axis=0)[:, : self.width], 0)
            row[self.width] = vec.token_squared_norm(token)
            if len(self._unknown) >= _UNKNOWN_CACHE:
                self._unknown.clear()
            self._unknown[token] = row
        return row

    def tokens(self, text: str) -> list[str]:
        """The utterance's tokens, then its slot markers (when the vectorizer has ``slots``)."""
        found: list[str] = self.vec.analyze(text)
        return found

    def known_words(self, tokens: list[str]) -> int:
        """How many of the utterance's word tokens the model was trained on (hashing: all);
        slot markers are not words of the utterance and do not count."""
        markers = self.markers
        if self.vocab is None:
            return len(tokens) - sum(map(markers.__contains__, tokens)) if markers else len(tokens)
        known: int = sum(map(self.vocab.__contains__, tokens))  # (map and sum: the loop runs in C)
        if self.known_markers:
            known -= sum(map(self.known_markers.__contains__, tokens))
        return known

    def proba(self, text: str) -> list[float]:
        """Probabilities for one utterance (see :meth:`proba_tokens`)."""
        return self.proba_tokens(self.tokens(text))

    def proba_known(self, tokens: list[str]) -> tuple[list[float], int]:
        """:meth:`proba_tokens` and :meth:`known_words` of one tokenised utterance, in one pass
        over its tokens where the table's rows are the vocabulary's words."""
        if self.lexical is not None:
            probs, known = self._bow_proba_known(tokens)
            return self.lexical.mix(probs, tokens), known
        return self._bow_proba_known(tokens)

    def _bow_proba_known(self, tokens: list[str]) -> tuple[list[float], int]:
        if not (self.additive and self.vocab is not None and self.vec.default_tokens):
            return self._bow_proba(tokens), self.known_words(tokens)
        # (with the default tokens a token is a vocabulary word exactly when it has a word row)
        u, unknown = self._unit_sum(tokens)
        known = len(tokens) - unknown
        if self.known_markers:
            known -= sum(map(self.known_markers.__contains__, tokens))
        return self._proba_units(u, tokens), known

    def proba_tokens(self, tokens: list[str]) -> list[float]:
        """Probabilities for one tokenised utterance, with as few NumPy calls as possible (and the
        lexical head's logits added, when the bundle has one)."""
        if self.lexical is not None:
            return self.lexical.mix(self._bow_proba(tokens), tokens)
        return self._bow_proba(tokens)

    def _bow_proba(self, tokens: list[str]) -> list[float]:
        if not self.additive:
            z = self._first_layer_columns(tokens)
            return _softmax(z / self.temperature) if self.linear else _softmax_owned(self._head(z))
        return self._proba_units(self._unit_sum(tokens)[0], tokens)

    def _proba_units(self, u: np.ndarray, tokens: list[str]) -> list[float]:
        if self.linear and self.width <= 64:  # few intents: plain floats are faster than NumPy calls
            values = u.tolist()  # (the squared length too: no NumPy scalar made for it)
            sq = values[-1]
            scale = 1.0 / math.sqrt(sq) if sq > 0 and self.l2_sum else 1.0
            logits = [v * scale + b for v, b in zip(values, self.bias_list, strict=False)]
            top = max(logits)
            e = [math.exp(v - top) for v in logits]
            total = left_sum(e)
            return [v / total for v in e]
        sq = float(u[-1])
        scale = 1.0 / math.sqrt(sq) if sq > 0 and self.l2_sum else 1.0
        if not self.linear:
            h = u[:-1]  # u is this call's own array: scaled, shifted and rectified in place
            if scale != 1.0:
                h *= scale
            h += self.bias
            return _softmax_owned(self._head(h, owned=True))  # temperature folded in
        z = u[: self.width]  # (more than 64 intents; temperature folded in, see _build_units)
        if 2 * len(tokens) <= self.max_units:  # every logit within +-700: two NumPy calls fewer
            z *= scale
            np.exp(z, out=z)
            z *= self.exp_bias
            z *= 1.0 / float(np.add.reduce(z))
            out: list[float] = z.tolist()
            return out
        return _softmax(z * scale + self.bias)

    def _unit_sum(self, tokens: list[str]) -> tuple[np.ndarray, int]:
        """The sum of the utterance's unit rows (first-layer inputs, then the squared length), and
        how many tokens have no word row."""
        # map() with the dicts' own get: the lookups loop in C
        ids = list(map(self.token_row.get, tokens, itertools.repeat(-1)))
        unknown = None
        if -1 in ids:
            unknown = [t for t, r in zip(tokens, ids, strict=True) if r < 0]
            ids = [r for r in ids if r >= 0]
        if self.pair_col is not None:
            ids += map(self.pair_col.get, itertools.pairwise(tokens), itertools.repeat(self.zero_row))
        else:
            ids += self.vec.ngram_columns(tokens)
        # np.add.reduce and a list index: the same sum as .sum(axis=0), without two Python-level wrappers
        u: np.ndarray = np.add.reduce(self.table.take(ids, axis=0), 0)
        if unknown:
            for t in unknown:
                u += self._unknown_row(t)
            return u, len(unknown)
        return u, 0

    def _first_layer_columns(self, tokens: list[str]) -> np.ndarray:
        cols: list[int] = self.vec.row_columns(tokens)
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
        if self.lexical is not None and len(texts):
            out = self.lexical.mix_batch(out, [self.tokens(t) for t in texts])
        return out, known

    def _flat_tokens(self, texts: list[str]) -> list[str]:
        """The tokens of all texts in one list, texts separated by ``"\\x00"`` (never a token)."""
        if self.vec.default_tokens:
            pieces: list[str] = texts
            if self.markers:  # each text's markers written after it: "text xxsymbol", one token each
                found = self.vec.slot_markers_many(texts)
                pieces = [f"{t} {' '.join(m)}" if m else t for t, m in zip(texts, found, strict=True)]
            joined = " \x00 ".join(pieces)
            if joined.isascii() and joined.count(_SEPARATOR) == len(texts) - 1:
                return joined.encode().translate(_ASCII_BATCH_TOKENS).decode().split()  # one pass for the batch
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
            pair_lists = [self.vec.ngram_columns(toks) for toks in token_lists]
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
            if self.vocab is not None and self.marker_rows is not None:
                # (a marker outside the vocabulary is not known, so not counted already)
                counted = counted & ~np.isin(ids, self.marker_rows)
            else:
                markers = self.markers
                counted = counted & ~np.fromiter(map(markers.__contains__, flat), dtype=bool, count=len(flat))
        words_per_text = np.bincount(row_of[counted], minlength=n)
        sq = z[:, -1]
        z = z[:, :-1]
        if self.vec.norm == "l2_sum":
            z = z / np.where(sq > 0, np.sqrt(np.maximum(sq, 1e-300)), 1.0)[:, None]
        out: np.ndarray = z + self.bias
        return out, words_per_text

    def _batch_columns(self, token_lists: list[list[str]]) -> np.ndarray:
        vec = self.vec
        counts = vec.count_matrix(token_lists).astype(np.float64)
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
