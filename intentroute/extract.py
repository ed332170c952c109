"""Parameter extraction: the parameters an intent takes, found in an utterance, and the
required ones that are missing.

The cascade applies a :class:`ParamExtractor` to whichever layer's answer it accepts. Each intent
lists the parameters it takes and those it requires; a required parameter that is not found is
reported in ``Route.missing_params`` (``quotes`` without a symbol). How each parameter is found
is its slot's business (:mod:`intentroute.slots`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .slots import Slot, remembering, slot_set

__all__ = ["ParamExtractor"]


class ParamExtractor:
    """Finds a domain's parameters in an utterance and reports the missing required ones.

    Examples
    --------
    >>> from intentroute.domains import load_domain
    >>> ex = load_domain("brokerage").extractor()
    >>> ex.extract("quotes", "what's tsla trading at")
    ({'symbol': 'TSLA'}, [])
    >>> ex.extract("quotes", "what's the price")
    ({}, ['symbol'])
    >>> ex.extract("performance", "how did my Roth do year to date")
    ({'account': 'Roth IRA', 'timeframe': 'YTD'}, [])
    """

    def __init__(
        self,
        slots: Mapping[str, Slot],
        params: Mapping[str, tuple[str, ...]],
        required: Mapping[str, tuple[str, ...]],
    ) -> None:
        self.slots = dict(slots)
        self.params = dict(params)
        self.required = dict(required)
        self._found = slot_set(self.slots)  # (shared with a vectorizer marking the same slots)

    @contextlib.contextmanager
    def remembering(self) -> Iterator[None]:
        """A block in which every slot remembers all it finds (:func:`intentroute.slots.remembering`):
        the cascade routes a batch in one, so extraction does not search again what the
        classifier's slot markers already found."""
        with remembering():
            yield

    def find_all(self, text: str) -> dict[str, list[str]]:
        """Every value of every slot found in ``text``, in order of appearance."""
        return {name: list(values) for name, values in self._found.find_all(text).items()}

    def extract_many(self, intents: Sequence[str], texts: Sequence[str]) -> list[tuple[dict[str, Any], list[str]]]:
        """``[self.extract(i, t) for i, t in zip(intents, texts)]``, with the slots of all texts
        found first in one pass (:meth:`intentroute.slots.SlotSet.find_all_many`)."""
        params, required, every = self.params, self.required, tuple(self.slots)
        out = []
        for intent, found in zip(intents, self._found.find_all_many(texts), strict=True):
            out.append(_parameters(found, params.get(intent, every), required.get(intent, ())))
        return out

    def extract(self, intent: str, text: str) -> tuple[dict[str, Any], list[str]]:
        """Parameters of ``intent`` found in ``text`` and the required ones missing.

        For an intent the domain does not define (``clarify``), every slot found is returned.
        When several values of one parameter appear, the first is ``param`` and all are listed
        under ``param + "s"``.
        """
        found = self._found.find_all(text)
        return _parameters(found, self.params.get(intent, tuple(self.slots)), self.required.get(intent, ()))


def _parameters(
    found: Mapping[str, tuple[str, ...]], wanted: tuple[str, ...], required: tuple[str, ...]
) -> tuple[dict[str, Any], list[str]]:
    extracted: dict[str, Any] = {}
    if found:
        for p in wanted:
            values = found.get(p)
            if values:
                extracted[p] = values[0]
                if len(values) > 1:
                    extracted[p + "s"] = list(values)
    return extracted, [p for p in required if p not in extracted]
