"""The cascade inside your own FastAPI application, rather than ``intentroute serve``.

Run with ``uvicorn examples.fastapi_app:app`` (``pip install 'intentroute[serve]'``), then
``curl -X POST localhost:8000/chat -H 'content-type: application/json' -d '{"message": "my cash"}'``.
The cascade is built once, when the application starts; each message is routed on the event loop
(``aroute``), restricted to what the conversation expects when the client says so.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

import intentroute

HANDLERS = {"cash_balance": "Your cash balance is ...", "quotes": "{symbol} is trading at ..."}


class Message(BaseModel):
    message: str
    expecting: list[str] | None = None  # the intents this turn of the dialogue expects, if any


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.cascade = intentroute.default_cascade()  # once per process
    yield


app = FastAPI(lifespan=lifespan)


@app.post("/chat")
async def chat(body: Message) -> dict[str, Any]:
    route = await app.state.cascade.aroute(body.message, allowed=body.expecting)
    if route.intent == intentroute.CLARIFY:
        options = [c.intent for c in route.candidates[:2]]
        return {"reply": f"Did you mean {' or '.join(options) or 'something else'}?", "intent": route.intent}
    if route.missing_params:
        return {"reply": f"Which {route.missing_params[0]}?", "intent": route.intent}
    template = HANDLERS.get(route.intent, f"({route.intent} handler)")
    return {"reply": template.format(**route.extracted), "intent": route.intent, "params": route.extracted}
