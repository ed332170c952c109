"""Lexical knowledge from a small pretrained table: what a bag of words cannot know about a word
it never saw.

The ``wordllama`` package (MIT, the ``[lexical]`` extra) ships, inside its wheel, a 256-d token
embedding table distilled from Llama 2 (``weights/l2_supercat_256.safetensors``, 32,000 tokens,
16 MB) and that tokenizer (``tokenizers/l2_supercat_tokenizer_config.json``). :class:`LexicalTable`
reads those two files directly, with ``safetensors`` and ``tokenizers``: it never imports
``wordllama`` (whose loader looks for the tokenizer in the wrong folder and then downloads it)
and never downloads anything.

An utterance's vector is the mean of its words' token vectors, L2-normalised: each word (as
:func:`~intentroute.text.tokenize` splits it) is tokenised alone and remembered, so a repeated
word costs a dictionary lookup. A bundle trained with ``--lexical`` adds a linear head on these
vectors to its classifier's logits (:class:`LexicalHead`); ``docs/training.md`` has what it
measures.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._floats import left_sum
from .errors import MissingDependency

__all__ = ["TABLE", "LexicalHead", "LexicalTable", "lexical_missing_reason"]

#: the table's name, as a bundle records it
TABLE = "wordllama/l2_supercat_256"
_WEIGHTS = ("weights", "l2_supercat_256.safetensors")
_TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")
_HINT = "pip install 'intentroute[lexical]'"
_SPECIAL = 3  # token ids below this are <unk>, <s>, </s>
_CACHE_MAX = 200_000  # words remembered (a long-running server sees new words forever)


def _package_dir() -> Path | None:
    """The installed ``wordllama`` package's folder, found without importing it."""
    try:
        spec = importlib.util.find_spec("wordllama")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def lexical_missing_reason() -> str | None:
    """Why the lexical table cannot be loaded here (``None`` when it can)."""
    root = _package_dir()
    if root is None:
        return f"the lexical table needs the wordllama package: {_HINT}"
    for parts in (_WEIGHTS, _TOKENIZER):
        if not root.joinpath(*parts).is_file():
            return f"the wordllama package at {root} has no {'/'.join(parts)}: reinstall it ({_HINT})"
    if importlib.util.find_spec("tokenizers") is None:
        return f"the lexical table needs the tokenizers package: {_HINT}"
    return None


class LexicalTable:
    """The token table and its tokenizer; :meth:`load` shares one per process."""

    _shared: LexicalTable | None = None
    _shared_lock = threading.Lock()

    def __init__(self, root: Path) -> None:
        import safetensors.numpy
        from tokenizers import Tokenizer

        weights = root.joinpath(*_WEIGHTS)
        data = weights.read_bytes()
        self.sha256 = hashlib.sha256(data).hexdigest()
        arrays = safetensors.numpy.load(data)
        table = arrays.get("embedding.weight")
        if table is None or table.ndim != 2:
            raise MissingDependency(f"{weights}: no 2-d 'embedding.weight' tensor; reinstall wordllama ({_HINT})")
        self.table = np.ascontiguousarray(table, dtype=np.float32)
        self.dim = int(self.table.shape[1])
        self.tokenizer = Tokenizer.from_file(str(root.joinpath(*_TOKENIZER)))
        self.name = TABLE
        # each word seen gets a row: the sum of its token vectors (a word without tokens: zeros)
        self._index: dict[str, int] = {}
        self.sums = np.zeros((1024, self.dim), np.float32)
        self._lock = threading.Lock()

    @classmethod
    def load(cls) -> LexicalTable:
        """The process's table (read once); :class:`~intentroute.errors.MissingDependency` naming
        the extra to install when it is not there."""
        with cls._shared_lock:
            if cls._shared is None:
                reason = lexical_missing_reason()
                if reason is not None:
                    raise MissingDependency(reason)
                root = _package_dir()
                assert root is not None
                cls._shared = cls(root)
            return cls._shared

    def rows(self, words: Sequence[str]) -> list[int] | None:
        """The row of :attr:`sums` of each word, tokenising the words seen for the first time;
        ``None`` when a word is new and :data:`_CACHE_MAX` words are remembered already (a
        long-running server meets new words forever): the caller then uses :meth:`encode`."""
        index = self._index
        found = list(map(index.get, words))
        if None not in found:
            return found  # type: ignore[return-value]
        with self._lock:
            out = []
            for w in words:
                r = index.get(w)
                if r is None:
                    r = len(index)
                    if r >= _CACHE_MAX:
                        return None
                    if r >= len(self.sums):
                        grown = np.zeros((2 * len(self.sums), self.dim), np.float32)
                        grown[: len(self.sums)] = self.sums
                        self.sums = grown
                    self.sums[r] = self.encode(w)
                    index[w] = r
                out.append(r)
            return out

    def encode(self, word: str) -> np.ndarray:
        """A word's token vectors summed (zeros for a word without tokens)."""
        ids = [i for i in self.tokenizer.encode(word, add_special_tokens=False).ids if i >= _SPECIAL]
        return self.table[ids].sum(axis=0, dtype=np.float32) if ids else np.zeros(self.dim, np.float32)

    def total(self, words: Sequence[str]) -> np.ndarray:
        """The sum of the words' token vectors (float64)."""
        rows = self.rows(words) if words else []
        if rows is None:
            return np.asarray(np.sum([self.encode(w) for w in words], axis=0, dtype=np.float64))
        if not rows:
            return np.zeros(self.dim, np.float64)
        out: np.ndarray = self.sums.take(rows, axis=0).sum(axis=0, dtype=np.float64)
        return out

    def vector(self, words: Sequence[str]) -> np.ndarray:
        """The mean of the words' token vectors, L2-normalised (zeros when no word has a token)."""
        total = self.total(words)
        norm = math.sqrt(float(total @ total))
        return (total / norm).astype(np.float32) if norm > 0 else total.astype(np.float32)

    def vectors(self, word_lists: Sequence[Sequence[str]]) -> np.ndarray:
        """:meth:`vector` of each list, as rows."""
        out = np.zeros((len(word_lists), self.dim), np.float32)
        for i, words in enumerate(word_lists):
            out[i] = self.vector(words)
        return out


