"""Slots: the kinds of parameter a domain names (tickers, accounts, timeframes, topics) and how
each is found in an utterance.

Both the classifier's slot markers (:class:`~intentroute.estimators.BowVectorizer` with
``slots=...``) and parameter extraction (:mod:`intentroute.extract`) find slots through this
module, so it sits below both. What to look for comes from a domain's ``slots``:

- ``kind = "symbol"``: known ``tickers`` (matched in any case, except those in
  ``lowercase_excluded`` which must be written in capitals or as ``$cashtags``), company ``names``
  (``"apple" -> "AAPL"``), and any other all-capitals word of 2-5 letters that is not in
  ``not_tickers`` (so "What's XYZ at?" finds ``XYZ``; a message typed entirely in capitals only
  yields known tickers).
- ``kind = "lookup"``: ``values`` maps phrases to a canonical value (``"year to date" -> "YTD"``),
  and ``patterns`` maps regular expressions to a format string over their groups
  (``"\\b(\\d{1,2}) ?months?\\b" -> "{1}M"``). Matching is on the normalised text; the earliest
  match wins, then the longest.

About 700 lines, kept together because the fast paths must stay equal to the plain ones beside
them: the two kinds of slot, and :class:`SlotSet`, which looks for a domain's slots together
once per utterance, or for a whole batch at once, and remembers what it found for the
classifier and the extraction.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .patterns import DIGIT_RE, Prefilter, digit_search
from .text import (
    JOINED_SEPARATOR,
    PhraseTable,
    Scanner,
    byte_table,
    normal_form,
    normal_forms_remembered,
    normalize,
    normalize_joined,
    thread_memory,
)

__all__ = [
    "MEMO_MAX_CHARS",
    "MEMO_SIZE",
    "SCOPE_SIZE",
    "LookupSlot",
    "Slot",
    "SlotSet",
    "SymbolSlot",
    "remembering",
    "slot_set",
    "slots_from_spec",
]


#: how many recent utterances each slot remembers what it found in, and up to what length: the
#: classifier's slot markers and the cascade's extraction look at the same utterance one after
#: the other, and slots built from the same settings are one object (see slots_from_spec). Few,
#: so that only that repeat is saved: a benchmark's passes over its texts find nothing kept
#: from the pass before.
MEMO_SIZE = 16
MEMO_MAX_CHARS = 2000


#: what the slots found in this thread within ``remembering()``, keyed by slot and utterance
_SCOPE = threading.local()
SCOPE_SIZE = 100_000  # entries kept before a remembering() block's memory starts over


@contextlib.contextmanager
def remembering(limit: int = SCOPE_SIZE) -> Iterator[None]:
    """Within the block, in this thread, every slot remembers what it found in every utterance
    it looks at, not only in the last few; forgotten when the block ends.

    :meth:`Cascade.route_batch <intentroute.cascade.Cascade.route_batch>` routes in one: the
    classifier finds its slot markers for the whole batch before the extraction of any answer,
    so without it the extraction would look for the slots again in all but the last few.
    Nested blocks share the outermost one's memory, which starts over once it holds ``limit``
    finds.
    """
    # (each text's normal form too: the rules read them as well)
    with thread_memory(_SCOPE, limit), normal_forms_remembered(limit):
        yield


class _Remembering:
    """``find`` through a small memo of the last utterances' results (the slots are immutable),
    and within ``remembering()`` through that block's memory."""

    _memo: dict[tuple[str, str], tuple[str, ...]]

    def _find(self, text: str, norm: str) -> list[str]:
        raise NotImplementedError

    def find(self, text: str, norm: str) -> list[str]:
        """The values found in ``text`` (``norm`` is ``normalize(text)``), in order of appearance."""
        if len(text) > MEMO_MAX_CHARS:
            return self._find(text, norm)
        scoped: dict[tuple[int, str, str], tuple[_Remembering, tuple[str, ...]]] | None
        scoped = getattr(_SCOPE, "memo", None)
        if scoped is not None:
            skey = (id(self), text, norm)
            entry = scoped.get(skey)
            if entry is None:
                # the entry holds the slot itself, so no other slot can take its id in this block
                entry = (self, tuple(self._find(text, norm)))
                if len(scoped) >= _SCOPE.limit:
                    scoped.clear()
                scoped[skey] = entry
            return list(entry[1])
        key = (text, norm)
        hit = self._memo.get(key)
        if hit is None:
            hit = tuple(self._find(text, norm))
            memo = self._memo
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[key] = hit
        return list(hit)


