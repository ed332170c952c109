"""An example intentroute layer plugin: greetings, thanks and goodbyes."""

from __future__ import annotations

from typing import Any

import intentroute
from intentroute.text import normalize
from intentroute.types import Candidate, LayerResult

_PHRASES = {
    "greeting": {
        "hi",
        "hello",
        "hey",
        "hey there",
        "hello there",
        "hi there",
        "good morning",
        "good evening",
    },
    "thanks": {"thanks", "thank you", "thx", "thanks a lot", "thank you so much", "cheers"},
    "goodbye": {"bye", "goodbye", "see you", "see ya", "bye bye", "good night"},
}


class SmallTalkLayer:
    """Scores 1.0 when the whole utterance is a known small-talk phrase, else abstains."""

    def __init__(self, name: str = "smalltalk", extra: dict[str, list[str]] | None = None) -> None:
        self.name = name
        self.phrases = {intent: set(words) for intent, words in _PHRASES.items()}
        for intent, words in (extra or {}).items():
            self.phrases.setdefault(intent, set()).update(normalize(w) for w in words)

    def route(self, text: str) -> LayerResult:
        norm = normalize(text)
        for intent, phrases in self.phrases.items():
            if norm in phrases:
                # evidence may be a function, called only when someone reads the trace
                said = f"{intent}: exact phrase {norm!r}"
                return LayerResult([Candidate(intent, 1.0)], evidence=lambda said=said: [said])
        return LayerResult()

    def route_batch(self, texts: list[str]) -> list[LayerResult]:
        """Optional: the cascade routes a batch through it (the same answers as ``route``)."""
        return [self.route(t) for t in texts]


@intentroute.hookimpl
def register_layers(register: Any) -> None:
    register("smalltalk", SmallTalkLayer)
