"""``intentroute serve``: the cascade over HTTP (FastAPI + uvicorn, the ``[serve]`` extra).

:func:`create_app` builds the application for a cascade (the default one, or a config file's):

- ``POST /route`` ``{"text": ..., "allowed": [...], "exclude": [...], "trace": false}`` -> a route
- ``POST /route/batch`` ``{"texts": [...], "allowed": ..., "exclude": ..., "trace": false}`` -> ``{"routes": [...]}``
- ``POST /route/all`` ``{"text": ..., ...}`` -> ``{"routes": [...]}``, one per request the utterance makes
- ``GET /status`` -> the cascade's ``status()``; ``POST /reload`` -> each reloadable layer's hot reload
- ``GET /healthz`` -> ``{"ok": true}`` once the cascade is built

Request and response schemas are in the OpenAPI document (``/openapi.json``, ``/docs``). Bad
requests get JSON errors: 422 for a malformed body, 400 for an intent the cascade does not know,
413 for a body over ``max_body_bytes``. Routing runs on the event loop through
:meth:`Cascade.aroute <intentroute.cascade.Cascade.aroute>` (an LLM layer's requests are awaited).
FastAPI and pydantic are imported when an application is built, so this module imports without
the extra. To embed the cascade in your own FastAPI app instead, see ``examples/fastapi_app.py``.
"""

import asyncio  # (no postponed annotations here: FastAPI reads the endpoints' models from them)
from pathlib import Path
from typing import Any

from .config import build_cascade, default_cascade
from .env import SERVE_CONFIG, env_str
from .errors import ConfigError, IntentRouteError, MissingDependency

__all__ = ["app_from_environment", "create_app"]


def _schemas() -> dict[str, Any]:
    """The request and response models (pydantic, imported here: the [serve] extra)."""
    from pydantic import BaseModel, Field

    class RouteRequest(BaseModel):
        text: str = Field(max_length=100_000, description="The utterance (routed as its first 4,000 characters).")
        allowed: list[str] | None = Field(default=None, description="Answer among these intents only.")
        exclude: list[str] | None = Field(default=None, description="Never answer these intents.")
        trace: bool = Field(default=False, description="Include every layer's trace step.")

    class BatchRequest(BaseModel):
        texts: list[str] = Field(max_length=10_000, description="The utterances, routed as one batch.")
        allowed: list[str] | None = None
        exclude: list[str] | None = None
        trace: bool = False

    class Candidate(BaseModel):
        intent: str
        score: float

    class RouteResponse(BaseModel):
        intent: str
        confidence: float
        layer: str = Field(description="Who decided ('fallback' when no layer was confident enough).")
        candidates: list[Candidate]
        extracted: dict[str, Any]
        missing_params: list[str]
        meta: dict[str, Any]
        trace: list[dict[str, Any]] | None = None

    class BatchResponse(BaseModel):
        routes: list[RouteResponse]

    return {"route": RouteRequest, "batch": BatchRequest, "answer": RouteResponse, "answers": BatchResponse}


def create_app(cascade: Any = None, *, config: str | Path | None = None, max_body_bytes: int = 2_000_000) -> Any:
    """The FastAPI application for ``cascade`` (default: built from ``config``, else the default cascade)."""
    try:
        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse
    except ImportError as exc:
        raise MissingDependency("serving needs FastAPI and uvicorn: pip install 'intentroute[serve]'") from exc
    if cascade is None:
        cascade = build_cascade(Path(config)) if config is not None else default_cascade()
    models = _schemas()
    RouteRequest, BatchRequest = models["route"], models["batch"]
    app = FastAPI(title="intentroute", summary="Route chat utterances to intents.")

    class SizeLimit:
        """Refuse a body over ``max_body_bytes`` by its Content-Length (a plain ASGI middleware:
        Starlette's ``@app.middleware`` costs more than the routing itself)."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                for name, value in scope["headers"]:
                    if name == b"content-length" and value.isdigit() and int(value) > max_body_bytes:
                        refusal = JSONResponse({"detail": f"the body is over {max_body_bytes} bytes"}, status_code=413)
                        await refusal(scope, receive, send)
                        return
            await self.inner(scope, receive, send)

    app.add_middleware(SizeLimit)

    @app.exception_handler(IntentRouteError)
    async def known_error(request: Request, exc: IntentRouteError) -> Any:
        return JSONResponse({"detail": f"{type(exc).__name__}: {exc}"}, status_code=400)

    @app.post("/route", response_model=models["answer"], response_model_exclude_none=True)
    async def route(body: RouteRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        b: Any = body
        r = await cascade.aroute(b.text, allowed=b.allowed, exclude=b.exclude)
        out: dict[str, Any] = r.to_dict(trace=b.trace)
        return out

    @app.post("/route/batch", response_model=models["answers"], response_model_exclude_none=True)
    async def route_batch(body: BatchRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        b: Any = body
        routes = await cascade.aroute_batch(b.texts, allowed=b.allowed, exclude=b.exclude)
        return {"routes": [r.to_dict(trace=b.trace) for r in routes]}

    @app.post("/route/all", response_model=models["answers"], response_model_exclude_none=True)
    async def route_all(body: RouteRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        """One route per request the utterance makes (``Cascade.aroute_all``)."""
        b: Any = body
        routes = await cascade.aroute_all(b.text, allowed=b.allowed, exclude=b.exclude)
        return {"routes": [r.to_dict(trace=b.trace) for r in routes]}

    @app.get("/status")
    async def status() -> dict[str, Any]:
        found: dict[str, Any] = cascade.status()
        return found

    @app.post("/reload")
    async def reload() -> dict[str, Any]:
        """Check every reloadable layer's files now (the load runs off the event loop)."""
        out: dict[str, Any] = {}
        for layer in cascade.layers:
            fn = getattr(layer, "reload", None)
            if callable(fn):
                out[layer.name] = {"reloaded": await asyncio.to_thread(fn)}
                error = getattr(layer, "reload_error", None)
                if error:
                    out[layer.name]["reload_error"] = error
        return {"layers": out}

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app


def app_from_environment() -> Any:
    """The application ``intentroute serve`` runs in each worker (uvicorn's factory): the cascade
    of the config in ``INTENTROUTE_SERVE_CONFIG``, else the default cascade."""
    config = env_str(SERVE_CONFIG)
    if config is not None and not Path(config).is_file():
        raise ConfigError("no such cascade config", source=config)
    return create_app(config=config)
