"""The :class:`Cascade`: ask layers in order; the first one confident enough decides.

Each layer has a :class:`~intentroute.types.Policy` (threshold, margin, force). When no layer is
accepted the fallback decides: ``"clarify"`` routes to :data:`~intentroute.types.CLARIFY` with the
best candidates seen; ``"best"`` returns the first layer's answer, as the legacy pipeline's ``route_intent``
did. Every layer consulted leaves a :class:`~intentroute.types.TraceStep`. Routing never raises
on a string: a layer that raises or is unavailable is recorded and skipped. About 660 lines: the
routing loop in its forms (one utterance on the shortest path; a batch, each layer's batch path
and the extractor's; both again for an event loop), the per-call restriction, the fallback, and
the trace built when read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from .errors import ConfigError, LayerUnavailable
from .pacing import fair_share
from .protocol import Extractor, RouterLayer
from .types import CLARIFY, Candidate, LayerResult, Policy, Route, TraceStep, ranked
from .validation import is_number

__all__ = ["FALLBACKS", "GC_PAUSE_MIN", "Cascade", "Extractor", "Policy"]  # Extractor and Policy: re-exported

_log = logging.getLogger(__name__)

Fallback = Literal["clarify", "best"]
FALLBACKS: tuple[str, ...] = ("clarify", "best")


#: where route_all cuts an utterance: the connectors people join two requests with
_CONNECTORS = re.compile(
    r"(\s*(?:[,;]\s*(?:and\s+then|and|also|plus|then)?|\b(?:and\s+then|and\s+also|and|also|plus|then)\b)\s*)",
    re.IGNORECASE,
)


#: words that do not make a request by themselves ("SPY right now", "COIN for my account")
_FILLER = frozenset(
    {"a", "an", "the", "my", "our", "me", "of", "for", "in", "on", "at", "to", "with", "and", "please"}
    | {"right", "now", "today", "currently", "account", "accounts"}
)


def _joined_phrases(layers: Sequence[Any]) -> list[tuple[str, ...]]:
    """The phrases the layers read as one unit (a layer's optional ``phrases``) that hold a
    connector word ("bid and ask"): route_all does not cut inside one."""
    out = set()
    for layer in layers:
        for phrase in getattr(layer, "phrases", None) or ():
            words = tuple(_WORD.findall(str(phrase).casefold()))
            if len(words) > 1 and _CONNECTORS.search(" ".join(words[1:-1])):
                out.add(words)
    return sorted(out)


def _inside_phrase(left: str, joint: str, right: str, phrases: Sequence[tuple[str, ...]]) -> bool:
    """Whether one of ``phrases`` runs across the joint between ``left`` and ``right``."""
    lw, jw, rw = (_WORD.findall(t.casefold()) for t in (left, joint, right))
    for p in phrases:
        k = len(p)
        before = lw[-k:]
        window = [*before, *jw, *rw[:k]]
        for i in range(len(window) - k + 1):
            if tuple(window[i : i + k]) == p and i < len(before) + len(jw) and i + k > len(before):
                return True
    return False


def _names_only(part: str, route: Route) -> bool:
    """Whether a part only names things (tickers, an account ...) and asks nothing by itself: the
    second half of "price of META and NVDA" is no request of its own."""
    words = set(_WORD.findall(part.casefold()))
    for value in route.extracted.values():
        for v in value if isinstance(value, list) else [value]:
            words -= set(_WORD.findall(str(v).casefold()))
    return not (words - _FILLER)


_WORD = re.compile(r"[^\W_]+")


def _shared(parts: list[str], routes: list[Route]) -> list[Route]:
    """The parts' routes, each with its text in ``meta["part"]`` and the parameters it misses
    taken from another part that names them."""
    named: dict[str, Any] = {}
    for r in routes:
        for k, v in r.extracted.items():
            named.setdefault(k, v)
    out = []
    for part, r in zip(parts, routes, strict=True):
        extracted = dict(r.extracted)
        borrowed = [m for m in r.missing_params if m in named]
        for m in borrowed:
            extracted[m] = named[m]
        meta = {**r.meta, "part": part.strip(), "parts": len(parts)}
        if borrowed:
            meta["borrowed"] = borrowed
        missing = tuple(m for m in r.missing_params if m not in extracted)
        out.append(Route(r.intent, r.confidence, r.layer, r.candidates, extracted, missing, meta, _trace_of(r)))
    return out


def _trace_of(route: Route) -> Callable[[], tuple[TraceStep, ...]]:
    """A route's trace, read when the new route's is (not built before)."""
    return lambda: route.trace


ASYNC_CHUNK = 32
"""Texts :meth:`Cascade.aroute_batch` routes inline per turn on the event loop (about 2 ms of work here)."""

#: batches at least this long run with the cyclic garbage collector paused (see route_batch)
GC_PAUSE_MIN = 256
_paused_lock = threading.Lock()
_paused = 0  # batches running with the collector paused
_resume = False  # whether the first of them found it enabled


@contextlib.contextmanager
def _collector_paused(n: int) -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a long batch runs, as ``timeit`` does.

    A batch keeps every answer alive until it returns, and the collector, counting them, runs
    full collections over the whole heap several times per 10,000 utterances (a third of the
    batch's time, measured in benchmarks/cascade.py). Garbage in reference cycles made meanwhile
    (the built-in layers make none) is collected once the collector resumes: when the last
    concurrent batch ends, and only if it was enabled when the first began.
    """
    global _paused, _resume
    if n < GC_PAUSE_MIN:
        yield
        return
    with _paused_lock:
        if _paused == 0:
            _resume = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _paused_lock:
            _paused -= 1
            if _paused == 0 and _resume:
                gc.enable()


class _Outcome:
    """One layer's answer to one text, before the cascade builds the route."""

    __slots__ = ("error", "micros", "result")

    def __init__(self, result: LayerResult | None, micros: float, error: str | None) -> None:
        self.result = result
        self.micros = micros
        self.error = error


#: one layer consulted for one text: its name, its policy and what it said
_Step = tuple[str, Policy, _Outcome]


class _LazyTrace:
    """A route's trace, built when someone reads it: one object per route where a closure was
    three (a function and its cells), so a long batch leaves the garbage collector less to walk."""

    __slots__ = ("cascade", "steps", "within")

    def __init__(self, cascade: Cascade, steps: tuple[_Step, ...], within: frozenset[str] | None) -> None:
        self.cascade, self.steps, self.within = cascade, steps, within

    def __call__(self) -> tuple[TraceStep, ...]:
        step = self.cascade._trace_step
        trace = tuple(step(name, policy, out) for name, policy, out in self.steps)
        if self.within is None:
            return trace
        limit = tuple(sorted(self.within))
        return tuple(dataclasses.replace(s, restricted_to=limit) for s in trace)


#: what the extractor said for one text: (found, missing), what it raised, or None (no extractor)
_Extraction = tuple[Mapping[str, Any], Sequence[str]] | BaseException | None


def _call_route(layer: RouterLayer, text: str, within: frozenset[str] | None = None) -> _Outcome:
    t0 = time.perf_counter_ns()
    try:
        if within is None:
            result: object = layer.route(text)  # object: plugins are not type-checked
        else:
            route_within = getattr(layer, "route_within", None)
            result = route_within(text, within) if route_within is not None else layer.route(text)
            if isinstance(result, LayerResult):
                result = _restricted(result, within)
    except LayerUnavailable as exc:
        return _Outcome(None, (time.perf_counter_ns() - t0) / 1000, f"unavailable: {exc}")
    except Exception as exc:
        return _Outcome(None, (time.perf_counter_ns() - t0) / 1000, f"{type(exc).__name__}: {exc}")
    micros = (time.perf_counter_ns() - t0) / 1000
    if not isinstance(result, LayerResult):
        return _Outcome(None, micros, f"returned {type(result).__name__}, not a LayerResult")
    return _Outcome(result, micros, None)


async def _acall_route(layer: RouterLayer, text: str, within: frozenset[str] | None = None) -> _Outcome:
    """:func:`_call_route` for an event loop, for a layer :func:`_is_async` finds async: its
    ``aroute_within`` (a restricted call, when it has one) or its ``aroute`` is awaited."""
    within_fn: Any = getattr(layer, "aroute_within", None) if within is not None else None
    awaited: Any = layer
    t0 = time.perf_counter_ns()
    try:
        result: object = await (within_fn(text, within) if within_fn is not None else awaited.aroute(text))
    except LayerUnavailable as exc:
        return _Outcome(None, (time.perf_counter_ns() - t0) / 1000, f"unavailable: {exc}")
    except Exception as exc:
        return _Outcome(None, (time.perf_counter_ns() - t0) / 1000, f"{type(exc).__name__}: {exc}")
    micros = (time.perf_counter_ns() - t0) / 1000
    if not isinstance(result, LayerResult):
        return _Outcome(None, micros, f"returned {type(result).__name__}, not a LayerResult")
    return _Outcome(_restricted(result, within) if within is not None else result, micros, None)


def _is_async(layer: RouterLayer, restricted: bool) -> bool:
    """Whether the async paths await the layer (:func:`_acall_route`) rather than run it inline:
    it has ``aroute``, or for a restricted call ``aroute_within``."""
    return getattr(layer, "aroute", None) is not None or (
        restricted and getattr(layer, "aroute_within", None) is not None
    )


def _restricted(result: LayerResult, within: frozenset[str]) -> LayerResult:
    """``result`` with only the candidates among the intents ``within`` (whatever the layer did)."""
    if all(c.intent in within for c in result.candidates):
        return result
    kept = [c for c in result.candidates if c.intent in within]
    meta = dict(result.meta)
    if not kept:
        meta["reason"] = "none of its answers is among the allowed intents"
    return LayerResult(kept, result.extracted, lambda: result.evidence, meta)


def _call_batch(layer: RouterLayer, texts: list[str], within: frozenset[str] | None = None) -> list[_Outcome]:
    if within is None:
        batch = getattr(layer, "route_batch", None)
    else:
        batch_within = getattr(layer, "route_batch_within", None)
        batch = None if batch_within is None else (lambda ts: batch_within(ts, within))
    if batch is None or len(texts) < 2:  # one text: the layer's single-utterance path is faster
        return [_call_route(layer, t, within) for t in texts]
    t0 = time.perf_counter_ns()
    try:
        results = batch(texts)
        if within is not None and isinstance(results, Sequence):
            results = [_restricted(r, within) if isinstance(r, LayerResult) else r for r in results]
        ok = (
            isinstance(results, Sequence)
            and len(results) == len(texts)
            and all(isinstance(r, LayerResult) for r in results)
        )
    except Exception:  # a failing batch falls back to one text at a time, so errors stay per text
        ok = False
    if not ok:
        return [_call_route(layer, t, within) for t in texts]
    micros = (time.perf_counter_ns() - t0) / 1000 / len(texts)
    return [_Outcome(r, micros, None) for r in results]


class Cascade:
    """Route utterances through ``layers`` in order.

    Parameters
    ----------
    layers:
        Objects satisfying :class:`~intentroute.protocol.RouterLayer`, with distinct names.
    policies:
        A :class:`Policy` per layer: a mapping by layer name or a sequence aligned with ``layers``.
        A layer without one gets ``Policy()`` (any answer accepted).
    fallback:
        ``"clarify"`` (default) or ``"best"`` (the legacy pipeline's: the first layer's answer).
    extractor:
        Optional :class:`Extractor` applied to whichever answer is accepted.
    labels:
        Optional set of intents the application knows; a layer whose top candidate is outside it
        is not accepted (the trace says so), as the legacy pipeline ignores unknown torch labels.
    max_chars:
        Longer texts are cut to this many characters before any layer sees them
        (``meta["truncated"]`` says so); ``None`` for no limit.
    trace_top:
        How many candidates each trace step keeps.

    Examples
    --------
    >>> from intentroute.types import LayerResult, Candidate
    >>> class Echo:
    ...     name = "echo"
    ...     def route(self, text):
    ...         return LayerResult([Candidate(text, 0.9)]) if text else LayerResult()
    >>> cascade = Cascade([Echo()], policies={"echo": Policy(threshold=0.5)})
    >>> cascade.route("quotes").intent
    'quotes'
    >>> cascade.route("").intent
    'clarify'
    """

    def __init__(
        self,
        layers: Sequence[RouterLayer],
        policies: Mapping[str, Policy] | Sequence[Policy | None] | None = None,
        *,
        fallback: Fallback = "clarify",
        extractor: Extractor | None = None,
        labels: Sequence[str] | None = None,
        max_chars: int | None = 4000,
        trace_top: int = 3,
    ) -> None:
        self.layers: tuple[RouterLayer, ...] = tuple(layers)
        names = []
        for i, layer in enumerate(self.layers):
            name = getattr(layer, "name", None)
            if not isinstance(name, str) or not name or not callable(getattr(layer, "route", None)):
                raise ConfigError(
                    f"layer #{i} ({type(layer).__name__}) is not a RouterLayer: it needs a "
                    "non-empty str `name` and a `route(text)` method"
                )
            if name in names:
                raise ConfigError(f"two layers are named {name!r}; layer names must be unique")
            names.append(name)
        self.policies: tuple[Policy, ...] = self._resolve_policies(names, policies)
        if fallback not in FALLBACKS:
            raise ConfigError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
        self.fallback: Fallback = fallback
        if extractor is not None and not isinstance(extractor, Extractor):
            raise ConfigError(f"extractor {extractor!r} has no extract(intent, text) method")
        self.extractor = extractor
        self.labels: frozenset[str] | None = frozenset(labels) if labels is not None else None
        self._joined: list[tuple[str, ...]] | None = None  # (route_all: found on first use)
        # which layers aroute awaits, unrestricted and restricted (the others run inline)
        self._awaited = (
            tuple(_is_async(layer, False) for layer in self.layers),
            tuple(_is_async(layer, True) for layer in self.layers),
        )
        if max_chars is not None and not is_number(max_chars, 1, integer=True):
            raise ConfigError(f"max_chars must be a positive integer or None, got {max_chars!r}")
        self.max_chars = max_chars
        if not is_number(trace_top, 1, integer=True):
            raise ConfigError(f"trace_top must be a positive integer, got {trace_top!r}")
        self.trace_top = trace_top

    @staticmethod
    def _resolve_policies(
        names: list[str], policies: Mapping[str, Policy] | Sequence[Policy | None] | None
    ) -> tuple[Policy, ...]:
        if policies is None:
            return tuple(Policy() for _ in names)
        if isinstance(policies, Mapping):
            unknown = sorted(set(policies) - set(names))
            if unknown:
                raise ConfigError(f"policies name unknown layers {unknown}; layers are {names}")
            resolved = [policies.get(n) or Policy() for n in names]
        else:
            if len(policies) != len(names):
                raise ConfigError(f"{len(policies)} policies given for {len(names)} layers")
            resolved = [p or Policy() for p in policies]
        for n, p in zip(names, resolved, strict=True):
            if not isinstance(p, Policy):
                raise ConfigError(f"policy of layer {n!r} must be a Policy, got {p!r}")
        return tuple(resolved)

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    #: how to build this cascade again in another process (set by ``build_cascade``); ``None``
    #: for one built in code, which pickles only when its layers and extractor do
    rebuild_from: tuple[Any, tuple[Any, ...]] | None = None

    def __reduce_ex__(self, protocol: Any) -> Any:
        if self.rebuild_from is not None:
            return self.rebuild_from
        return super().__reduce_ex__(protocol)

    def policy_for(self, name: str) -> Policy:
        """The policy of the layer called ``name``."""
        return self.policies[self.layer_names.index(name)]

    def status(self) -> dict[str, Any]:
        """The fallback, and each layer's name, policy and diagnostics (its ``status()`` when it
        has one). A layer whose ``status()`` raises is reported (``status_error``) and logged,
        never raised: a diagnostics call must not fail."""
        layers = []
        for layer, policy in zip(self.layers, self.policies, strict=True):
            entry: dict[str, Any] = {"name": layer.name, "policy": policy.to_dict(), "status": {}}
            status = getattr(layer, "status", None)
            if callable(status):
                try:
                    entry["status"] = dict(status())
                except Exception as exc:
                    entry["status"] = {"status_error": f"{type(exc).__name__}: {exc}"}
                    _log.warning("layer %r: status() raised %s: %s", layer.name, type(exc).__name__, exc)
            layers.append(entry)
        return {"fallback": self.fallback, "layers": layers}

    # -- routing ---------------------------------------------------------------------------------

    def route(self, text: str, *, allowed: Iterable[str] | None = None, exclude: Iterable[str] | None = None) -> Route:
        """Route one utterance. Never raises for a ``str``; ``TypeError`` for anything else.

        ``allowed`` / ``exclude``: the intents that make sense here (a dialogue state expecting
        some answers only). Every layer then answers among them only (its ``route_within`` when
        it has one: the classifier renormalises its probabilities over them, the LLM is offered
        only them; any other layer's answers are filtered), the fallback is still ``clarify``,
        and the route's ``meta["allowed"]`` and trace say so. An intent name the cascade does not
        know is a :class:`ConfigError`.
        """
        # (the slots' own memory of the last few utterances covers one: no remembering() block)
        text, truncated, within = self._start(text, allowed, exclude)
        steps: list[_Step] = []
        for layer, policy in zip(self.layers, self.policies, strict=True):
            out = _call_route(layer, text, within)
            steps.append((layer.name, policy, out))
            if self._accepts(policy, out.result):
                assert out.result is not None
                return self._finish(text, layer.name, out.result, steps, truncated, within=within)
        return self._fall_back_one(text, steps, truncated, within)

    def _start(
        self, text: str, allowed: Iterable[str] | None, exclude: Iterable[str] | None
    ) -> tuple[str, bool, frozenset[str] | None]:
        """One utterance's text as the layers see it, whether it was cut, and the restriction."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        within = None if allowed is None and exclude is None else self._within(allowed, exclude)
        truncated = self.max_chars is not None and len(text) > self.max_chars
        return (text[: self.max_chars] if truncated else text), truncated, within

    def _accepts(self, policy: Policy, res: LayerResult | None) -> bool:
        """Whether a layer's answer decides: a top candidate the cascade knows, accepted by the policy."""
        return (
            res is not None
            and bool(res.candidates)
            and (self.labels is None or res.candidates[0].intent in self.labels)
            and policy.accepts(res.candidates)
        )

    def _fall_back_one(self, text: str, steps: list[_Step], truncated: bool, within: frozenset[str] | None) -> Route:
        best = self._best_answer(steps)
        extraction = self._extract_one(self._fallen_intent(best), text)
        return self._fall_back(text, steps, truncated, best, extraction, within)

    async def aroute(
        self, text: str, *, allowed: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> Route:
        """:meth:`route` for an event loop: the same answer and trace. A layer with ``aroute`` (the
        LLM layer) is awaited, so the loop serves other requests meanwhile; the others (rules,
        classifier) run inline, in microseconds. Cancelling the caller cancels the layer's request."""
        text, truncated, within = self._start(text, allowed, exclude)
        steps: list[_Step] = []
        await fair_share()  # (many calls at once take turns with the loop's other work)
        awaited = self._awaited[within is not None]
        for layer, policy, wait in zip(self.layers, self.policies, awaited, strict=True):
            if wait:
                out = await _acall_route(layer, text, within)
                await fair_share()  # (its answer may land with many others)
            else:
                out = _call_route(layer, text, within)
            steps.append((layer.name, policy, out))
            if self._accepts(policy, out.result):
                assert out.result is not None
                return self._finish(text, layer.name, out.result, steps, truncated, within=within)
        return self._fall_back_one(text, steps, truncated, within)

    async def aroute_batch(
        self, texts: Sequence[str], *, allowed: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> list[Route]:
        """:meth:`route_batch` for an event loop: the same answers. Each layer sees the texts no
        earlier layer decided; a layer with ``aroute`` gets them all concurrently (its own cap
        bounds its requests), the others their batch path, inline, :data:`ASYNC_CHUNK` texts at
        a time taking turns with the loop's other work (:mod:`intentroute.pacing`)."""
        import asyncio  # (in sys.modules already: this runs in a loop)

        if isinstance(texts, str):
            raise TypeError("aroute_batch takes a sequence of strings, got a single str; use aroute(text)")
        within = None if allowed is None and exclude is None else self._within(allowed, exclude)
        prepared, truncated = self._prepare(texts)
        awaited = self._awaited[within is not None]
        if not any(awaited):  # all inline: route_batch, a chunk a turn
            routes: list[Route] = []
            with _collector_paused(len(prepared)):  # (as route_batch: the answers kept until the end)
                for a in range(0, len(prepared), ASYNC_CHUNK):
                    await fair_share()
                    routes += self.route_batch(list(texts[a : a + ASYNC_CHUNK]), allowed=allowed, exclude=exclude)
            return routes
        steps: list[list[_Step]] = [[] for _ in prepared]
        accepted: dict[int, tuple[str, LayerResult]] = {}
        pending = list(range(len(prepared)))
        for layer, policy, wait in zip(self.layers, self.policies, awaited, strict=True):
            if not pending:
                break
            if wait:
                outcomes = list(await asyncio.gather(*(_acall_route(layer, prepared[i], within) for i in pending)))
            else:  # (inline, a few dozen texts per turn on the loop)
                outcomes = []
                for a in range(0, len(pending), ASYNC_CHUNK):
                    await fair_share()
                    outcomes += _call_batch(layer, [prepared[i] for i in pending[a : a + ASYNC_CHUNK]], within)
            pending = self._absorb(layer.name, policy, pending, outcomes, steps, accepted)
        routes = []
        for a in range(0, len(prepared), ASYNC_CHUNK):
            await fair_share()
            part = range(a, min(a + ASYNC_CHUNK, len(prepared)))
            routes += self._settle(prepared, truncated, steps, accepted, within, part)
        return routes

    def route_all(
        self, text: str, *, allowed: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> list[Route]:
        """One route per request an utterance makes ("AAPL performance and price", "what's my cash
        and show my positions"); a single route when it makes one.

        The utterance is cut at the connectors people join requests with ("and", "also", "plus",
        "then", a comma or semicolon before one of them), never inside a phrase a layer reads as
        one unit (a layer's optional ``phrases``: the rules' "bid and ask"); each part is routed (as one batch); a
        part the cascade cannot place on its own (it would go to ``clarify``) is joined back to
        its neighbour, and neighbours asking for the same intent are joined too. Two or more
        parts left, each decided by a layer: their routes, in order, each with
        ``meta["part"]`` (its text); a parameter one part names and another needs (the symbol of
        "AAPL performance and price") goes to both. Otherwise ``[route(text)]``.
        """
        steps = self._route_all(text)
        texts = next(steps)
        while True:
            if len(texts) == 1:
                routes = [self.route(texts[0], allowed=allowed, exclude=exclude)]
            else:
                routes = self.route_batch(texts, allowed=allowed, exclude=exclude)
            try:
                texts = steps.send(routes)
            except StopIteration as done:
                return list(done.value)

    async def aroute_all(
        self, text: str, *, allowed: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> list[Route]:
        """:meth:`route_all` for an event loop: the same answers, each part routed with
        :meth:`aroute` / :meth:`aroute_batch` (an LLM layer's requests awaited, concurrently)."""
        steps = self._route_all(text)
        texts = next(steps)
        while True:
            if len(texts) == 1:
                routes = [await self.aroute(texts[0], allowed=allowed, exclude=exclude)]
            else:
                routes = await self.aroute_batch(texts, allowed=allowed, exclude=exclude)
            try:
                texts = steps.send(routes)
            except StopIteration as done:
                return list(done.value)

    def _route_all(self, text: str) -> Generator[list[str], list[Route], list[Route]]:
        """:meth:`route_all`'s reasoning without the routing: it yields the texts it needs routed
        (the whole utterance, then its parts as one batch, as often as parts are joined) and is
        sent their routes; it returns the answer."""
        [whole] = yield [text]
        pieces = _CONNECTORS.split(text)  # text, connector, text, ...
        parts, joints = pieces[0::2], pieces[1::2]
        while len(parts) > 1 and not parts[0].strip(" ,;."):  # (an utterance that starts with "and")
            parts, joints = [parts[0] + joints[0] + parts[1], *parts[2:]], joints[1:]
        if self._joined is None:
            self._joined = _joined_phrases(self.layers)
        j = 0
        while j < len(joints):  # never cut inside a phrase a layer reads as one ("bid and ask")
            if self._joined and _inside_phrase(parts[j], joints[j], parts[j + 1], self._joined):
                parts[j : j + 2] = [parts[j] + joints[j] + parts[j + 1]]
                del joints[j]
            else:
                j += 1
        while len(parts) > 1:
            routes = yield list(parts)
            lost = next((i for i, r in enumerate(routes) if r.is_clarify or _names_only(parts[i], r)), None)
            same = next((i for i in range(len(routes) - 1) if routes[i].intent == routes[i + 1].intent), None)
            if lost is None and same is None:
                return _shared(parts, routes)
            # a part that means nothing alone belongs with its neighbour; so does one asking the same
            a = (lost - 1 if lost > 0 else 0) if lost is not None else same
            assert a is not None
            parts[a : a + 2] = [parts[a] + joints[a] + parts[a + 1]]
            del joints[a]
        return [whole]

    def _within(self, allowed: Iterable[str] | None, exclude: Iterable[str] | None) -> frozenset[str]:
        """The intents a call restricts the answer to; a ConfigError for a name the cascade does
        not know, or for a restriction that leaves none."""
        names: dict[str, frozenset[str]] = {}
        for param, value in (("allowed", allowed), ("exclude", exclude)):
            if value is None:
                continue
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"must be a collection of intent names, got {value!r}", param=param, value=value)
            names[param] = frozenset(value) - {CLARIFY}  # (clarify is always the fallback)
            if self.labels is not None:
                unknown = sorted(names[param] - self.labels)
                if unknown:
                    raise ConfigError(
                        f"unknown intents {unknown}; the cascade's intents are {sorted(self.labels)}",
                        param=param,
                        value=value,
                    )
        within = names.get("allowed", self.labels)
        if within is None:
            raise ConfigError(
                "exclude needs a cascade that knows its intents (labels=...); pass allowed", param="exclude"
            )
        within = within - names.get("exclude", frozenset())
        if not within:
            raise ConfigError("the restriction leaves no intent to answer with", param="allowed", value=allowed)
        return within

    def route_batch(
        self, texts: Sequence[str], *, allowed: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> list[Route]:
        """Route many utterances; answers equal ``[self.route(t) for t in texts]``. A single
        ``str`` is a ``TypeError`` (it is not a batch of its characters).

        Each layer sees only the texts no earlier layer decided, through its ``route_batch``
        when it has one. The call runs in the extractor's ``remembering()`` block when it has
        one: the domain's slots then remember what they found in each text for the whole call,
        so extraction does not search again the texts the classifier searched for its markers.
        A batch of :data:`GC_PAUSE_MIN` texts or more runs with Python's cyclic garbage collector
        paused (:func:`gc.disable`), resumed at its end unless it was disabled before.
        """
        if isinstance(texts, str):
            raise TypeError("route_batch takes a sequence of strings, got a single str; use route(text)")
        within = None if allowed is None and exclude is None else self._within(allowed, exclude)
        scope = getattr(self.extractor, "remembering", None)
        with _collector_paused(len(texts)), scope() if scope is not None else contextlib.nullcontext():
            return self._route_batch(texts, within)

    def _route_batch(self, texts: Sequence[str], within: frozenset[str] | None = None) -> list[Route]:
        prepared, truncated = self._prepare(texts)
        # what each layer said to each text; the trace's steps are built from it when read
        steps: list[list[_Step]] = [[] for _ in prepared]
        accepted: dict[int, tuple[str, LayerResult]] = {}
        pending = list(range(len(prepared)))
        for layer, policy in zip(self.layers, self.policies, strict=True):
            if not pending:
                break
            outcomes = _call_batch(layer, [prepared[i] for i in pending], within)
            pending = self._absorb(layer.name, policy, pending, outcomes, steps, accepted)
        return self._settle(prepared, truncated, steps, accepted, within)

    def _prepare(self, texts: Sequence[str]) -> tuple[list[str], list[bool]]:
        prepared: list[str] = []
        truncated: list[bool] = []
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] must be str, got {type(t).__name__}")
            cut = self.max_chars is not None and len(t) > self.max_chars
            prepared.append(t[: self.max_chars] if cut else t)
            truncated.append(cut)
        return prepared, truncated

    def _absorb(
        self,
        name: str,
        policy: Policy,
        pending: list[int],
        outcomes: Sequence[_Outcome],
        steps: list[list[_Step]],
        accepted: dict[int, tuple[str, LayerResult]],
    ) -> list[int]:
        """Record one layer's outcomes for the pending texts; the texts still pending after it."""
        still: list[int] = []
        for i, out in zip(pending, outcomes, strict=True):
            steps[i].append((name, policy, out))
            if self._accepts(policy, out.result):
                assert out.result is not None
                accepted[i] = (name, out.result)
            else:
                still.append(i)
        return still

    def _settle(
        self,
        prepared: list[str],
        truncated: list[bool],
        steps: list[list[_Step]],
        accepted: dict[int, tuple[str, LayerResult]],
        within: frozenset[str] | None,
        part: range | None = None,
    ) -> list[Route]:
        """Every text's route (those in ``part`` only, when given): its accepted answer or the
        fallback, with its parameters extracted through the extractor's batch path when it has one."""
        part = range(len(prepared)) if part is None else part
        fallen = {i: self._best_answer(steps[i]) for i in part if i not in accepted}
        intents = [
            accepted[i][1].candidates[0].intent if i in accepted else self._fallen_intent(fallen[i]) for i in part
        ]
        extractions = self._extract_all(intents, prepared[part.start : part.stop])
        routes = []
        for i, extraction in zip(part, extractions, strict=True):
            if i in accepted:
                name, res = accepted[i]
                routes.append(
                    self._finish(prepared[i], name, res, steps[i], truncated[i], extraction=extraction, within=within)
                )
            else:
                routes.append(self._fall_back(prepared[i], steps[i], truncated[i], fallen[i], extraction, within))
        return routes

    def _trace(self, steps: list[_Step], within: frozenset[str] | None = None) -> Callable[[], tuple[TraceStep, ...]]:
        """The trace of one route, built when someone reads it."""
        return _LazyTrace(self, tuple(steps), within)

    def _trace_step(self, name: str, policy: Policy, out: _Outcome) -> TraceStep:
        if out.result is None:
            reason = out.error or "no result"
            kind: Any = "unavailable" if reason.startswith("unavailable:") else "error"
            return TraceStep(name, kind, reason, policy=policy, micros=out.micros)
        res = out.result
        top = tuple(res.candidates[: self.trace_top])
        evidence = tuple(res.evidence)
        if res.abstained:
            reason = str(res.meta.get("reason", "no candidate"))
            return TraceStep(name, "abstained", reason, top, policy, out.micros, evidence)
        best = res.candidates[0]
        if self.labels is not None and best.intent not in self.labels:
            reason = f"unknown label {best.intent!r} (not one of the cascade's intents)"
            return TraceStep(name, "rejected", reason, top, policy, out.micros, evidence)
        accepted, reason = policy.decide(res.candidates)
        outcome: Any = "accepted" if accepted else "rejected"
        return TraceStep(name, outcome, reason, top, policy, out.micros, evidence)

    def _extract_one(self, intent: str, text: str) -> _Extraction:
        if self.extractor is None:
            return None
        try:
            found, missing = self.extractor.extract(intent, text)
        except Exception as exc:  # extraction must never turn a decision into a crash
            return exc
        return found, missing

    def _extract_all(self, intents: list[str], texts: list[str]) -> list[_Extraction]:
        """Each text's parameters for its intent: through the extractor's ``extract_many`` when it
        has one (a batch), else one at a time; an extractor that fails a batch is asked again one
        text at a time, so a failure stays with its text."""
        if self.extractor is None:
            return [None] * len(texts)
        many = getattr(self.extractor, "extract_many", None)
        if many is not None and len(texts) > 1:
            try:
                out = many(intents, texts)
                if isinstance(out, Sequence) and len(out) == len(texts):
                    return list(out)
            except Exception:
                pass
        return [self._extract_one(i, t) for i, t in zip(intents, texts, strict=True)]

    def _merge(
        self, layer_params: Mapping[str, Any], extraction: _Extraction, meta: dict[str, Any]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        extracted = dict(layer_params)
        if extraction is None:
            return extracted, ()
        if isinstance(extraction, BaseException):
            meta["extraction_error"] = f"{type(extraction).__name__}: {extraction}"
            return extracted, ()
        found, missing = extraction
        extracted.update(found)
        return extracted, tuple(m for m in missing if m not in extracted)

    def _finish(
        self,
        text: str,
        layer: str,
        result: LayerResult,
        steps: list[_Step],
        truncated: bool,
        extra_meta: Mapping[str, Any] | None = None,
        extraction: _Extraction | bool = False,
        within: frozenset[str] | None = None,
    ) -> Route:
        """The route of an accepted answer (``extraction``: its parameters, when already found)."""
        top = result.candidates[0]
        meta: dict[str, Any] = {**result.meta, **(extra_meta or {}), "truncated": truncated}
        if within is not None:
            meta["allowed"] = sorted(within)
        if extraction is False:
            extraction = self._extract_one(top.intent, text)
        extracted, missing = self._merge(result.extracted, extraction, meta)  # type: ignore[arg-type]
        return Route(
            intent=top.intent,
            confidence=top.score,
            layer=layer,
            candidates=tuple(result.candidates),
            extracted=extracted,
            missing_params=missing,
            meta=meta,
            trace=self._trace(steps, within),
        )

    def _best_answer(self, steps: list[_Step]) -> tuple[str, LayerResult] | None:
        """With the ``"best"`` fallback, the first layer's answer the cascade knows the label of."""
        if self.fallback == "best":
            for name, _, out in steps:
                res = out.result
                if (
                    res is not None
                    and res.candidates
                    and (self.labels is None or res.candidates[0].intent in self.labels)
                ):
                    return name, res
        return None

    @staticmethod
    def _fallen_intent(best: tuple[str, LayerResult] | None) -> str:
        return CLARIFY if best is None else best[1].candidates[0].intent

    def _fall_back(
        self,
        text: str,
        steps: list[_Step],
        truncated: bool,
        best_answer: tuple[str, LayerResult] | None,
        extraction: _Extraction,
        within: frozenset[str] | None = None,
    ) -> Route:
        meta: dict[str, Any] = {"fallback": self.fallback, "truncated": truncated}
        if best_answer is not None:
            return self._finish(text, best_answer[0], best_answer[1], steps, truncated, meta, extraction, within)
        if within is not None:
            meta["allowed"] = sorted(within)
        best: dict[str, float] = {}
        for _, _, out in steps:
            res = out.result
            if res is None:
                continue
            for c in res.candidates:
                if (self.labels is None or c.intent in self.labels) and c.score > best.get(c.intent, -1.0):
                    best[c.intent] = c.score
        # (the layers' scores, checked when their answers were built)
        candidates = ranked([Candidate.trusted(i, s) for i, s in best.items()])
        extracted, _ = self._merge({}, extraction, meta)
        return Route(
            intent=CLARIFY,
            confidence=0.0,
            layer="fallback",
            candidates=candidates,
            extracted=extracted,
            missing_params=(),
            meta=meta,
            trace=self._trace(steps, within),
        )
