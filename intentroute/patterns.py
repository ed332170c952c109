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

__all__ = ["DIGIT", "DIGIT_SEARCH", "SEARCH_TIMEOUT", "BoundedPattern", "Prefilter", "required_substrings"]

#: seconds one search of a pattern from a file may take (a normal utterance's takes microseconds)
SEARCH_TIMEOUT = 0.05

_log = logging.getLogger(__name__)


_C = _sre_constants
_REPEATS = (_C.MAX_REPEAT, _C.MIN_REPEAT, getattr(_C, "POSSESSIVE_REPEAT", _C.MAX_REPEAT))


#: the requirement "a decimal digit" (``\\d``: any character of Unicode category Nd, which no
#: short list of strings covers); :class:`Prefilter` checks it with one search
DIGIT: frozenset[str] = frozenset({"\\d"})
_ANY_DIGIT = re.compile(r"\d")
#: :attr:`Prefilter.search` of a pattern that needs a digit (equal to each such prefilter's)
DIGIT_SEARCH = _ANY_DIGIT.search


def _selectivity(alts: frozenset[str]) -> tuple[int, int]:
    if alts is DIGIT:
        return (3, 0)  # about as rare in a message as a three-letter string
    return (min(map(len, alts)), -len(alts))


def _best(needs: list[frozenset[str]]) -> frozenset[str]:
    """The most selective of several requirements: longest shortest string, then fewest strings."""
    return max(needs, key=_selectivity)


def _needs(items: Any) -> list[frozenset[str]]:
    """What a parsed sequence needs: sets of strings, of each of which a match contains one."""
    needs: list[frozenset[str]] = []
    run: list[str] = []
    for op, av in items:
        if op is _C.LITERAL:
            run.append(chr(av))
            continue
        if run:
            needs.append(frozenset(["".join(run)]))
            run = []
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
        elif op is _C.IN and av and all(o is _C.LITERAL for o, _ in av):
            needs.append(frozenset(chr(c) for _, c in av))
        elif op is _C.IN and av == [(_C.CATEGORY, _C.CATEGORY_DIGIT)]:
            needs.append(DIGIT)
        # anything else (anchors, classes, any, lookarounds, references) requires nothing
    if run:
        needs.append(frozenset(["".join(run)]))
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
            self.search = DIGIT_SEARCH
        elif self.strings is not None:
            self.search = re.compile("|".join(map(re.escape, self.strings))).search

    def may_match(self, text: str) -> bool:
        return self.search is None or self.search(text) is not None


def required_substrings(pattern: str) -> frozenset[str] | None:
    """Strings of which every match of ``pattern`` contains at least one, or ``None`` when the
    pattern promises none: a text that contains none of them need not be searched.

    Read from the pattern's parse tree (CPython's ``re`` parser): literal runs, alternatives whose
    every branch has one, groups and repeats of at least one. A case-insensitive pattern, or one
    ``re`` cannot parse, promises nothing.

    >>> sorted(required_substrings(r"\\bhow much (is|does) \\w+ (stock|cost)\\b"))
    ['how much ']
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