class LexicalHead:
    """A linear head on :class:`LexicalTable` vectors, added to a classifier's logits.

    With the classifier's probabilities ``p`` (at its temperature ``T``), the combined ones are
    ``softmax((T * log p + mix * (W v + b)) / temperature)``: the classifier's own logits up to a
    constant, plus ``mix`` times the head's, recalibrated. ``exclude``: tokens that are not words
    (the slot markers).
    """

    def __init__(
        self,
        weight: np.ndarray,
        bias: np.ndarray,
        *,
        mix: float,
        temperature: float,
        base_temperature: float,
        exclude: frozenset[str] = frozenset(),
        table: LexicalTable | None = None,
    ) -> None:
        self.table = table or LexicalTable.load()
        self.weight_t = np.ascontiguousarray(np.asarray(weight, np.float64).T) * mix
        self.bias = np.asarray(bias, np.float64) * mix
        self.inv_t = 1.0 / temperature
        self.base_t = base_temperature
        self.exclude = exclude
        self._dim = self.table.dim
        self._rows = np.zeros((0, self._dim + len(self.bias)), np.float64)  # see logits()
        self._lock = threading.Lock()

    def _words(self, tokens: Sequence[str]) -> list[str]:
        return [t for t in tokens if t not in self.exclude] if self.exclude else list(tokens)

    def logits(self, tokens: Sequence[str]) -> np.ndarray:
        """The head's logits (times ``mix``) for one tokenised utterance: its words' rows of
        ``[token vectors summed | projected on the head]`` (built once per word) summed in one
        gather, the projection divided by the summed vector's length."""
        words = self._words(tokens)
        table = self.table
        rows = table.rows(words) if words else []
        if rows is None:
            return table.vector(words) @ self.weight_t + self.bias
        if not rows:
            return self.bias.copy()
        if max(rows) >= len(self._rows):
            self._grow()
        u: np.ndarray = np.add.reduce(self._rows.take(rows, axis=0), 0)
        total = u[: self._dim]
        sq = float(total @ total)
        if sq == 0:
            return self.bias.copy()
        out: np.ndarray = u[self._dim :]
        out *= 1.0 / math.sqrt(sq)
        out += self.bias
        return out

    def _grow(self) -> None:
        """Build the rows of the words the table has added since the last call."""
        with self._lock:
            n = len(self.table._index)
            if n <= len(self._rows):
                return
            new = self.table.sums[len(self._rows) : n].astype(np.float64)
            self._rows = np.vstack([self._rows, np.hstack([new, new @ self.weight_t])])

    def mix(self, probs: Sequence[float], tokens: Sequence[str]) -> list[float]:
        """One utterance's probabilities, the head's logits added."""
        base, inv_t, log = self.base_t, self.inv_t, math.log
        z = [
            base * log(p if p > 1e-300 else 1e-300) + h
            for p, h in zip(probs, self.logits(tokens).tolist(), strict=True)
        ]
        top = max(z)
        e = [math.exp((v - top) * inv_t) for v in z]
        total = left_sum(e)
        return [v / total for v in e]

    def mix_batch(self, probs: np.ndarray, token_lists: Sequence[Sequence[str]]) -> np.ndarray:
        """Many utterances' probabilities (rows), the head's logits added: :meth:`mix` of each row,
        so that a batch answers exactly as one utterance at a time."""
        out = np.empty(np.shape(probs), np.float64)
        for i, (row, tokens) in enumerate(zip(np.asarray(probs).tolist(), token_lists, strict=True)):
            out[i] = self.mix(row, tokens)
        return out