@dataclass(frozen=True)
class LookupSlot(_Remembering):
    """A parameter found by phrases and regexes on the normalised text."""

    name: str
    values: Mapping[str, str]
    patterns: tuple[tuple[re.Pattern[str], str], ...] = ()
    _phrases: PhraseTable[str] = field(init=False, repr=False, compare=False)
    # each pattern is searched only in a text that holds what it cannot match without
    _gates: tuple[Any, ...] = field(init=False, repr=False, compare=False)  # Prefilter.search of each

    @classmethod
    def from_spec(cls, name: str, spec: Mapping[str, Any], where: str) -> LookupSlot:
        values = spec.get("values", {})
        patterns = spec.get("patterns", {})
        if not isinstance(values, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in values.items()
        ):
            raise ConfigError(f"slot {name!r}: 'values' must map phrases to strings", source=where)
        if not isinstance(patterns, Mapping):
            raise ConfigError(f"slot {name!r}: 'patterns' must map regexes to format strings", source=where)
        compiled = []
        for rx, fmt in patterns.items():
            try:
                compiled.append((re.compile(rx), str(fmt)))
            except re.error as exc:
                raise ConfigError(f"slot {name!r}: invalid pattern {rx!r}: {exc}", source=where) from exc
        if not values and not compiled:
            raise ConfigError(f"slot {name!r}: needs 'values' or 'patterns'", source=where)
        norm_values = {normalize(k): v for k, v in values.items() if normalize(k)}
        return cls(name, norm_values, tuple(compiled))

    def __post_init__(self) -> None:
        object.__setattr__(self, "_phrases", PhraseTable(self.values))
        object.__setattr__(self, "_gates", tuple(Prefilter(p.pattern).search for p, _ in self.patterns))
        object.__setattr__(self, "_memo", {})

    def _find(self, text: str, norm: str) -> list[str]:
        words = norm.split(" ")
        found = self._phrases.find(words, overlapping=False)
        places = []
        if found:  # word positions mapped to character offsets so phrases and patterns order together
            offsets = [0]
            for w in words[:-1]:
                offsets.append(offsets[-1] + len(w) + 1)
            places = [(offsets[i], len(" ".join(words[i : i + n])), value) for i, n, value in found]
        return self._values(norm, places)

    def _matches(self, norm: str) -> bool:
        """Whether one of the patterns (that its prefilter lets search) matches ``norm``."""
        passed: dict[Any, bool] = {}
        return any(
            _passes(gate, norm, passed) and pattern.search(norm) is not None
            for (pattern, _), gate in zip(self.patterns, self._gates, strict=True)
        )

    def _values(
        self, norm: str, places: list[tuple[int, int, str]], passed: dict[Any, bool] | None = None
    ) -> list[str]:
        """The values of the phrases found (``(start, length, value)``, leftmost longest) and of
        the patterns' matches, by where they start (the longer first), each once. ``passed``:
        the prefilters already run on ``norm`` (each distinct one is run once)."""
        passed = {} if passed is None else passed
        searched = [pf for pf, gate in zip(self.patterns, self._gates, strict=True) if _passes(gate, norm, passed)]
        if not searched and len(places) < 2:  # most utterances: nothing, or one phrase
            return [places[0][2]] if places else []
        hits = [(start, -length, value) for start, length, value in places]
        for pattern, fmt in searched:
            for m in pattern.finditer(norm):
                try:
                    value = fmt.format(m.group(0), *m.groups())
                except (IndexError, KeyError):
                    value = m.group(0)
                hits.append((m.start(), -len(m.group(0)), value.upper() if value.islower() else value))
        hits.sort()
        return list(dict.fromkeys(v for _, _, v in hits))


