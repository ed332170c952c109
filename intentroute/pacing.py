"""Sharing an event loop fairly: work done inline yields to the loop once it has had its slice.

The rules and the classifier run inline in :meth:`Cascade.aroute` (tens of microseconds each; a
thread per call would cost more than the work), and the openai SDK's HTTP stack spends about
1.5 ms of the loop's time on each LLM request. One call is nothing, but 200 calls started
together, or 50 LLM answers landing together, would all run their part in the same iteration of
the event loop, and everything else on that loop (a web server's other requests, a heartbeat)
would wait for all of them: 200 × 100 µs is a 20 ms stall.

:func:`fair_share` bounds that. The first coroutine to pass it in a loop iteration opens a slice;
one arriving once the slice has lasted :data:`SLICE_SECONDS` waits, in order of arrival, for a
turn in a later iteration (it resumes after what the loop already had waiting, the other
coroutines' I/O included). A call alone on its loop never waits. Work that can wait a little
(``background=True``: the LLM layer's HTTP steps, a request about to be sent or an answer's body
being read) queues behind routing, so an utterance the classifier decides is not held up by a
burst of LLM requests; one background waiter is let through per turn, so it is never starved.
"""

from __future__ import annotations

import contextvars
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio  # (imported where a turn is taken: a process routing synchronously never loads it)

SLICE_SECONDS = 0.0005
"""Inline work one event-loop iteration may run before coroutines arriving later wait."""

BACKGROUND_SHARE = 0.5
"""Background work starts only in the first part of a slice: its steps are the longer ones (an
HTTP request built and sent, an answer read and parsed: about 1 ms each)."""


class _Turns:
    """One event loop's turns: the slice of the iteration running now (since when, how many
    entered it, whether it is open: a callback scheduled at its opening closes it in the next
    iteration), and the coroutines waiting for a later one, routing first, background after."""

    __slots__ = ("again", "background", "open", "served", "start", "waiting")

    def __init__(self) -> None:
        self.open = False
        self.start = 0.0
        self.served = 0
        self.waiting: deque[asyncio.Future[None]] = deque()
        self.background: deque[asyncio.Future[None]] = deque()
        self.again = [0, 0]  # woken in this iteration but the slice was spent: back at the front, in order

    def enter(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        if not self.open:
            self.open = True
            self.start = now
            self.served = 0
            loop.call_soon(self.close, context=_NO_CONTEXT)  # (close needs none: no copy of the caller's)
        self.served += 1

    def close(self) -> None:
        """End the slice; wake as many waiters as it served (they run in the next iteration),
        routing first, and one background waiter more whenever one waits (never starved)."""
        self.open = False
        self.again = [0, 0]
        n = max(1, self.served)
        n -= self.wake(self.waiting, n)
        self.wake(self.background, max(1, n))

    def pass_turn(self) -> None:
        """A woken coroutine will not take its turn (cancelled): the next in line takes it."""
        if not self.wake(self.waiting, 1):
            self.wake(self.background, 1)

    @staticmethod
    def wake(queue: deque[asyncio.Future[None]], n: int) -> int:
        woken = 0
        while woken < n and queue:
            waiter = queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                woken += 1
        return woken


_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turns] = weakref.WeakKeyDictionary()
_NO_CONTEXT = contextvars.Context()
# the loop looked up last and its turns (a weak reference: a closed loop is not kept alive); one
# tuple, replaced whole, so threads running loops of their own each find theirs or look it up
_last: tuple[Callable[[], object], _Turns] = (lambda: None, _Turns())


def _turns_of(loop: asyncio.AbstractEventLoop) -> _Turns:
    global _last
    ref, turns = _last
    if ref() is loop:
        return turns
    found = _turns.get(loop)
    if found is None:
        found = _turns[loop] = _Turns()
    _last = (weakref.ref(loop), found)
    return found


async def fair_share(seconds: float | None = None, *, background: bool = False) -> None:
    """Return at once while this loop iteration's slice has run under ``seconds`` (default
    :data:`SLICE_SECONDS`, read at each call: set it to trade latency for throughput) and nobody
    is waiting before the caller; otherwise wait, in order of arrival, for a turn in a later
    iteration. ``background``: wait behind every routing coroutine as well."""
    import asyncio  # (in sys.modules already: this runs in a loop)

    loop = asyncio.get_running_loop()
    turns = _turns_of(loop)
    if seconds is None:
        seconds = SLICE_SECONDS
    if background:
        seconds *= BACKGROUND_SHARE
    now = time.perf_counter()
    ahead = turns.waiting or (background and turns.background)
    if not ahead and (not turns.open or now - turns.start < seconds):
        turns.enter(loop, now)
        return
    queue = turns.background if background else turns.waiting
    front = False
    while True:
        waiter: asyncio.Future[None] = loop.create_future()
        if front:  # (woken, but the slice was spent already: first in line for the next one)
            queue.insert(turns.again[background], waiter)
            turns.again[background] += 1
        else:
            queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter in queue:
                queue.remove(waiter)
            elif not turns.open:
                turns.pass_turn()
            raise
        now = time.perf_counter()
        if not turns.open or now - turns.start < seconds:
            turns.enter(loop, now)
            return
        front = True
