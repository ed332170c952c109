"""Route from an async application: concurrent ``aroute`` calls, and a dialogue state that
restricts the answer to the intents it expects.

Run with ``python examples/async_dialogue.py`` in an environment with intentroute. With an LLM
layer configured (``OPENAI_API_KEY`` or ``INTENTROUTE_LLM_BASE_URL``), its requests are awaited
while the event loop serves the other messages.
"""

from __future__ import annotations

import asyncio

import intentroute

MESSAGES = ["what's tsla trading at", "how much cash do I have", "show my positions", "how did my roth do"]

# after "Which account do you mean?" the assistant expects an answer about an account
EXPECTING_AN_ACCOUNT = {"account_value", "cash_balance", "positions_list", "performance"}


async def main() -> None:
    cascade = intentroute.default_cascade()
    routes = await asyncio.gather(*(cascade.aroute(m) for m in MESSAGES))  # concurrently
    for message, route in zip(MESSAGES, routes, strict=True):
        print(f"{message!r:32} -> {route.intent} ({route.layer}, {route.confidence:.2f})")
    reply = "my ira"  # a bare account name: "facts" (what is an IRA?) out of context
    free = await cascade.aroute(reply)
    expected = await cascade.aroute(reply, allowed=EXPECTING_AN_ACCOUNT)
    print(f"{reply!r:32} -> {free.intent} unrestricted; {expected.intent} when expecting an account question")
    print(expected.explain().splitlines()[2])  # "restricted to: ..."


if __name__ == "__main__":
    asyncio.run(main())