# a ticker token: 1-5 letters (and a share class, ".B"), not inside a word, a number or a cashtag
_TICKER_START = r"(?<![\w$.&])"
_TICKER_BODY = r"([A-Za-z]{1,5}(?:\.[A-Za-z])?)(?![\w&])"
_TICKER_TOKEN = re.compile(_TICKER_START + _TICKER_BODY)
# a ticker token that starts with a capital (the lookbehind after the letter: a pattern that
# starts with a character set is scanned for in C); the whole match is the token
_CAPITAL_TOKEN = re.compile(r"[A-Z](?<![\w$.&][A-Z])[A-Za-z]{0,4}(?:\.[A-Za-z])?(?![\w&])")
_CASHTAG = re.compile(r"\$([A-Za-z]{1,5}(?:\.[A-Za-z])?)\b")
_ALPHA_WORD = re.compile(r"[A-Za-z]{2,}")
# ASCII text with every character but a letter made a space: its runs of letters, case kept
_LETTER_RUNS = byte_table({c: chr(c) if chr(c).isalpha() else " " for c in range(128)})[0]


def _trie_pattern(words: Sequence[str]) -> str:
    """A regex matching exactly ``words`` (a prefix tree: tried a character at a time, not word by word)."""
    tree: dict[str, Any] = {}
    for w in words:
        node = tree
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def pattern(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + pattern(rest) for ch, rest in sorted(node.items()) if ch]
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if "" not in node:
            return body
        return f"(?:{body})?" if alts else ""

    return pattern(tree) if words else "(?!)"


