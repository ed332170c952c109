"""Route a handful of brokerage utterances with the embedded default cascade and show the trace,
then route them many times over as one batch.

Run with ``make demo`` (or ``python examples/demo.py`` in an environment with intentroute).
"""

from __future__ import annotations

import time
from collections import Counter

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
    # a batch: each layer sees the texts no earlier layer decided, through its batch path; the
    # traces are built only if read, so a batch that only wants the decisions never pays for them
    batch = UTTERANCES * 500
    t0 = time.perf_counter()
    routes = cascade.route_batch(batch)
    seconds = time.perf_counter() - t0
    print(f"route_batch: {len(batch):,} utterances in {seconds:.2f} s ({len(batch) / seconds:,.0f}/s;")
    print("  these 12 texts repeated: docs/benchmarks.md times thousands of distinct ones)")
    print("decided by:", dict(Counter(r.layer for r in routes)))


if __name__ == "__main__":
    main()
