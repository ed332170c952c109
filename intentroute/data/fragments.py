"""Background fragments: the opening words a domain's requests share, as examples of "no intent".

A bare "what", "my" or "how much" names no intent, yet a classifier trained only on whole requests
answers it with confidence: "what" starts far more ``positions_list`` phrasings than any other,
and a row holding one word is all that word (docs/data.md, "Fragments"). The generator's
``fragments`` option adds such openings to the background class, so the model learns that they
alone are not a request. They are found in the templates themselves, not in a word list:

- a word is *common* when the literal text (slots left out) of the templates of at least ``share``
  of the domain's intents uses it;
- each template form's text before its first slot is read word by word while the words are
  common; its first 1 to ``max_words`` words are fragments, but never the whole form;
- a fragment that is itself a whole request of the domain (a form without slots, or a text the
  generator made) is left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from ..text import tokenize
from ..validation import is_number
from .templates import PLACEHOLDER_RE, TemplateSet

__all__ = ["background_fragments", "common_words", "fragment_forms"]


def _domain_forms(templates: TemplateSet, background: str) -> Iterator[tuple[str, str]]:
    """``(intent, form)`` for every surface form of every template outside ``background``."""
    for intent, items in templates.intents.items():
        if intent != background:
            for template in items:
                for form in template.forms:
                    yield intent, form


def common_words(templates: TemplateSet, *, background: str = "none", share: float = 0.5) -> set[str]:
    """Words (lower-cased tokens) of the literal template text of at least ``share`` of the
    intents other than ``background``; slot values, prefixes and suffixes are not counted."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share!r}")
    intents_of: dict[str, set[str]] = defaultdict(set)
    for intent, form in _domain_forms(templates, background):
        for word in tokenize(PLACEHOLDER_RE.sub(" ", form)):
            intents_of[word].add(intent)
    need = share * sum(i != background for i in templates.intents)
    return {w for w, owners in intents_of.items() if len(owners) >= need}


def background_fragments(
    templates: TemplateSet,
    *,
    background: str = "none",
    share: float = 0.5,
    max_words: int = 2,
    requests: Iterable[str] = (),
) -> list[str]:
    """The fragments of ``templates`` (see the module's documentation), sorted.

    ``requests`` are texts of the domain's intents (e.g. what the generator made): a fragment
    whose tokens are those of one of them is a request, not a fragment, and is left out.
    """
    if not is_number(max_words, 1, integer=True):
        raise ValueError(f"max_words must be a positive integer, got {max_words!r}")
    common = common_words(templates, background=background, share=share)
    whole = {" ".join(tokenize(t)) for t in requests}
    found: set[str] = set()
    for _, form in _domain_forms(templates, background):
        if not PLACEHOLDER_RE.search(form):
            whole.add(" ".join(tokenize(form)))
        words = tokenize(PLACEHOLDER_RE.split(form, maxsplit=1)[0])
        n_tokens = len(tokenize(PLACEHOLDER_RE.sub(" x ", form)))  # a slot counts as one word
        run = 0
        while run < len(words) and words[run] in common:
            run += 1
        for k in range(1, min(run, max_words, n_tokens - 1) + 1):
            found.add(" ".join(words[:k]))
    return sorted(found - whole)


def fragment_forms(fragment: str) -> list[str]:
    """The three surface forms a fragment is trained in: as found, capitalised, and as a question.

    >>> fragment_forms("how much")
    ['how much', 'How much', 'how much?']
    """
    return [fragment, fragment[:1].upper() + fragment[1:], fragment + "?"]
