"""Augmentation: the legacy pipeline's variants and affixes, and a seeded character-noise channel.

Every function that draws takes a :class:`random.Random`, so a seed reproduces the output in any
process; nothing iterates over a ``set`` of strings (its order changes between processes).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence

from .templates import PLACEHOLDER_RE

__all__ = ["KEYBOARD_NEIGHBOURS", "add_affixes", "char_noise", "variants"]

_PUNCT = re.compile(r"[\?\.!,]")
_TICKER = re.compile(r"\b([A-Z]{1,5})\b")

_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]


def _neighbours() -> dict[str, str]:
    out: dict[str, str] = {}
    for r, row in enumerate(_ROWS):
        for c, ch in enumerate(row):
            near = []
            for dr in (-1, 0, 1):
                rr = r + dr
                if 0 <= rr < len(_ROWS):
                    for dc in (-1, 0, 1):
                        cc = c + dc
                        if (dr, dc) != (0, 0) and 0 <= cc < len(_ROWS[rr]):
                            near.append(_ROWS[rr][cc])
            out[ch] = "".join(near)
    return out


#: Letters next to each letter on a QWERTY keyboard.
KEYBOARD_NEIGHBOURS: dict[str, str] = _neighbours()


def variants(text: str, typos: Mapping[str, Sequence[str]], symbols: Sequence[str] = ()) -> list[str]:
    """The legacy pipeline's variants of ``text``, in a fixed order, without duplicates.

    The text itself, lower-cased, without ``?.!,``, each configured typo substituted, and for a
    performance question about a symbol, ``"<SYM> perf"`` and ``"<SYM> performance"``. Unlike the
    seed, the symbol must be one of ``symbols`` when they are given (so "ETF" or "YTD" do not
    count as tickers).

    >>> variants("How is AAPL performance?", {"performance": ["perfomance"]}, ["AAPL"])
    ['How is AAPL performance?', 'how is aapl performance?', 'How is AAPL performance', \
'How is AAPL perfomance?', 'AAPL perf', 'AAPL performance']
    """
    out = [text, text.lower(), _PUNCT.sub("", text)]
    lowered = text.lower()
    for word, misspellings in typos.items():
        if word.lower() in lowered:
            out.extend(re.sub(re.escape(word), typo, text, flags=re.IGNORECASE) for typo in misspellings)
    m = _TICKER.search(text)
    if m and "performance" in lowered and (not symbols or m.group(1) in symbols):
        out.extend([f"{m.group(1)} perf", f"{m.group(1)} performance"])
    return list(dict.fromkeys(o for o in out if o.strip()))


def add_affixes(
    text: str,
    prefixes: Sequence[str],
    suffixes: Sequence[str],
    slots: Mapping[str, Sequence[str]],
    rng: random.Random,
) -> str:
    """Put a random prefix before and a random suffix after ``text`` (placeholders filled).

    >>> add_affixes("AAPL price", ["hey"], ["in my {ACCOUNT}"], {"ACCOUNT": ["IRA"]}, random.Random(0))
    'hey AAPL price in my IRA'
    """
    prefix = rng.choice(prefixes) if prefixes else ""
    suffix = rng.choice(suffixes) if suffixes else ""

    def fill(affix: str) -> str:
        return PLACEHOLDER_RE.sub(lambda m: rng.choice(list(slots[m.group(1)])), affix)

    parts = [fill(prefix).strip(), text.strip(), fill(suffix).strip()]
    return " ".join(p for p in parts if p)


def char_noise(text: str, rng: random.Random, edits: int = 1) -> str:
    """Apply ``edits`` typing errors to letters of words of 3+ letters.

    Each error is one of: a keyboard-neighbour substitution, a deletion, a transposition of two
    adjacent letters, a doubled letter. Text without such a word comes back unchanged.

    >>> char_noise("show my positions", random.Random(3))
    'sohw my positions'
    """
    chars = list(text)
    for _ in range(edits):
        spans = [m.span() for m in re.finditer(r"[A-Za-z]{3,}", "".join(chars))]
        if not spans:
            break
        start, end = rng.choice(spans)
        i = rng.randrange(start, end)
        op = rng.randrange(4)
        ch = chars[i]
        if op == 0:
            near = KEYBOARD_NEIGHBOURS.get(ch.lower(), "")
            if near:
                new = rng.choice(near)
                chars[i] = new.upper() if ch.isupper() else new
        elif op == 1:
            del chars[i]
        elif op == 2 and i + 1 < end:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            chars.insert(i, ch)
    return "".join(chars)
