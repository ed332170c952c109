"""Pure text functions: tokenisation, word n-grams and match normalisation.

``tokenize`` and ``word_ngrams`` reproduce the legacy pipeline exactly (its vocabularies depend on
them); ``normalize`` is the Unicode-aware form the rule layer and the extractor match against.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

import ahocorasick

T = TypeVar("T")

__all__ = [
    "JOINED_SEPARATOR",
    "TOKEN_PATTERN",
    "PhraseTable",
    "Scanner",
    "char_ngrams",
    "normal_form",
    "normal_forms_remembered",
    "normalize",
    "normalize_joined",
    "tokenize",
    "word_ngrams",
]

#: The legacy pipeline's token pattern; bundles record it in ``intent_router_config.json``.
TOKEN_PATTERN = r"[A-Za-z0-9']+"
_TOKEN_RE = re.compile(TOKEN_PATTERN)

# Letters and digits of any script.
_WORD_RE = re.compile(r"[^\W_]+")
_DROP_APOSTROPHES = str.maketrans("", "", "'\u2019")


# For ASCII text, the legacy pipeline's tokens (runs of [A-Za-z0-9'], lower-cased) are what str.split() leaves
# after mapping every other character to a space: one C pass instead of a regex and a lower() per
# token (equal on any string: tested against the regex).
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'")
ASCII_TOKEN_TABLE = {c: chr(c).lower() if chr(c) in _TOKEN_CHARS else " " for c in range(128)}


def byte_table(table: Mapping[int, str | None]) -> tuple[bytes, bytes]:
    """A ``str.translate`` table of ASCII characters to one character or ``None`` (deleted), as
    the table and the deleted characters of ``bytes.translate``: ASCII text encoded, translated
    and decoded gives what ``text.translate(table)`` gives, at less than half the cost (a
    ``str`` table is a dictionary lookup per character).

    >>> t, drop = byte_table({ord("a"): "b", ord("'"): None})
    >>> "a'c".encode().translate(t, drop).decode()
    'bc'
    """
    out = bytearray(range(256))
    for code, char in table.items():
        if char is not None:
            out[code] = ord(char)
    return bytes(out), bytes(code for code, char in table.items() if char is None)


_TOKEN_BYTES = byte_table(ASCII_TOKEN_TABLE)[0]


def tokenize(text: str, pattern: re.Pattern[str] = _TOKEN_RE) -> list[str]:
    """Split ``text`` into lower-cased tokens exactly as the legacy pipeline does.

    >>> tokenize("What's TSLA trading at?")
    ["what's", 'tsla', 'trading', 'at']
    """
    if pattern is _TOKEN_RE and text.isascii():
        return text.encode().translate(_TOKEN_BYTES).decode().split()
    return [t.lower() for t in pattern.findall(text)]


def word_ngrams(tokens: list[str], ngram_max: int = 2) -> list[str]:
    """Tokens followed by their n-grams up to ``ngram_max``, joined with ``_`` (the legacy pipeline's names).

    >>> word_ngrams(["aapl", "price", "today"], 2)
    ['aapl', 'price', 'today', 'aapl_price', 'price_today']
    """
    features = list(tokens)
    for n in range(2, ngram_max + 1):
        features.extend("_".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return features


def char_ngrams(tokens: list[str], lo: int, hi: int) -> list[str]:
    """Word-bounded character n-grams of each token, prefixed with ``#``.

    Each token is padded with a space on both sides (so prefixes and suffixes are their own
    features), as scikit-learn's ``char_wb`` analyzer does. The ``#`` keeps them apart from word
    features, which the token pattern never lets contain ``#``.

    >>> char_ngrams(["qoute"], 3, 3)
    ['# qo', '#qou', '#out', '#ute', '#te ']
    """
    grams: list[str] = []
    for tok in tokens:
        padded = f" {tok} "
        for n in range(lo, hi + 1):
            grams.extend("#" + padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


def normalize(text: str) -> str:
    """Case-fold ``text`` into space-separated words, for phrase and regex matching.

    Punctuation becomes a word boundary, apostrophes inside words vanish, any script is kept.

    >>> normalize("  What's   TSLA trading at?! ")
    'whats tsla trading at'
    >>> normalize("P&L on Apple\u2019s stock")
    'p l on apples stock'
    """
    return " ".join(_normal_words(text))


def _normal_words(text: str) -> list[str]:
    """The words of ``normalize(text)`` (none for a text without letters or digits)."""
    if text.isascii():  # letters and digits kept (lower-cased), apostrophes dropped, the rest a space
        return text.encode().translate(*_ASCII_NORMAL).decode().split()
    return _WORD_RE.findall(text.casefold().translate(_DROP_APOSTROPHES))


# normalize()'s ASCII path: one translate and a split, equal to the general one on ASCII (tested)
_ASCII_NORMAL_MAP = {c: (chr(c).lower() if chr(c).isalnum() else None if chr(c) == "'" else " ") for c in range(128)}
_ASCII_NORMAL = byte_table(_ASCII_NORMAL_MAP)


#: what :func:`normalize_joined` puts between two texts' normal forms (no normal form holds it)
JOINED_SEPARATOR = "\x01"
_JOINED_NORMAL = byte_table({**_ASCII_NORMAL_MAP, ord(JOINED_SEPARATOR): JOINED_SEPARATOR})
_JOINER = f" {JOINED_SEPARATOR} "


def normalize_joined(texts: Sequence[str]) -> str:
    r"""Every text's normal form, in one string: ``" " + " \x01 ".join(map(normalize, texts)) + " "``
    with the double space an empty form leaves made single (so a phrase searched as
    ``" phrase "`` is found in a text's form as in the text's alone, never across two). An ASCII
    batch is normalised in one pass.

    >>> normalize_joined(["What's up?", "", "P&L"])
    ' whats up \x01 \x01 p l '
    """
    joined = _JOINER.join(texts)
    if joined.isascii() and joined.count(JOINED_SEPARATOR) == len(texts) - 1:
        # each run of spaces made one by halving them (a few passes in C over the bytes, where
        # splitting into words and joining them made a str per word)
        spaced = joined.encode().translate(*_JOINED_NORMAL)
        while b"  " in spaced:
            spaced = spaced.replace(b"  ", b" ")
        inner = spaced.decode().strip(" ")
        return f" {inner} " if inner else " "
    words = _JOINER.join(map(normalize, texts)).split()
    return f" {' '.join(words)} " if words else " "


# the last utterance normalised, by identity: the rule layer, the classifier's slot markers and
# the extraction each ask for the same str object's form, one after the other
_LAST_FORM: tuple[str | None, str, tuple[str, ...]] = (None, "", ("",))


# within normal_forms_remembered(), in this thread: every text's normal form, up to a limit
_FORMS = threading.local()


@contextlib.contextmanager
def normal_forms_remembered(limit: int = 100_000) -> Iterator[None]:
    """Within the block, in this thread, :func:`normal_form` remembers every text's form, not
    only the last one's (a batch's rule layer and slots each read every text's, one after the
    other); forgotten when the block ends. Nested blocks share the outermost one's memory, which
    stops growing at ``limit`` texts."""
    with thread_memory(_FORMS, limit):
        yield


@contextlib.contextmanager
def thread_memory(store: threading.local, limit: int) -> Iterator[None]:
    """A block in which ``store.memo`` is a dict of this thread's (and ``store.limit`` how much it
    may hold), ``None`` again when the block ends; a nested block shares the outermost one's."""
    if getattr(store, "memo", None) is not None:
        yield
        return
    store.memo = {}
    store.limit = limit
    try:
        yield
    finally:
        store.memo = None


