"""Route a handful of brokerage utterances with the embedded default cascade and show the trace.

Run with ``make demo`` (or ``python examples/demo.py`` in an environment with intentroute).
"""

from __future__ import annotations

import intentroute

UTTERANCES = [
    "what's tsla trading at",
    "How many shares of Apple do I own in my Roth?",
    "show me all my holdings",
    "how is my portfolio doing ytd",
    "which of my stocks are the biggest losers this month",
    "how much cash do I have available to trade",
    "when will my deposit arrive",
    "what's an ETF?",
    "quote please",
    "should I sell my Tesla shares",  # advice: not served, so clarify (with the symbol found)
    "hello there",
    "what's my",  # an opening that names no intent yet: clarify, not a guess
]


def main() -> None:
    cascade = intentroute.default_cascade()
    print(f"intentroute {intentroute.__version__}: layers {cascade.layer_names}, fallback {cascade.fallback!r}\n")
    for text in UTTERANCES:
        print(f"> {text}")
        print(cascade.route(text).explain())
        print()


if __name__ == "__main__":
    main()
