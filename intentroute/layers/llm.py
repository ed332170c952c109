"""The LLM layer (``llm``): any OpenAI-compatible chat-completions endpoint, bounded in time and cost.

It asks the model to pick one of the domain's intents (with their descriptions, and optional
few-shot examples) and to say how sure it is, as JSON ``{"intent": ..., "confidence": ...}``
(structured output where the server supports it; tolerant parsing where it does not). Every call
has a timeout, every route an overall deadline; only connection errors, 429 and 5xx are retried,
a bounded number of times with backoff. Verdicts are cached by normalised utterance. Whatever goes
wrong - a label outside the set, malformed JSON, an empty answer, a refusal, a timeout, an error -
the layer abstains with the reason in the trace; it never raises into the cascade. The deadline
holds over the whole call (a daemon thread), and routes asking a question already under way share
its request (single flight). About 650 lines: the prompt, the parsing of every way an answer can
be malformed, and the bounds (timeout, deadline, retries, cache, the concurrency cap) belong to one
call path, in its two forms (a thread, an event loop).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..domains import DEFAULT_DOMAIN, load_domain
from ..env import env_str
from ..errors import ConfigError, LayerUnavailable
from ..hookspecs import hookimpl
from ..pacing import fair_share
from ..text import normalize
from ..types import Candidate, LayerResult
from ..validation import is_number

if TYPE_CHECKING:
    import asyncio  # (imported where the async path runs: a process routing synchronously never loads it)

__all__ = ["DEFAULT_MODEL", "LLMLayer"]

_logger = logging.getLogger(__name__)


class _DeadlineReached(Exception):
    """The route's deadline passed before the server finished its answer."""


class _Flight:
    """One request under way, which routes asking the same question wait for (single flight)."""

    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: LayerResult | None = None


DEFAULT_MODEL = "gpt-4o-mini"
NONE_LABEL = "none"
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def _openai_missing() -> str | None:
    if importlib.util.find_spec("openai") is None:
        return "the openai SDK is not installed: pip install 'intentroute[llm]'"
    return None


def parse_verdict(content: str | None, intents: Sequence[str]) -> tuple[str | None, float | None, str]:
    """``(intent, confidence, reason)`` from a model's answer; ``intent`` is ``None`` to abstain.

    Accepts a bare JSON object, one inside prose or a code fence, and a confidence given as a
    number or a numeric string (clamped to [0, 1]).

    >>> parse_verdict('```json\\n{"intent": "quotes", "confidence": 0.9}\\n```', ["quotes"])
    ('quotes', 0.9, 'ok')
    >>> parse_verdict('{"intent": "weather", "confidence": 0.9}', ["quotes"])[2]
    "label 'weather' is not one of the intents"
    """
    if content is None or not content.strip():
        return None, None, "empty answer"
    text = content.strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as first:
        m = _JSON_OBJECT.search(text)
        if m is None:
            if "{" in text:
                return None, None, f"malformed JSON in the answer ({first.msg}): {text[:80]!r}"
            return None, None, f"no JSON object in the answer: {text[:80]!r}"
        try:
            data = json.loads(m.group(0))
        except json.JSONDecodeError as exc:
            return None, None, f"malformed JSON in the answer ({exc.msg}): {text[:80]!r}"
    if not isinstance(data, dict):
        return None, None, f"the answer is not a JSON object: {text[:80]!r}"
    intent = data.get("intent")
    if not isinstance(intent, str) or not intent.strip():
        return None, None, "the answer has no intent"
    intent = intent.strip()
    if intent.lower() == NONE_LABEL:
        return None, None, "the model says none of the intents fits"
    if intent not in intents:
        return None, None, f"label {intent!r} is not one of the intents"
    raw: Any = data.get("confidence")
    confidence: float | None = None
    if isinstance(raw, int | float | str) and not isinstance(raw, bool):
        try:
            confidence = float(raw)
        except ValueError:
            confidence = None
    if confidence is None or confidence != confidence:  # NaN
        return None, None, f"the answer has no usable confidence ({raw!r})"
    return intent, min(1.0, max(0.0, confidence)), "ok"


