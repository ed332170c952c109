"""The exception hierarchy of intentroute.

Every error raised at an edge of the library (a file, a config, a bundle, a plugin) is an
:class:`IntentRouteError`, so an application can catch one type. Routing itself never raises on
user text: a layer's failure is recorded in the route's trace instead.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BundleError",
    "ConfigError",
    "InputError",
    "IntentRouteError",
    "LayerError",
    "LayerUnavailable",
    "MissingDependency",
    "PluginError",
    "TemplateError",
]


class IntentRouteError(Exception):
    """Base class of every error intentroute raises on purpose."""


class ConfigError(IntentRouteError, ValueError):
    """A cascade configuration, a rules file or a domain file is invalid.

    ``source`` is the file (or ``"<dict>"``), ``layer``/``param``/``value`` point at the bad entry
    when there is one; the message always says what is wrong and where.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        layer: str | None = None,
        param: str | None = None,
        value: Any = None,
    ) -> None:
        where = []
        if source:
            where.append(source)
        if layer:
            where.append(f"layer {layer!r}")
        if param:
            where.append(f"parameter {param!r}")
        text = f"{': '.join(where)}: {message}" if where else message
        super().__init__(text)
        self.source = source
        self.layer = layer
        self.param = param
        self.value = value


class InputError(IntentRouteError, ValueError):
    """A record of a file to route is malformed: ``source`` is the file, ``line`` the record's
    line (JSONL, CSV) or row (Parquet), counted from 1."""

    def __init__(self, message: str, *, source: str, line: int) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source = source
        self.line = line


class TemplateError(IntentRouteError, ValueError):
    """A template file is invalid (names the file, the intent and the template)."""


class BundleError(IntentRouteError):
    """A model bundle is missing, truncated, tampered with or inconsistent (names the file)."""


class PluginError(IntentRouteError):
    """A plugin failed to load, or two plugins registered the same layer name."""


class LayerError(IntentRouteError):
    """A layer could not be built or cannot answer."""


class MissingDependency(IntentRouteError, ImportError):
    """An optional extra is not installed; the message names the ``pip install`` that fixes it."""


class LayerUnavailable(LayerError):
    """Raised by a layer's ``route`` when it cannot run here (missing extra, missing artifacts).

    The cascade records the reason in the trace and asks the next layer.
    """