@dataclass(frozen=True)
class SymbolSlot(_Remembering):
    """Ticker symbols: known tickers, company names, cashtags and capitalised unknown tickers."""

    name: str
    tickers: frozenset[str]
    names: Mapping[str, str]
    lowercase_excluded: frozenset[str]
    not_tickers: frozenset[str]
    _phrases: PhraseTable[str] = field(init=False, repr=False, compare=False)
    # known tickers that count when written in lower case: the one check most words need
    _lower_tickers: frozenset[str] = field(init=False, repr=False, compare=False)
    # the ticker tokens _find_tickers can do something with (one with a capital letter, or a
    # known ticker in lower case), found by one regex: the others are skipped in C
    _candidates: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _lower_plain: frozenset[str] = field(init=False, repr=False, compare=False)  # (those without a dot)
    _dotted: tuple[str, ...] = field(init=False, repr=False, compare=False)  # known tickers with a dot

    @classmethod
    def from_spec(cls, name: str, spec: Mapping[str, Any], where: str) -> SymbolSlot:
        def strings(key: str) -> list[str]:
            v = spec.get(key, [])
            if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
                raise ConfigError(f"slot {name!r}: {key!r} must be a list of strings", source=where)
            return v

        names = spec.get("names", {})
        if not isinstance(names, Mapping) or not all(isinstance(v, str) for v in names.values()):
            raise ConfigError(f"slot {name!r}: 'names' must map company names to tickers", source=where)
        norm_names = {normalize(k): v.upper() for k, v in names.items() if normalize(k)}
        # normalising drops apostrophes, so "apple's" arrives as "apples"
        possessives = {k + "s": v for k, v in norm_names.items() if k + "s" not in norm_names}
        return cls(
            name,
            frozenset(t.upper() for t in strings("tickers")),
            {**possessives, **norm_names},
            frozenset(t.upper() for t in strings("lowercase_excluded")),
            frozenset(t.upper() for t in strings("not_tickers")),
        )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_phrases", PhraseTable(self.names))
        lower = frozenset(t.lower() for t in self.tickers - self.lowercase_excluded)
        object.__setattr__(self, "_lower_tickers", lower)
        known_lower = _trie_pattern(sorted(lower))
        candidates = re.compile(f"{_TICKER_START}(?=[a-z.]*[A-Z]|{known_lower}(?![A-Za-z])){_TICKER_BODY}")
        object.__setattr__(self, "_candidates", candidates)
        object.__setattr__(self, "_lower_plain", frozenset(t for t in lower if "." not in t))
        object.__setattr__(self, "_dotted", tuple(sorted(t for t in self.tickers if "." in t)))
        object.__setattr__(self, "_memo", {})

    def _may_hold_ticker(self, text: str) -> bool:
        """Whether a ticker token of ``text`` could be found (a superset of :meth:`_find`'s
        conditions, without positions): most utterances hold none, and then no match is walked.

        In ASCII text a ticker token is a whole run of letters, or a known ticker with a dot
        (looked for as a substring, in any case): the runs come from one ``translate``.
        """
        if "$" in text:
            return True
        if text.isascii():
            runs = text.encode().translate(_LETTER_RUNS).decode().split()
            if not self._lower_plain.isdisjoint(runs):
                return True
            if self._dotted and "." in text:
                upper = text.upper()
                if any(d in upper for d in self._dotted):
                    return True
            if text.islower():
                return False
            tickers = self.tickers
            return any(not r.islower() and (r.isupper() or r.upper() in tickers) for r in runs)
        tokens = _TICKER_TOKEN.findall(text)
        if not self._lower_tickers.isdisjoint(tokens):
            return True
        if text.islower():  # (no capital anywhere: every token is in lower case)
            return False
        tickers = self.tickers
        return any(not tok.islower() and (tok.isupper() or tok.upper() in tickers) for tok in tokens)

    def _find(self, text: str, norm: str) -> list[str]:
        words = norm.split(" ")
        found = self._phrases.find(words, overlapping=False)
        return self._symbols(text, [(i, symbol) for i, _, symbol in found], len(words), None)

    def _symbols(self, text: str, names: list[tuple[int, str]], n_words: int, may_hold: bool | None) -> list[str]:
        """The tickers of ``text`` and the companies ``names`` (``(word index, ticker)``, leftmost
        longest) by where they appear, each once; ``may_hold``: :meth:`_may_hold_ticker`, if known."""
        hits: list[tuple[float, str]] = []
        if self._may_hold_ticker(text) if may_hold is None else may_hold:
            self._find_tickers(text, hits)
        if not hits and len(names) < 2:
            return [names[0][1]] if names else []
        for i, symbol in names:  # word positions, scaled to be comparable with the tickers' characters
            hits.append((i / max(1, n_words), symbol))
        hits.sort(key=lambda h: h[0])
        return list(dict.fromkeys(s for _, s in hits))

    def _find_tickers(self, text: str, hits: list[tuple[float, str]]) -> None:
        shouted: dict[str, bool] = {}
        scale = 1.0 / max(1, len(text))
        for m in _CASHTAG.finditer(text):
            hits.append((m.start() * scale, m.group(1).upper()))
        for m in self._candidates.finditer(text):  # (the tokens _ticker_in passes over are skipped)
            ticker = self._ticker_in(m.group(1), text, shouted)
            if ticker is not None:
                hits.append((m.start() * scale, ticker))

    def _ticker_in(self, tok: str, text: str, shouted: dict[str, bool]) -> str | None:
        """The ticker a ticker token ``tok`` of ``text`` is, or ``None``. An unknown word in
        capitals is one unless the whole text is shouted (worked out when such a word needs it,
        and kept in ``shouted``)."""
        if tok.islower():  # most words: a ticker only if known and allowed in lower case
            return tok.upper() if tok in self._lower_tickers else None
        is_one = self._capital_verdict(tok)
        if is_one is None:
            loud = shouted.get(text)
            if loud is None:
                loud = shouted[text] = self._shouted(text)
            is_one = not loud
        return tok.upper() if is_one else None

    def _capital_verdict(self, tok: str) -> bool | None:
        """Whether a ticker token with a capital in it is a ticker wherever it is written
        (``True``), nowhere (``False``), or only in a text not typed in capitals (``None``: an
        unknown word in capitals)."""
        up = tok.upper()
        if up in self.tickers:
            return tok == up or up not in self.lowercase_excluded
        if tok != up or len(tok) < 2 or up in self.not_tickers:
            return False
        return None

    def _shouted(self, text: str) -> bool:
        """Whether ``text`` is typed in capitals: 60% of its (3 or more) words, known tickers aside."""
        words = _ALPHA_WORD.findall(text)
        if len(words) < 3:
            return False
        tickers = self.tickers  # (an all-letter word in capitals is its own upper case)
        return sum(1 for w in words if w.isupper() and w not in tickers) / len(words) >= 0.6


