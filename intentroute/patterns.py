"""Regular expressions written outside the library (a rules file, a bundle's token pattern),
searched under a time bound.

Python's ``re`` can backtrack for minutes on a pattern such as ``(a|aa)+$``, and a route must
not. Patterns from a user's files are compiled with the ``regex`` package and every search gets
:data:`SEARCH_TIMEOUT` seconds; a search that runs out is logged and counts as no match. The
patterns shipped inside the package (the embedded domains' rules, the default token pattern) are
the library's own, reviewed like code, and keep ``re``'s speed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from re import _constants as _sre_constants  # type: ignore[attr-defined]  # the parse tree's opcodes
from re import _parser as _sre_parser  # type: ignore[attr-defined]  # CPython's own pattern parser
from typing import Any

import regex

__all__ = ["DIGIT", "DIGIT_RE", "SEARCH_TIMEOUT", "BoundedPattern", "Prefilter", "digit_search", "required_substrings"]

#: seconds one search of a pattern from a file may take (a normal utterance's takes microseconds)
SEARCH_TIMEOUT = 0.05

_log = logging.getLogger(__name__)


_C = _sre_constants
_REPEATS = (_C.MAX_REPEAT, _C.MIN_REPEAT, getattr(_C, "POSSESSIVE_REPEAT", _C.MAX_REPEAT))


#: the requirement "a decimal digit" (``\\d``: any character of Unicode category Nd, which no
#: short list of strings covers); :class:`Prefilter` checks it with one search
DIGIT: frozenset[str] = frozenset({"\\d"})
#: any decimal digit, of any script
DIGIT_RE = re.compile(r"\d")
_NOT_ASCII_DIGIT = bytes(c for c in range(256) if c not in b"0123456789")


def digit_search(text: str) -> re.Match[str] | None:
    """``DIGIT_RE.search(text)``: :attr:`Prefilter.search` of a pattern that needs a digit.

    An ASCII text without one (most messages) is told by one ``bytes.translate``, where the
    regex steps through every character (about 9,000 instructions for a 40-character text).

    >>> digit_search("over 3 months").group(), digit_search("no digit"), digit_search("\u0663").group()
    ('3', None, '\u0663')
    """
    if text.isascii() and not text.encode().translate(None, _NOT_ASCII_DIGIT):
        return None
    return DIGIT_RE.search(text)


def _selectivity(alts: frozenset[str]) -> tuple[int, int]:
    if alts is DIGIT:
        return (3, 0)  # about as rare in a message as a three-letter string
    return (min(map(len, alts)), -len(alts))


def _best(needs: list[frozenset[str]]) -> frozenset[str]:
    """The most selective of several requirements: longest shortest string, then fewest strings."""
    return max(needs, key=_selectivity)


_EXACT_MAX = 64  # strings a run of adjacent pieces may expand to before it is cut
_ZERO_WIDTH = (_C.AT, _C.ASSERT, _C.ASSERT_NOT)


def _exact(items: Any) -> set[str] | None:
    """The strings a parsed sequence matches when it can match only a few fixed ones (each of its
    pieces a literal, a set of literal characters, alternatives or groups of such, a repeat of
    them a fixed few times, or zero-width), else ``None``."""
    run = {""}
    for op, av in items:
        if op in _ZERO_WIDTH:
            continue
        if op is _C.LITERAL:
            piece: set[str] | None = {chr(av)}
        elif op is _C.IN:
            piece = {chr(c) for _, c in av} if av and all(o is _C.LITERAL for o, _ in av) else None
        elif op is _C.SUBPATTERN:
            piece = None if av[1] & re.IGNORECASE else _exact(av[3])
        elif op is _C.BRANCH:
            ways = [_exact(alternative) for alternative in av[1]]
            piece = None if any(w is None for w in ways) else set().union(*ways)  # type: ignore[arg-type]
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT) and av[1] <= 2:  # ("s?", "x{2}")
            once = _exact(av[2])
            piece = None
            if once is not None and len(once) ** av[1] <= _EXACT_MAX:
                piece, times = set(), {""}
                for n in range(av[1] + 1):
                    if n >= av[0]:
                        piece |= times
                    times = {a + b for a in times for b in once}
        else:
            return None
        if piece is None or len(run) * len(piece) > _EXACT_MAX:
            return None
        run = {a + b for a in run for b in piece}
    return run


def _shortest(strings: set[str]) -> frozenset[str]:
    """``strings`` without those that hold another of them (a text holding "stocks" holds "stock")."""
    kept: list[str] = []
    for s in sorted(strings, key=len):
        if not any(k in s for k in kept):
            kept.append(s)
    return frozenset(kept)


def _needs(items: Any) -> list[frozenset[str]]:
    """What a parsed sequence needs: sets of strings, of each of which a match contains one.

    Adjacent pieces that each match a few fixed strings are read together (``how (is|was) my``
    needs one of "how is my" and "how was my", where "how " alone would let in every "how")."""
    needs: list[frozenset[str]] = []
    run = {""}  # the strings the adjacent fixed pieces read so far match

    def cut() -> None:
        nonlocal run
        if "" not in run:  # (a run that may match an empty string requires nothing)
            needs.append(_shortest(run))
        run = {""}

    for op, av in items:
        fixed = _exact([(op, av)])
        if fixed is not None:
            if len(run) * len(fixed) > _EXACT_MAX:
                cut()
            run = {a + b for a in run for b in fixed}
            continue
        cut()
        if op is _C.SUBPATTERN:
            _group, add_flags, _del_flags, sub = av
            if not add_flags & re.IGNORECASE:  # (a case-blind group requires nothing here)
                needs.extend(_needs(sub))
        elif op is _C.BRANCH:
            options: list[frozenset[str]] = []
            for alternative in av[1]:
                found = _needs(alternative)
                if not found:  # one way through without a literal: the branch requires nothing
                    options = []
                    break
                options.append(_best(found))
            if options and DIGIT not in options:  # (a digit or a string: not one set of strings)
                needs.append(frozenset().union(*options))
        elif op in _REPEATS:
            if av[0] >= 1:
                needs.extend(_needs(av[2]))
        elif op is _C.IN and av == [(_C.CATEGORY, _C.CATEGORY_DIGIT)]:
            needs.append(DIGIT)
        # anything else (anchors, classes, any, lookarounds, references) requires nothing
    cut()
    return needs


def _requirement(pattern: str) -> frozenset[str] | None:
    try:
        parsed = _sre_parser.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None
    if parsed.state.flags & re.IGNORECASE:
        return None
    needs = _needs(parsed)
    return _best(needs) if needs else None


class Prefilter:
    """Whether a text can match a pattern, answered without searching it: the text must contain one
    of :func:`required_substrings` (or a decimal digit, for a pattern that cannot match without
    one). ``may_match`` is ``True`` for every text the pattern matches (tested); for a pattern
    that promises nothing, for every text.

    >>> f = Prefilter(r"\\b(\\d{1,2}) ?months?\\b")
    >>> f.may_match("my ytd return"), f.may_match("over 3 months")
    (False, True)
    """

    __slots__ = ("search", "strings")

    def __init__(self, pattern: str) -> None:
        need = _requirement(pattern)
        self.strings: tuple[str, ...] | None = None if need is None or need is DIGIT else tuple(sorted(need))
        #: the check itself, ``None`` when the pattern promises nothing: a search for one of the
        #: strings (as one compiled alternation: a C call, no Python frame) or for a digit
        self.search: Callable[[str], Any] | None = None
        if need is DIGIT:
            self.search = digit_search
        elif self.strings is not None:
            self.search = re.compile("|".join(map(re.escape, self.strings))).search

    def may_match(self, text: str) -> bool:
        return self.search is None or self.search(text) is not None


def required_substrings(pattern: str) -> frozenset[str] | None:
    """Strings of which every match of ``pattern`` contains at least one, or ``None`` when the
    pattern promises none: a text that contains none of them need not be searched.

    Read from the pattern's parse tree (CPython's ``re`` parser): runs of adjacent pieces that each
    match a few fixed strings (literals, sets of characters, alternatives of such, "s?"), read
    together up to 64 strings; alternatives whose every branch needs one; groups and repeats of at
    least one. A case-insensitive pattern, or one ``re`` cannot parse, promises nothing.

    >>> sorted(required_substrings(r"\\bhow much (is|does) \\w+ (stock|cost)\\b"))
    ['how much does ', 'how much is ']
    >>> sorted(required_substrings(r"\\b(best|worst)\\b.*\\b(stocks?|holdings?)\\b"))
    ['holding', 'stock']
    >>> required_substrings(r"\\w+ ?\\d") is None
    True
    """
    need = _requirement(pattern)
    return None if need is None or need is DIGIT else need


class BoundedPattern:
    """A compiled pattern whose searches give up after ``timeout`` seconds.

    >>> slow = BoundedPattern(r"(a|aa)+$", timeout=0.01)
    >>> slow.search("a" * 60 + "b") is None   # gives up within the bound instead of backtracking for minutes
    True
    >>> BoundedPattern(r"\\bprice\\b").search("the price of tsla") is not None
    True
    """

    def __init__(self, pattern: str, *, timeout: float = SEARCH_TIMEOUT) -> None:
        self.pattern = pattern
        self.timeout = timeout
        self._rx = regex.compile(pattern, flags=regex.VERSION0)  # VERSION0: re's syntax and behaviour
        self.timeouts = 0

    def search(self, text: str) -> Any:
        """The first match in ``text``, or ``None`` (also when the search runs out of time)."""
        try:
            return self._rx.search(text, timeout=self.timeout)
        except TimeoutError:
            self._gave_up(text)
            return None

    def findall(self, text: str) -> list[Any]:
        """Every match of ``text``; ``[]`` when the search runs out of time."""
        try:
            found: list[Any] = self._rx.findall(text, timeout=self.timeout)
        except TimeoutError:
            self._gave_up(text)
            return []
        return found

    def _gave_up(self, text: str) -> None:
        self.timeouts += 1
        _log.warning(
            "pattern %r gave up after %gs on a %d-character text (counted as no match; %d time(s) so far)",
            self.pattern,
            self.timeout,
            len(text),
            self.timeouts,
        )