@dataclass
class _LoopState:
    """The async path's state in one event loop (asyncio objects belong to the loop they run in):
    its client (the layer's own, made for this loop, or the one given as ``async_client=``), the
    cap on its requests, and the questions in flight."""

    client: Any
    own: bool
    cap: asyncio.Semaphore
    flights: dict[str, asyncio.Future[LayerResult]]


def _paced_http_client(openai: Any, connections: int) -> Any:
    """The SDK's default async HTTP client, its transport wrapped so that its steps take turns
    on the event loop (:func:`fair_share`, behind routing): sending a request, each piece of an
    answer's body, closing the answer (which hands its connection back to the pool: a pass over
    every connection, about 0.5 ms with 50 of them) and what follows it, the SDK's parsing. Many
    answers arriving together are then taken in over several loop iterations, not one."""
    # (the SDK's HTTP library: httpx, or httpx2 for the SDKs that ship it)
    modern = hasattr(openai, "DefaultAsyncHttpx2Client")
    httpx = importlib.import_module("httpx2" if modern else "httpx")

    class PacedBody(httpx.AsyncByteStream):  # type: ignore[misc,name-defined]
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __aiter__(self) -> Any:
            async for chunk in self.inner:
                await fair_share(background=True)
                yield chunk

        async def aclose(self) -> None:
            try:
                await fair_share(background=True)
            finally:  # (cancelled while waiting for the turn: the connection is still given back)
                await self.inner.aclose()
            await fair_share(background=True)

    class PacedTransport(httpx.AsyncBaseTransport):  # type: ignore[misc,name-defined]
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def handle_async_request(self, request: Any) -> Any:
            await fair_share(background=True)
            response = await self.inner.handle_async_request(request)
            response.stream = PacedBody(response.stream)
            return response

        async def aclose(self) -> None:
            await self.inner.aclose()

    # (as many connections as the layer's cap lets requests be in flight on one loop)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    make = openai.DefaultAsyncHttpx2Client if modern else openai.DefaultAsyncHttpxClient
    return make(transport=PacedTransport(httpx.AsyncHTTPTransport(limits=limits)))