Slot = LookupSlot | SymbolSlot


class SlotSet:
    """A domain's slots, looked for together once per utterance.

    The classifier's slot markers and the extraction of the accepted intent's parameters both ask
    what the slots found in the same utterance, one after the other: the last utterance's finds
    are remembered (found again for the same ``str`` object), and within :func:`remembering`
    those of every utterance. Slots built from the same settings are one object
    (:func:`slots_from_spec`) and :func:`slot_set` gives one ``SlotSet`` for the same slots, so
    a domain's extractor and a bundle's vectorizer trained on it share their finds.
    """

    __slots__ = ("_batch_scanner", "_first_words", "_last", "_plan", "_scanner", "names", "slots")

    def __init__(self, slots: Mapping[str, Slot]) -> None:
        self.slots: dict[str, Slot] = dict(slots)
        self.names = tuple(self.slots)
        self._last: tuple[str | None, dict[str, tuple[str, ...]]] = (None, {})
        # what tells, without searching, that a slot finds nothing in a text: none of its phrases'
        # first words among the text's words (one set intersection for all the slots), none of
        # its patterns' prefilters passing (each distinct prefilter run once), and for a symbol
        # slot no token that could be a ticker
        # (name, slot, its prefilters, whether it is a symbol slot), in the slots' order
        self._plan: list[tuple[str, Slot, tuple[Any, ...] | None, bool]] = []
        every: set[str] = set()
        phrases: dict[str, list[tuple[int, str]]] = {}  # " phrase " -> (slot's index, its value)
        for j, (name, slot) in enumerate(self.slots.items()):
            every |= slot._phrases.first_words
            table = slot.names if isinstance(slot, SymbolSlot) else slot.values
            for phrase, value in table.items():
                phrases.setdefault(f" {phrase} ", []).append((j, value))
            gates = None if isinstance(slot, SymbolSlot) else tuple(dict.fromkeys(slot._gates))
            self._plan.append((name, slot, gates, isinstance(slot, SymbolSlot)))
        self._first_words = frozenset(every)
        # every slot's phrases, found in one pass over the text (as " phrase ": whole words only)
        self._scanner = Scanner({k: tuple(v) for k, v in phrases.items()})
        # and for a batch, each phrase's slots as bits (bit j: slot j), with the symbol slots one
        # of whose lower-case tickers a key spells (as a substring of the normal form: the text is
        # then looked at alone)
        batch_keys: dict[str, tuple[int, tuple[int, ...]]] = {
            k: (sum({1 << j for j, _ in v}), ()) for k, v in phrases.items()
        }
        for j, slot in enumerate(self.slots.values()):
            if isinstance(slot, SymbolSlot):
                for key in map(normalize, slot._lower_tickers):
                    bits, spelt = batch_keys.get(key, (0, ()))
                    batch_keys[key] = (bits, (*spelt, j))
        self._batch_scanner = Scanner(batch_keys)

    def find_all(self, text: str) -> dict[str, tuple[str, ...]]:
        """``{slot name: values found, in order of appearance}`` for the slots found in ``text``
        (in the slots' order). The dict may be shared with other callers: do not change it."""
        last = self._last
        if last[0] is text:
            return last[1]
        scoped: dict[tuple[int, str], tuple[SlotSet, dict[str, tuple[str, ...]]]] | None
        scoped = getattr(_SCOPE, "memo", None)
        if scoped is not None and len(text) <= MEMO_MAX_CHARS:
            key = (id(self), text)
            entry = scoped.get(key)
            if entry is None:
                # the entry holds the set itself, so no other object can take its id in this block
                entry = (self, self._search(text))
                if len(scoped) >= _SCOPE.limit:
                    scoped.clear()
                scoped[key] = entry
            found: dict[str, tuple[str, ...]] = entry[1]
        else:
            found = self._search(text)
        self._last = (text, found)  # one tuple, replaced whole: safe under threads
        return found

    def find_all_many(self, texts: Sequence[str]) -> list[dict[str, tuple[str, ...]]]:
        """``[self.find_all(t) for t in texts]``, with one lookup of the block's memory per text."""
        scoped = getattr(_SCOPE, "memo", None)
        if scoped is None:
            return [self._search(t) for t in texts]
        me, search, out = id(self), self._search, []
        for text in texts:
            entry = scoped.get((me, text))
            if entry is None:
                found = search(text)
                if len(text) <= MEMO_MAX_CHARS:
                    if len(scoped) >= _SCOPE.limit:
                        scoped.clear()
                    scoped[(me, text)] = (self, found)
            else:
                found = entry[1]
            out.append(found)
        return out

    def present_many(self, texts: Sequence[str]) -> list[tuple[str, ...]]:
        """The names of the slots found in each text (``tuple(self.find_all(t))`` for each, in the
        slots' order), without working out their values: what the classifier's slot markers need.

        The batch is searched as a whole: one pass of an automaton over all the texts' normal
        forms (:func:`~intentroute.text.normalize_joined`) finds every phrase and every place a
        lower-case ticker is spelled; one pass over all the texts joined by a space (what a
        token's edges see at a text's start or end too) finds the cashtags and the tokens that
        start with a capital; each pattern prefilter searches the forms once. A text is looked
        at alone only where a lower-case ticker is spelled, to tell a capitalised word from a
        shouted text, or to search a pattern its prefilter lets in. Within :func:`remembering`
        the values are found and kept instead (:meth:`find_all_many`): the batch's extraction
        will ask for them.
        """
        if getattr(_SCOPE, "memo", None) is not None:
            return [tuple(found) for found in self.find_all_many(texts)]
        if not texts:
            return []
        masks = [0] * len(texts)  # bit j: slot j found
        big = normalize_joined(texts)  # " form \x01 form ...": no phrase spans two texts
        starts = [0, *(m.start() for m in _SEPARATORS.finditer(big))]  # text i's from starts[i]
        spelled: dict[int, set[int]] = {}  # symbol slot -> the texts that spell one of its lower-case tickers
        where = bisect.bisect_right
        for end, (_, (bits, spelling)) in self._batch_scanner.ends(big):
            i = where(starts, end) - 1  # (a key ends before the separator after its text)
            masks[i] |= bits
            for j in spelling:
                spelled.setdefault(j, set()).add(i)
        joined = " ".join(texts)
        text_starts = list(itertools.accumulate((len(t) + 1 for t in texts), initial=0))
        for j, (_, slot, gates, symbol) in enumerate(self._plan):
            bit = 1 << j
            if symbol:
                spelt = spelled.get(j, set())
                self._tickers_present(slot, texts, joined, text_starts, masks, bit, spelt)  # type: ignore[arg-type]
            elif gates:
                for i in _texts_passing(gates, big, starts):
                    if not masks[i] & bit and slot._matches(_form_in(big, starts, i)):  # type: ignore[union-attr]
                        masks[i] |= bit
        names = self.names
        named: dict[int, tuple[str, ...]] = {}
        out = []
        for mask in masks:
            found = named.get(mask)
            if found is None:
                found = named[mask] = tuple(name for j, name in enumerate(names) if mask >> j & 1)
            out.append(found)
        return out

    @staticmethod
    def _tickers_present(
        slot: SymbolSlot,
        texts: Sequence[str],
        joined: str,
        starts: list[int],
        masks: list[int],
        bit: int,
        spelled: set[int],
    ) -> None:
        """Mark (``bit``) the texts in which ``slot`` finds a ticker: cashtags and the tokens that
        start with a capital from passes over ``joined`` (the texts joined by a space; a regex
        that starts with a character set is scanned for in C), and ``spelled``, the texts whose
        normal form holds a ticker ``slot`` takes in lower case (any other token that starts with
        a small letter is no ticker), looked at alone."""
        for m in _CASHTAG.finditer(joined):
            masks[bisect.bisect_right(starts, m.start()) - 1] |= bit
        shouted: dict[str, bool] = {}
        verdicts: dict[str, bool | None] = {}  # (a batch writes the same few capitalised words over and over)
        for m in _CAPITAL_TOKEN.finditer(joined):
            tok = m[0]
            if tok not in verdicts:
                verdicts[tok] = slot._capital_verdict(tok)
            is_one = verdicts[tok]
            if is_one is False:  # ("What", "Show": most of them)
                continue
            i = bisect.bisect_right(starts, m.start()) - 1
            if not masks[i] & bit and (is_one or slot._ticker_in(tok, texts[i], shouted) is not None):
                masks[i] |= bit
        for i in spelled:  # the texts whose form spells a lower-case ticker: any token, the long way
            if not masks[i] & bit:
                hits: list[tuple[float, str]] = []
                slot._find_tickers(texts[i], hits)
                if hits:
                    masks[i] |= bit

    def _search(self, text: str) -> dict[str, tuple[str, ...]]:
        norm, words = normal_form(text)
        places: dict[int, list[tuple[int, int, str]]] = {}  # slot index -> (start, length, value)
        if not self._first_words.isdisjoint(words):  # (no phrase can be there: most texts)
            for end, (n, entries) in self._scanner.ends(f" {norm} "):
                for j, value in entries:
                    places.setdefault(j, []).append((end - n + 1, n - 2, value))
        passed: dict[Any, bool] = {}
        found: dict[str, tuple[str, ...]] = {}
        for j, (name, slot, gates, symbol) in enumerate(self._plan):
            mine = places.get(j)
            if mine is not None and len(mine) > 1:
                mine = _leftmost_longest(mine)
            if symbol:
                may_hold = slot._may_hold_ticker(text)  # type: ignore[union-attr]
                if not mine and not may_hold:
                    continue
                names = [(norm.count(" ", 0, start), value) for start, _, value in mine] if mine else []
                values = slot._symbols(text, names, len(words), may_hold)  # type: ignore[union-attr]
            else:
                if not mine:
                    if not gates or not _any_passes(gates, norm, passed):  # (most lookups: no phrase, no pattern)
                        continue
                    mine = []
                values = slot._values(norm, mine, passed)  # type: ignore[union-attr]
            if values:
                found[name] = tuple(values)
        return found


