"""The protocols of a cascade's two extension points: its layers (:class:`RouterLayer`) and its
parameter extractor (:class:`Extractor`)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from .types import LayerResult

__all__ = ["BatchRouterLayer", "Extractor", "RouterLayer", "StatusLayer"]


@runtime_checkable
class RouterLayer(Protocol):
    """A layer of the cascade.

    ``route`` returns ranked candidates with scores in [0, 1]; an empty :class:`LayerResult`
    means "abstain". A layer should not raise on user input; if it does, the cascade records the
    error in the trace and asks the next layer. A layer that cannot run here (a missing extra,
    missing artifacts) raises :class:`~intentroute.errors.LayerUnavailable` from ``route``.

    Optional extras, found by duck typing: ``route_batch(texts) -> list[LayerResult]`` (must
    answer exactly as ``route`` does, text by text), ``status() -> dict``, and
    ``route_within(text, allowed)`` / ``route_batch_within(texts, allowed)``: the answer among
    the ``allowed`` intents only (``Cascade.route(text, allowed=...)``; without them the cascade
    filters the layer's candidates), and the coroutines ``aroute(text)`` / ``aroute_within(text,
    allowed)`` that ``Cascade.aroute`` awaits (a layer without them runs inline there), and
    ``phrases``: multi-word phrases the layer reads as one unit, inside which
    ``Cascade.route_all`` never cuts an utterance ("bid and ask").
    """

    name: str

    def route(self, text: str) -> LayerResult: ...


@runtime_checkable
class BatchRouterLayer(RouterLayer, Protocol):
    """A layer that answers many utterances at once."""

    def route_batch(self, texts: list[str]) -> list[LayerResult]: ...


@runtime_checkable
class StatusLayer(RouterLayer, Protocol):
    """A layer that reports diagnostics (``intentroute status`` prints them)."""

    def status(self) -> dict[str, Any]: ...


@runtime_checkable
class Extractor(Protocol):
    """Finds parameters in an utterance once the intent is known.

    Returns ``(extracted, missing)``: the parameters found for ``intent`` and the names of the
    required ones that are absent. Optional, found by duck typing: ``remembering()``, a context
    manager the cascade routes a batch in (an extractor that caches what it finds can keep it
    for the whole batch), and ``extract_many(intents, texts)``, the answers of ``extract`` for
    many texts at once, which ``Cascade.route_batch`` calls when it is there.
    """

    def extract(self, intent: str, text: str) -> tuple[dict[str, Any], list[str]]: ...
