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
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .text import PhraseTable, normalize

__all__ = [
    "MEMO_MAX_CHARS",
    "MEMO_SIZE",
    "SCOPE_SIZE",
    "LookupSlot",
    "Slot",
    "SymbolSlot",
    "remembering",
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
    if getattr(_SCOPE, "memo", None) is not None:
        yield
        return
    _SCOPE.memo = {}
    _SCOPE.limit = limit
    try:
        yield
    finally:
        _SCOPE.memo = None


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
        object.__setattr__(self, "_memo", {})

    def _find(self, text: str, norm: str) -> list[str]:
        hits: list[tuple[int, int, str]] = []
        words = norm.split(" ")
        found = self._phrases.find(words, overlapping=False)
        if found:  # word positions mapped to character offsets so phrases and patterns order together
            offsets = [0]
            for w in words[:-1]:
                offsets.append(offsets[-1] + len(w) + 1)
            for i, n, value in found:
                hits.append((offsets[i], -len(" ".join(words[i : i + n])), value))
        for pattern, fmt in self.patterns:
            for m in pattern.finditer(norm):
                try:
                    value = fmt.format(m.group(0), *m.groups())
                except (IndexError, KeyError):
                    value = m.group(0)
                hits.append((m.start(), -len(m.group(0)), value.upper() if value.islower() else value))
        hits.sort()
        return list(dict.fromkeys(v for _, _, v in hits))


_TICKER_TOKEN = re.compile(r"(?<![\w$.&])([A-Za-z]{1,5}(?:\.[A-Za-z])?)(?![\w&])")
_CASHTAG = re.compile(r"\$([A-Za-z]{1,5}(?:\.[A-Za-z])?)\b")
_ALPHA_WORD = re.compile(r"[A-Za-z]{2,}")


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
        object.__setattr__(self, "_memo", {})

    def _find(self, text: str, norm: str) -> list[str]:
        hits: list[tuple[float, str]] = []
        tickers, lower_tickers = self.tickers, self._lower_tickers
        words = _ALPHA_WORD.findall(text)
        shouting = False
        if len(words) >= 3:  # (an all-letter word in capitals is its own upper case)
            capitals = sum(1 for w in words if w.isupper() and w not in tickers)
            shouting = capitals / len(words) >= 0.6
        scale = 1.0 / max(1, len(text))
        for m in _CASHTAG.finditer(text):
            hits.append((m.start() * scale, m.group(1).upper()))
        for m in _TICKER_TOKEN.finditer(text):
            tok = m.group(1)
            if tok.islower():  # most words: a ticker only if known and allowed in lower case
                if tok in lower_tickers:
                    hits.append((m.start() * scale, tok.upper()))
                continue
            up = tok.upper()
            if up in tickers:
                if tok == up or up not in self.lowercase_excluded:
                    hits.append((m.start() * scale, up))
            elif tok == up and len(tok) >= 2 and not shouting and up not in self.not_tickers:
                hits.append((m.start() * scale, up))
        words = norm.split(" ")
        # word positions, scaled to be comparable with the character positions above
        for i, _, symbol in self._phrases.find(words, overlapping=False):
            hits.append((i / max(1, len(words)), symbol))
        hits.sort(key=lambda h: h[0])
        return list(dict.fromkeys(s for _, s in hits))


Slot = LookupSlot | SymbolSlot


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