def normal_form(text: str) -> tuple[str, tuple[str, ...]]:
    """``normalize(text)`` and its words (``norm.split(" ")``), computed once per utterance: the
    last text's are remembered, and found again when the same ``str`` object is asked for (and
    within :func:`normal_forms_remembered`, every text's).

    >>> normal_form("What's TSLA at?")
    ('whats tsla at', ('whats', 'tsla', 'at'))
    """
    global _LAST_FORM
    last = _LAST_FORM
    if last[0] is text:
        return last[1], last[2]
    memo: dict[str, tuple[str, str, tuple[str, ...]]] | None = getattr(_FORMS, "memo", None)
    if memo is not None:
        form = memo.get(text)
        if form is None:
            form = _form(text)
            if len(memo) < _FORMS.limit:
                memo[text] = form
        _LAST_FORM = form
        return form[1], form[2]
    form = _LAST_FORM = _form(text)  # one tuple, replaced whole: safe under threads
    return form[1], form[2]


def _form(text: str) -> tuple[str, str, tuple[str, ...]]:
    words = _normal_words(text)
    return (text, " ".join(words), tuple(words)) if words else (text, "", ("",))


class Scanner(Generic[T]):
    """Many strings found in a text in one pass of an Aho-Corasick automaton (``pyahocorasick``):
    every occurrence, overlapping ones included, whatever the number of strings.

    >>> Scanner({" cash ": 1, " how much cash ": 2, "much": 3}).scan(" how much cash ")
    [(5, 4, 3), (0, 15, 2), (9, 6, 1)]
    """

    __slots__ = ("_automaton",)

    def __init__(self, strings: Mapping[str, T]) -> None:
        self._automaton: Any = None
        if strings:
            automaton = ahocorasick.Automaton()
            for key, value in strings.items():
                automaton.add_word(key, (len(key), value))
            automaton.make_automaton()
            self._automaton = automaton

    def scan(self, text: str) -> list[tuple[int, int, T]]:
        """``(start, length, value)`` of every occurrence in ``text``, by where it ends."""
        return [(end - n + 1, n, value) for end, (n, value) in self.ends(text)]

    def ends(self, text: str) -> Iterator[tuple[int, tuple[int, T]]]:
        """``(end, (length, value))`` of every occurrence in ``text``, by where it ends (``end``:
        the index of its last character): :meth:`scan` without a list built in between.

        >>> list(Scanner({"ab": 1}).ends("xab"))
        [(2, (2, 1))]
        """
        if self._automaton is None:
            return iter(())
        found: Iterator[tuple[int, tuple[int, T]]] = self._automaton.iter(text)
        return found


