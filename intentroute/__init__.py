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

from ._version import __version__
from .cascade import Cascade
from .config import build_cascade, default_cascade
from .errors import BundleError, ConfigError, IntentRouteError, LayerUnavailable, PluginError, TemplateError
from .hookspecs import hookimpl
from .protocol import Extractor, RouterLayer
from .types import CLARIFY, Candidate, LayerResult, Policy, Route, TraceStep

__all__ = [
    "CLARIFY",
    "BundleError",
    "Candidate",
    "Cascade",
    "ConfigError",
    "Extractor",
    "IntentRouteError",
    "LayerResult",
    "LayerUnavailable",
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