_SEPARATORS = re.compile(re.escape(JOINED_SEPARATOR))
_SEPARATOR_BYTE = JOINED_SEPARATOR.encode()
_NOT_DIGIT_OR_SEPARATOR = bytes(c for c in range(256) if c not in b"0123456789" + _SEPARATOR_BYTE)


def _form_in(big: str, starts: list[int], i: int) -> str:
    """Text ``i``'s normal form, read from :func:`~intentroute.text.normalize_joined`'s string."""
    first = starts[i] + 2 if i else 1
    last = starts[i + 1] - 1 if i + 1 < len(starts) else len(big) - 1
    return big[first : max(first, last)]


def _texts_passing(gates: tuple[Any, ...], big: str, starts: list[int]) -> list[int]:
    """The indexes of the texts (their normal forms laid out in ``big`` from ``starts``) that
    one of ``gates`` (pattern prefilters, which never look for the separator) lets in: a
    prefilter that is a regex's ``search`` searches ``big`` once per text it lets in, from
    that text on; any other is run text by text."""
    found: set[int] = set()
    for gate in dict.fromkeys(gates):
        if gate is None:
            return list(range(len(starts)))
        if gate is digit_search:
            if big.isascii():
                # an ASCII batch's digits are 0-9: the texts that hold one from one translate of
                # the batch (where a search for \d looked at every character in turn, 5x slower)
                parts = big.encode().translate(None, _NOT_DIGIT_OR_SEPARATOR).split(_SEPARATOR_BYTE)
                found.update(itertools.compress(itertools.count(), parts))
                continue
            gate = DIGIT_RE.search
        rx = getattr(gate, "__self__", None)
        if isinstance(rx, re.Pattern) and getattr(gate, "__name__", "") == "search":
            m = rx.search(big)
            while m is not None:
                i = bisect.bisect_right(starts, m.start()) - 1
                found.add(i)
                if i + 1 == len(starts):
                    break
                m = rx.search(big, starts[i + 1])
        else:
            found.update(i for i in range(len(starts)) if gate(_form_in(big, starts, i)) is not None)
    return sorted(found)


