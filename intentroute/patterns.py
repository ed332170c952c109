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
from typing import Any

import regex

__all__ = ["SEARCH_TIMEOUT", "BoundedPattern"]

#: seconds one search of a pattern from a file may take (a normal utterance's takes microseconds)
SEARCH_TIMEOUT = 0.05

_log = logging.getLogger(__name__)


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
