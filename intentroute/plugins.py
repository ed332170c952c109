"""The plugin manager: built-in and third-party layers register through the same hook.

Third-party packages declare an entry point in the ``intentroute`` group; the built-in layers are
the modules in :data:`DEFAULT_PLUGINS`. Plugins load lazily, once, on the first call to
:func:`get_plugin_manager` (never at ``import intentroute``). ``INTENTROUTE_LOAD_PLUGINS`` (a
comma-separated list of distribution or entry-point names; empty for none) restricts which
third-party plugins load.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy

from . import hookspecs
from .env import env_raw
from .errors import PluginError

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "LOAD_PLUGINS_ENV",
    "LayerInfo",
    "PluginManager",
    "get_plugin_manager",
    "layer_registry",
    "new_plugin_manager",
]

ENTRY_POINT_GROUP = "intentroute"
LOAD_PLUGINS_ENV = "INTENTROUTE_LOAD_PLUGINS"
#: Modules registered as plugins after the entry points: the built-in layers.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "intentroute.layers.rules",
    "intentroute.layers.torch_bow",
    "intentroute.layers.llm",
)
BUILTIN = "intentroute (built-in)"


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers which distribution each plugin came from."""

    def __init__(self) -> None:
        super().__init__(ENTRY_POINT_GROUP)
        self.add_hookspecs(hookspecs)
        self.sources: dict[str, str] = {}
        #: installed plugins that failed to load, by entry-point name: (distribution, why)
        self.broken: dict[str, tuple[str, str]] = {}

    def register_plugin(self, plugin: object, name: str, source: str) -> None:
        """Register ``plugin`` under ``name``; ``source`` says where it came from (for listings)."""
        try:
            self.register(plugin, name=name)
        except ValueError as exc:
            raise PluginError(f"cannot register plugin {name!r} from {source}: {exc}") from exc
        self.sources[name] = source


_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """A registered layer factory and where it came from."""

    name: str
    factory: Callable[..., Any]
    plugin: str
    source: str

    @property
    def builtin(self) -> bool:
        return self.source == BUILTIN

    def availability(self) -> str | None:
        """``None`` when the layer can run here, else a one-line reason."""
        check = getattr(self.factory, "availability", None)
        if check is None:
            return None
        try:
            reason = check()
        except Exception as exc:  # a broken check must not break a listing
            return f"availability check failed: {type(exc).__name__}: {exc}"
        return None if reason is None else str(reason)


def _allowed_plugins() -> set[str] | None:
    raw = env_raw(LOAD_PLUGINS_ENV)
    if raw is None:
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


def _load_entrypoints(pm: PluginManager) -> None:
    allowed = _allowed_plugins()
    eps = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    if allowed is not None:
        known = {ep.name for ep in eps} | {ep.dist.name for ep in eps if ep.dist is not None}
        unknown = sorted(allowed - known)
        if unknown:
            raise PluginError(
                f"{LOAD_PLUGINS_ENV} names {', '.join(map(repr, unknown))}, which is not an "
                f"installed intentroute plugin; installed: {', '.join(sorted(known)) or 'none'}"
            )
    seen: set[str] = set()
    for ep in eps:
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "unknown distribution"
        if allowed is not None and ep.name not in allowed and (ep.dist is None or ep.dist.name not in allowed):
            continue
        if ep.name in seen:  # the same distribution visible twice on sys.path
            continue
        seen.add(ep.name)
        try:
            plugin = ep.load()
        except Exception as exc:
            message = (
                f"plugin {ep.name!r} ({dist}, entry point {ep.value!r}) failed to load: "
                f"{type(exc).__name__}: {exc}. Uninstall it, or set {LOAD_PLUGINS_ENV} to the "
                "plugins you want."
            )
            if allowed is not None:  # asked for by name: fail fast
                raise PluginError(message) from exc
            # one broken third-party plugin must not stop the built-ins and the other plugins:
            # it is skipped, logged, and listed by `intentroute layers`
            pm.broken[ep.name] = (dist, f"{type(exc).__name__}: {exc}")
            _log.error("%s It is skipped.", message)
            continue
        pm.register_plugin(plugin, ep.name, dist)


def new_plugin_manager(
    *, load_entrypoints: bool = True, default_plugins: tuple[str, ...] = DEFAULT_PLUGINS
) -> PluginManager:
    """A fresh plugin manager with the built-in layers (and, by default, installed plugins).

    Tests use one with ``load_entrypoints=False`` and register throwaway plugins on it.
    """
    pm = PluginManager()
    if load_entrypoints:
        _load_entrypoints(pm)
    for module_name in default_plugins:
        pm.register_plugin(importlib.import_module(module_name), module_name, BUILTIN)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin defines an unknown hook: {exc}") from exc
    return pm


_pm: PluginManager | None = None
_pm_lock = threading.Lock()


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, created (and plugins loaded) on first use."""
    global _pm
    with _pm_lock:
        if _pm is None:
            _pm = new_plugin_manager()
        return _pm


def layer_registry(pm: pluggy.PluginManager | None = None) -> dict[str, LayerInfo]:
    """Every registered layer factory by name.

    Raises :class:`PluginError` when two plugins register the same name, naming both.
    """
    pm = pm if pm is not None else get_plugin_manager()
    sources = getattr(pm, "sources", {})
    layers: dict[str, LayerInfo] = {}
    # Each implementation is called on its own so every layer is attributed to its plugin.
    for impl in pm.hook.register_layers.get_hookimpls():
        plugin_name = impl.plugin_name
        source = sources.get(plugin_name, "registered in code")

        def register(name: str, factory: Callable[..., Any], _p: str = plugin_name, _s: str = source) -> None:
            if not isinstance(name, str) or not name:
                raise PluginError(f"plugin {_p!r} registered a layer with an invalid name {name!r}")
            if not callable(factory):
                raise PluginError(f"plugin {_p!r} registered layer {name!r} with a non-callable")
            if name in layers:
                other = layers[name]
                raise PluginError(
                    f"layer name {name!r} is registered twice: by plugin {other.plugin!r} "
                    f"({other.source}) and by plugin {_p!r} ({_s})"
                )
            layers[name] = LayerInfo(name, factory, _p, _s)

        kwargs = {"register": register} if "register" in impl.argnames else {}
        impl.function(**kwargs)
    return dict(sorted(layers.items(), key=lambda kv: (not kv[1].builtin, kv[0])))


def factory_parameters(factory: Callable[..., Any]) -> inspect.Signature | None:
    """The signature of a layer factory, or ``None`` when it cannot be inspected."""
    try:
        return inspect.signature(factory)
    except (TypeError, ValueError):
        return None
