"""intentroute: route chat utterances to intents in microseconds, and know when not to.

A :class:`Cascade` asks its layers in order (rules, a trained bag-of-words classifier, an LLM);
the first one confident enough decides, otherwise the route is ``clarify``.

>>> import intentroute
>>> route = intentroute.default_cascade().route("what's tsla trading at")
>>> route.intent, route.extracted
('quotes', {'symbol': 'TSLA'})

Importing this package imports neither torch nor openai and loads no plugin.
"""

from __future__ import annotations

from .cascade import Cascade
from .config import build_cascade, default_cascade
from .errors import BundleError, ConfigError, IntentRouteError, PluginError, TemplateError
from .hookspecs import hookimpl
from .protocol import RouterLayer
from .types import CLARIFY, Candidate, LayerResult, Policy, Route, TraceStep

__version__ = "0.1.0"

__all__ = [
    "CLARIFY",
    "BundleError",
    "Candidate",
    "Cascade",
    "ConfigError",
    "IntentRouteError",
    "LayerResult",
    "PluginError",
    "Policy",
    "Route",
    "RouterLayer",
    "TemplateError",
    "TraceStep",
    "__version__",
    "build_cascade",
    "default_cascade",
    "hookimpl",
]