class PhraseTable(Generic[T]):
    """Phrases (normalised word sequences) mapped to values, found in text by dictionary lookup.

    Finding costs one lookup per word n-gram that starts with a word some phrase starts with, so
    it does not grow with the number of phrases.

    >>> table = PhraseTable({"cash": 1, "how much cash": 2})
    >>> table.find("how much cash".split())
    [(0, 3, 2), (2, 1, 1)]
    >>> table.find("how much cash".split(), overlapping=False)
    [(0, 3, 2)]
    """

    __slots__ = ("_first", "_table")

    def __init__(self, table: Mapping[str, T]) -> None:
        self._table = dict(table)
        lengths: dict[str, set[int]] = {}
        for p in self._table:
            lengths.setdefault(p.split(" ", 1)[0], set()).add(p.count(" ") + 1)
        # first word -> the word counts of the phrases that start with it, longest first
        self._first = {w: tuple(sorted(ns, reverse=True)) for w, ns in lengths.items()}

    def __len__(self) -> int:
        return len(self._table)

    @property
    def first_words(self) -> frozenset[str]:
        """The words a phrase starts with: a text without any of them holds no phrase."""
        return frozenset(self._first)

    def find(self, words: Sequence[str], *, overlapping: bool = True) -> list[tuple[int, int, T]]:
        """``(start word, n, value)`` of every phrase in ``words``, by start then longest first.

        With ``overlapping=False``, where matches overlap only the leftmost longest is kept.
        """
        first = self._first
        if first.keys().isdisjoint(words):  # most texts hold no phrase of a table: one C call
            return []
        found = []
        table, nwords = self._table, len(words)
        i = 0
        while i < nwords:
            step = 1
            lengths = first.get(words[i])
            if lengths is not None:
                for n in lengths:
                    if n > nwords - i:
                        continue
                    value = table.get(words[i] if n == 1 else " ".join(words[i : i + n]))
                    if value is not None:
                        found.append((i, n, value))
                        if not overlapping:
                            step = n
                            break
            i += step
        return found