class LLMLayer:
    """Route with an LLM behind any OpenAI-compatible endpoint.

    Parameters
    ----------
    model:
        Model name (default ``INTENTROUTE_LLM_MODEL`` or ``gpt-4o-mini``).
    base_url:
        Endpoint (default ``INTENTROUTE_LLM_BASE_URL``, else the SDK's default, api.openai.com):
        vLLM, Ollama (``http://localhost:11434/v1``), a llama.cpp server ...
    api_key:
        Default ``OPENAI_API_KEY``; a local server usually accepts any string.
    client:
        An ``openai.OpenAI`` client to use instead (its own retries are turned off: this layer
        retries itself, within its deadline).
    timeout:
        Seconds per HTTP call.
    deadline:
        Seconds for the whole route, retries included.
    max_retries:
        Extra attempts after a connection error, a 429 or a 5xx.
    backoff:
        First wait between attempts, doubled each time (a ``Retry-After`` header is honoured,
        both capped by the deadline).
    domain, intents:
        The allowed intents and their descriptions: a domain name (``"brokerage"``) or an explicit
        ``{intent: description}``.
    examples:
        Few-shot ``[(text, intent), ...]`` shown to the model.
    cache_size:
        Verdicts kept, keyed by the normalised utterance (0 disables the cache).
    structured:
        Ask for JSON-schema structured output (``"auto"``: try, and fall back to plain JSON
        instructions if the server refuses it; ``True``; ``False``).
    log_file:
        Append every fresh verdict (text, intent, confidence, model) as a JSONL line, to review
        (``intentroute review``) and feed back into training (``intentroute train --extra``). An
        answer that names no intent is logged with ``"intent": null`` and its ``abstained`` reason,
        one to a restricted route with ``restricted_to``; neither is ever used as a label.
    max_chars:
        Longer utterances are cut before they are sent.
    """

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        client: Any = None,
        timeout: float = 5.0,
        deadline: float = 10.0,
        max_retries: int = 2,
        backoff: float = 0.25,
        domain: str | None = DEFAULT_DOMAIN,
        intents: Mapping[str, str] | None = None,
        examples: Sequence[Sequence[str]] | None = None,
        cache_size: int = 1024,
        structured: bool | str = "auto",
        temperature: float = 0.0,
        log_file: str | Path | None = None,
        max_chars: int = 2000,
        name: str = "llm",
        max_concurrency: int = 32,
        async_client: Any = None,
    ) -> None:
        def number(param: str, value: Any, lo: float, hi: float) -> float:
            if not is_number(value, lo, hi):
                raise ConfigError(f"must be a number in [{lo}, {hi}], got {value!r}", param=param, value=value)
            return float(value)

        self.name = name
        self.failures = 0  # routes the LLM gave no answer to (status())
        self.last_error: str | None = None
        self.timeout = number("timeout", timeout, 0.001, 600)
        self.deadline = number("deadline", deadline, 0.001, 3600)
        self.max_retries = int(number("max_retries", max_retries, 0, 10))
        self.backoff = number("backoff", backoff, 0, 60)
        self.temperature = number("temperature", temperature, 0, 2)
        self.cache_size = int(number("cache_size", cache_size, 0, 10_000_000))
        self.max_chars = int(number("max_chars", max_chars, 1, 1_000_000))
        if not is_number(max_concurrency, 1, 100_000, integer=True):
            raise ConfigError(
                f"must be a positive integer, got {max_concurrency!r}", param="max_concurrency", value=max_concurrency
            )
        self.max_concurrency = int(max_concurrency)
        self._async_client = async_client
        # the async path's client, cap and flights, per event loop (dropped with the loop)
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()
        if structured not in (True, False, "auto"):
            raise ConfigError(
                f"must be true, false or 'auto', got {structured!r}", param="structured", value=structured
            )
        self.structured: bool | str = structured
        self.model = model or env_str("INTENTROUTE_LLM_MODEL") or DEFAULT_MODEL
        self.base_url = base_url or env_str("INTENTROUTE_LLM_BASE_URL")
        self.api_key = api_key or env_str("OPENAI_API_KEY")
        self.intents = self._intents(domain, intents)
        self.examples = [(str(t), str(i)) for t, i in (examples or [])]
        for text, intent in self.examples:
            if intent not in self.intents:
                raise ConfigError(
                    f"example {text!r} has intent {intent!r}, not one of {list(self.intents)}", param="examples"
                )
        self.log_file = Path(log_file) if log_file else None
        self._cache: OrderedDict[str, LayerResult] = OrderedDict()
        self._lock = threading.Lock()
        self._inflight: dict[str, _Flight] = {}
        self.calls = 0
        self.unavailable_reason: str | None = None
        self._client = client
        self._client_is_own = client is None  # (an async twin is made only of a client we made)
        if client is None:
            self.unavailable_reason = _openai_missing()
            if self.unavailable_reason is None and not (self.api_key or self.base_url):
                self.unavailable_reason = "no OPENAI_API_KEY and no base_url (INTENTROUTE_LLM_BASE_URL) configured"
            if self.unavailable_reason is None:
                import openai

                self._client = openai.OpenAI(
                    api_key=self.api_key or "not-needed", base_url=self.base_url, timeout=self.timeout, max_retries=0
                )
        else:
            self._client = client.with_options(max_retries=0) if hasattr(client, "with_options") else client

    @staticmethod
    def availability() -> str | None:
        return _openai_missing()

    @staticmethod
    def _intents(domain: str | None, intents: Mapping[str, str] | None) -> dict[str, str]:
        if intents is not None:
            if not isinstance(intents, Mapping) or not intents:
                raise ConfigError("must map intent names to descriptions", param="intents", value=intents)
            return {str(k): str(v) for k, v in intents.items()}
        if domain is None:
            raise ConfigError("give a domain or intents", param="intents")
        return {name: spec.description for name, spec in load_domain(domain).intents.items()}

    # -- prompt --------------------------------------------------------------------------------

    def messages(self, text: str, allowed: frozenset[str] | None = None) -> list[dict[str, str]]:
        """The chat messages sent for ``text`` (listing only the ``allowed`` intents, when given)."""
        intents = self._listed(allowed)
        listing = "\n".join(f"- {name}: {desc}" for name, desc in intents.items())
        system = (
            "You route a user's message to the intent of an application that it expresses.\n"
            f"Intents:\n{listing}\n- {NONE_LABEL}: the message expresses none of these.\n"
            'Answer with a JSON object only: {"intent": "<one intent name from the list>", '
            '"confidence": <a number from 0 to 1: the probability that this intent is right>}.'
        )
        out = [{"role": "system", "content": system}]
        for ex_text, ex_intent in self.examples:
            if ex_intent not in intents:
                continue  # (an example of an intent not offered would teach an answer not allowed)
            out.append({"role": "user", "content": ex_text})
            out.append({"role": "assistant", "content": json.dumps({"intent": ex_intent, "confidence": 0.95})})
        out.append({"role": "user", "content": text[: self.max_chars]})
        return out

    def _listed(self, allowed: frozenset[str] | None) -> dict[str, str]:
        return self.intents if allowed is None else {k: v for k, v in self.intents.items() if k in allowed}

    def _response_format(self, allowed: frozenset[str] | None = None) -> dict[str, Any]:
        return {
            "type": "json_schema",
            "json_schema": {
                "name": "intent_route",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {
                        "intent": {"type": "string", "enum": [*self._listed(allowed), NONE_LABEL]},
                        "confidence": {"type": "number"},
                    },
                    "required": ["intent", "confidence"],
                    "additionalProperties": False,
                },
            },
        }

    # -- calling -------------------------------------------------------------------------------

    def _call(self, text: str, allowed: frozenset[str] | None = None) -> tuple[Any, int, str | None]:
        """``(response or None, attempts, error reason)`` within the deadline."""
        start = time.monotonic()
        attempts = 0
        last = "no attempt"
        while True:
            remaining = self.deadline - (time.monotonic() - start)
            if remaining <= 0:
                return None, attempts, f"deadline of {self.deadline:g}s reached after {attempts} attempt(s): {last}"
            attempts += 1
            kwargs = self._request(text, allowed, min(self.timeout, remaining))
            try:
                with self._lock:
                    self.calls += 1
                return self._within(remaining, kwargs), attempts, None
            except _DeadlineReached:
                return None, attempts, f"deadline of {self.deadline:g}s reached while the server was still answering"
            except Exception as exc:
                action, last, retry_after = self._failure(exc, kwargs, remaining)
            if action == "again":  # the server does not do structured output: ask in words
                attempts -= 1
                continue
            if action == "stop":
                return None, attempts, last
            wait = self._wait(attempts, retry_after, start, last)
            if isinstance(wait, str):
                return None, attempts, wait
            time.sleep(wait)

    def _request(self, text: str, allowed: frozenset[str] | None, timeout: float) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages(text, allowed),
            "temperature": self.temperature,
            "timeout": timeout,
        }
        if self.structured is not False:
            kwargs["response_format"] = self._response_format(allowed)
        return kwargs

    def _create(self, client: Any, kwargs: dict[str, Any], *, own: bool) -> Any:
        """The chat-completions call (a coroutine for an async client). An SDK client this layer
        made gets the request body as it is, through the client's ``post``: ``create()`` first
        walks every parameter against its type declarations (``transform``), about 2 ms of CPU
        per request here, which 50 requests started together made a 100 ms stall of an event
        loop (``own``: this layer made ``client``). A client given to the layer (``client=``,
        ``async_client=``) is called through ``chat.completions.create``, as it may offer
        nothing else."""
        if not own:
            return client.chat.completions.create(**kwargs)
        from openai.types.chat import ChatCompletion

        body = {k: v for k, v in kwargs.items() if k != "timeout"}
        return client.post(
            "/chat/completions", cast_to=ChatCompletion, body=body, options={"timeout": kwargs["timeout"]}
        )

    def _failure(self, exc: Exception, kwargs: dict[str, Any], remaining: float) -> tuple[str, str, float | None]:
        """What a failed request means: ``("stop" | "retry" | "again", reason, Retry-After)``;
        ``"again"``: ask once more without structured output (not an attempt)."""
        import openai

        if isinstance(exc, openai.APITimeoutError):  # a slow server is not retried: it would blow the deadline
            return "stop", f"timed out after {min(self.timeout, remaining):g}s", None
        if isinstance(exc, openai.APIConnectionError):
            return "retry", f"connection error: {exc}", None
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status == 400 and self.structured == "auto" and "response_format" in kwargs:
                self.structured = False
                return "again", "", None
            if status != 429 and status < 500:
                return "stop", f"HTTP {status}: {_short(exc)}", None
            header = exc.response.headers.get("retry-after") if exc.response is not None else None
            try:
                retry_after = float(header) if header else None
            except ValueError:
                retry_after = None
            if not is_number(retry_after, 0.0):  # negative, NaN or infinite: a header not to trust
                retry_after = None
            return "retry", f"HTTP {status}: {_short(exc)}", retry_after
        return "stop", f"{type(exc).__name__}: {exc}", None  # anything else the SDK raises

    def _wait(self, attempts: int, retry_after: float | None, start: float, last: str) -> float | str:
        """Seconds to wait before the next attempt, or why there is none."""
        if attempts > self.max_retries:
            return f"gave up after {attempts} attempts: {last}"
        wait = retry_after if retry_after is not None else self.backoff * 2 ** (attempts - 1)
        if wait >= self.deadline - (time.monotonic() - start):
            return f"deadline of {self.deadline:g}s leaves no time to retry: {last}"
        return wait

    def _within(self, seconds: float, kwargs: dict[str, Any]) -> Any:
        """The SDK call, waited for at most ``seconds``. The SDK's timeout bounds each read, not
        the call: a server that sends a byte now and then holds a request for as long as it likes.
        The call runs in a daemon thread; past the deadline the route goes on without it, and its
        answer, when it comes, is dropped (never cached)."""
        done = threading.Event()
        outcome: list[Any] = []

        def call() -> None:
            try:
                outcome.append((True, self._create(self._client, kwargs, own=self._client_is_own)))
            except BaseException as exc:  # handed to the caller
                outcome.append((False, exc))
            finally:
                done.set()

        threading.Thread(target=call, name=f"intentroute-llm-{self.name}", daemon=True).start()
        if not done.wait(max(0.0, seconds)):
            raise _DeadlineReached
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    def route(self, text: str) -> LayerResult:
        return self._route(text, None)

    def route_within(self, text: str, allowed: frozenset[str]) -> LayerResult:
        """:meth:`route` with only the ``allowed`` intents offered to the model (its prompt, its
        answer's schema and its examples list no other); cached apart from unrestricted answers."""
        return self._route(text, frozenset(allowed) & frozenset(self.intents))

    async def aroute(self, text: str) -> LayerResult:
        """:meth:`route` for an event loop: the request goes through ``openai.AsyncOpenAI`` (one
        client per loop, or the ``async_client`` given) with the same timeout, deadline, retries
        and cache, at most ``max_concurrency`` at a time per layer and loop, identical questions
        asked once. Sending a request and reading its answer take turns with the loop's other
        work (:mod:`intentroute.pacing`). Cancelling the caller cancels its request; a cancelled
        or failed request is never cached."""
        return await self._aroute(text, None)

    async def aroute_within(self, text: str, allowed: frozenset[str]) -> LayerResult:
        """:meth:`aroute` offering only the ``allowed`` intents (as :meth:`route_within`)."""
        return await self._aroute(text, frozenset(allowed) & frozenset(self.intents))

    def _key(self, text: str, allowed: frozenset[str] | None) -> str | LayerResult:
        """The cache key of a question, or the answer when there is nothing to ask."""
        key = normalize(text[: self.max_chars])
        if not key:
            return LayerResult(meta={"reason": "nothing to ask about"})
        if allowed is not None:
            if not allowed:
                return LayerResult(meta={"reason": "none of the allowed intents is this layer's"})
            key += "\x00" + ",".join(sorted(allowed))  # (a restricted question is another question)
        return key

    def _cached(self, key: str) -> LayerResult | None:
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
        if cached is None:
            return None
        return LayerResult(cached.candidates, evidence=cached.evidence, meta={**cached.meta, "cached": True})

    def _loop_state(self) -> _LoopState | None:
        """This event loop's client, cap and questions in flight (None: no async client can be
        made, e.g. only a sync client was given)."""
        import asyncio

        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            client = self._async_client
            own = client is None and self._client_is_own
            if own:
                import openai

                client = openai.AsyncOpenAI(
                    api_key=self.api_key or "not-needed",
                    base_url=self.base_url,
                    timeout=self.timeout,
                    max_retries=0,
                    http_client=_paced_http_client(openai, self.max_concurrency),
                )
            if client is None:
                return None
            state = self._loops[loop] = _LoopState(client, own, asyncio.Semaphore(self.max_concurrency), {})
        return state

    async def _aroute(self, text: str, allowed: frozenset[str] | None) -> LayerResult:
        import asyncio

        if self.unavailable_reason is not None:
            raise LayerUnavailable(self.unavailable_reason)
        key = self._key(text, allowed)
        if isinstance(key, LayerResult):
            return key
        cached = self._cached(key)
        if cached is not None:
            return cached
        state = self._loop_state()
        if state is None:  # only a sync client: its call in a worker thread, the loop free meanwhile
            return await asyncio.to_thread(self._route, text, allowed)
        flight = state.flights.get(key)
        if flight is not None:  # the same question is being asked already: one request, one answer
            try:
                shared = await asyncio.wait_for(asyncio.shield(flight), self.deadline)
            except TimeoutError:
                reason = f"deadline of {self.deadline:g}s reached waiting for the same question"
                return LayerResult(meta={"reason": reason})
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this caller was cancelled
                return LayerResult(meta={"reason": "the same question's request was cancelled"})
            return LayerResult(shared.candidates, evidence=shared.evidence, meta={**shared.meta, "shared": True})
        flight = asyncio.get_running_loop().create_future()
        state.flights[key] = flight
        try:
            t0 = time.monotonic()
            response, attempts, error = await self._acall(state, text, allowed)
            await fair_share(background=True)
            result = self._verdict(response, attempts, error, t0, text, key, allowed)
            flight.set_result(result)
            return result
        finally:
            if not flight.done():
                flight.cancel()  # (cancelled or failed: the followers stop waiting; nothing cached)
            state.flights.pop(key, None)

    async def _acall(self, state: _LoopState, text: str, allowed: frozenset[str] | None) -> tuple[Any, int, str | None]:
        """:meth:`_call` on the event loop: the deadline bounds the whole call, the wait for a
        free request slot and for a turn on the loop included."""
        import asyncio

        start = time.monotonic()
        attempts = 0
        last = "no attempt"
        while True:
            remaining = self.deadline - (time.monotonic() - start)
            if remaining <= 0:
                return None, attempts, f"deadline of {self.deadline:g}s reached after {attempts} attempt(s): {last}"
            attempts += 1
            kwargs = self._request(text, allowed, min(self.timeout, remaining))
            try:
                async with asyncio.timeout(remaining), state.cap:
                    await fair_share(background=True)
                    with self._lock:
                        self.calls += 1
                    return await self._create(state.client, kwargs, own=state.own), attempts, None
            except TimeoutError:
                return None, attempts, f"deadline of {self.deadline:g}s reached while the server was still answering"
            except Exception as exc:
                action, last, retry_after = self._failure(exc, kwargs, remaining)
            if action == "again":
                attempts -= 1
                continue
            if action == "stop":
                return None, attempts, last
            wait = self._wait(attempts, retry_after, start, last)
            if isinstance(wait, str):
                return None, attempts, wait
            await asyncio.sleep(wait)

    def _route(self, text: str, allowed: frozenset[str] | None) -> LayerResult:
        if self.unavailable_reason is not None:
            raise LayerUnavailable(self.unavailable_reason)
        key = self._key(text, allowed)
        if isinstance(key, LayerResult):
            return key
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
            flight = self._inflight.get(key) if cached is None else None
            leader = cached is None and flight is None
            if leader:
                flight = self._inflight[key] = _Flight()
        if cached is not None:
            return LayerResult(cached.candidates, evidence=cached.evidence, meta={**cached.meta, "cached": True})
        assert flight is not None
        if not leader:  # the same question is being asked already: one request, one answer for all
            if flight.done.wait(self.deadline) and flight.result is not None:
                shared = flight.result
                return LayerResult(shared.candidates, evidence=shared.evidence, meta={**shared.meta, "shared": True})
            return LayerResult(meta={"reason": f"deadline of {self.deadline:g}s reached waiting for the same question"})
        try:
            flight.result = self._ask(text, key, allowed)
            return flight.result
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            flight.done.set()

    def _ask(self, text: str, key: str, allowed: frozenset[str] | None = None) -> LayerResult:
        """Ask the LLM (this thread leads the requests for ``key``); cache a usable answer."""
        t0 = time.monotonic()
        response, attempts, error = self._call(text, allowed)
        return self._verdict(response, attempts, error, t0, text, key, allowed)

    def _verdict(
        self,
        response: Any,
        attempts: int,
        error: str | None,
        t0: float,
        text: str,
        key: str,
        allowed: frozenset[str] | None,
    ) -> LayerResult:
        """The answer a response (or its absence) makes; a usable one is cached under ``key``."""
        meta: dict[str, Any] = {
            "model": self.model,
            "attempts": attempts,
            "cached": False,
            "latency_ms": round((time.monotonic() - t0) * 1000, 1),
        }
        if response is None:
            with self._lock:
                self.failures += 1
                self.last_error = error
            _logger.warning(
                "llm layer %r (%s): no answer after %d attempt(s): %s", self.name, self.model, attempts, error
            )
            return LayerResult(meta={**meta, "reason": error})
        usage = getattr(response, "usage", None)
        if usage is not None:
            meta["usage"] = {k: getattr(usage, k, None) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        meta["model"] = getattr(response, "model", None) or self.model
        choices = getattr(response, "choices", None) or []
        message = choices[0].message if choices else None
        refusal = getattr(message, "refusal", None) if message is not None else None
        if refusal:
            reason = f"the model refused: {str(refusal)[:80]}"
            self._log(text, None, None, meta["model"], allowed, reason)
            return LayerResult(meta={**meta, "reason": reason})
        intent, confidence, reason = parse_verdict(getattr(message, "content", None), list(self._listed(allowed)))
        if intent is None or confidence is None:
            self._log(text, None, None, meta["model"], allowed, reason)
            return LayerResult(meta={**meta, "reason": reason})
        result = LayerResult(
            [Candidate(intent, confidence)], evidence=[f"{meta['model']}: {intent} ({confidence:.2f})"], meta=meta
        )
        if self.cache_size:
            with self._lock:
                self._cache[key] = result
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        self._log(text, intent, confidence, meta["model"], allowed)
        return result

    def _log(
        self,
        text: str,
        intent: str | None,
        confidence: float | None,
        model: str,
        allowed: frozenset[str] | None,
        abstained: str | None = None,
    ) -> None:
        """One line of the verdict log: an answer, or (``intent`` null, ``abstained`` its reason) an
        answer that named no intent; ``restricted_to`` when only some intents were offered.
        (``intentroute review`` never uses an abstention or a restricted answer as a label.)"""
        if self.log_file is None:
            return
        row: dict[str, Any] = {"text": text, "intent": intent}
        if confidence is not None:
            row["confidence"] = round(confidence, 4)
        row["model"] = model
        row["source"] = "llm"
        if abstained is not None:
            row["abstained"] = abstained
        if allowed is not None:
            row["restricted_to"] = sorted(allowed)
        line = json.dumps(row, ensure_ascii=False)
        with self._lock:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_file, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def status(self) -> dict[str, Any]:
        return {
            "available": self.unavailable_reason is None,
            "reason": self.unavailable_reason,
            "model": self.model,
            "base_url": self.base_url or "https://api.openai.com/v1",
            "timeout": self.timeout,
            "deadline": self.deadline,
            "max_retries": self.max_retries,
            "structured_output": self.structured,
            "cache_entries": len(self._cache),
            "requests": self.calls,
            "failures": self.failures,
            "last_error": self.last_error,
            "intents": list(self.intents),
            "log_file": str(self.log_file) if self.log_file else None,
        }


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."


@hookimpl
def register_layers(register: Any) -> None:
    register("llm", LLMLayer)