def _leftmost_longest(places: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Of phrases found anywhere (``(start, length, value)``), those a left-to-right reading
    keeps: at each start the longest, then on from its end (as ``PhraseTable.find(overlapping=False)``)."""
    if len(places) > 1:
        places.sort(key=lambda p: (p[0], -p[1]))
    kept, free = [], 0
    for place in places:
        if place[0] >= free:
            kept.append(place)
            free = place[0] + place[1] + 1
    return kept


def _passes(gate: Any, norm: str, passed: dict[Any, bool]) -> bool:
    """Whether a pattern's prefilter passes ``norm`` (``None``: a pattern that promises nothing);
    run once per text, through ``passed``."""
    if gate is None:
        return True
    ok = passed.get(gate)
    if ok is None:
        ok = passed[gate] = gate(norm) is not None
    return ok


def _any_passes(gates: tuple[Any, ...] | None, norm: str, passed: dict[Any, bool]) -> bool:
    """Whether one of a slot's pattern prefilters passes; each distinct prefilter run once per
    text, through ``passed``."""
    for gate in gates or ():  # noqa: SIM110  (a loop, not any(): no generator made per call)
        if _passes(gate, norm, passed):
            return True
    return False


_SETS: dict[tuple[tuple[str, int], ...], SlotSet] = {}


def slot_set(slots: Mapping[str, Slot]) -> SlotSet:
    """The :class:`SlotSet` of ``slots``: the same object for the same slot objects under the same names."""
    key = tuple((name, id(slot)) for name, slot in slots.items())
    found = _SETS.get(key)
    if found is None:
        found = SlotSet(slots)  # (it holds the slots, so their ids stay theirs while it is cached)
        if len(_SETS) >= _BUILT_SIZE:
            _SETS.pop(next(iter(_SETS)))
        _SETS[key] = found
    return found


#: slots already built, by name and settings: a domain's extractor and a bundle's vectorizer
#: trained on that domain share their slot objects, and so what they found in an utterance
_BUILT: dict[str, Slot] = {}
_BUILT_SIZE = 64


def slots_from_spec(specs: Mapping[str, Any], where: str) -> dict[str, Slot]:
    """The slots of a domain.json ``slots`` object (``{name: {"kind": ..., ...}}``); a bad entry
    is a :class:`ConfigError` naming the slot and ``where``. Settings equal to ones built before
    give the same (immutable) slot object."""
    if not isinstance(specs, Mapping):
        raise ConfigError("'slots' must be an object of slot name -> settings", source=where)
    slots: dict[str, Slot] = {}
    for name, spec in specs.items():
        if not isinstance(spec, Mapping):
            raise ConfigError(f"slot {name!r} must be an object", source=where)
        try:
            key: str | None = json.dumps([name, spec], sort_keys=True)
        except (TypeError, ValueError):  # not JSON-like: built, and checked, every time
            key = None
        if key is not None and key in _BUILT:
            slots[name] = _BUILT[key]
            continue
        kind = spec.get("kind", "lookup")
        if kind == "symbol":
            slots[name] = SymbolSlot.from_spec(name, spec, where)
        elif kind == "lookup":
            slots[name] = LookupSlot.from_spec(name, spec, where)
        else:
            raise ConfigError(f"slot {name!r}: kind must be 'symbol' or 'lookup', got {kind!r}", source=where)
        if key is not None:
            if len(_BUILT) >= _BUILT_SIZE:
                _BUILT.pop(next(iter(_BUILT)))
            _BUILT[key] = slots[name]
    return slots
