"""Plugin hooks of intentroute (pluggy project name ``"intentroute"``).

A plugin is a module or object with functions marked ``@intentroute.hookimpl``; installed
packages expose one through the ``intentroute`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["hookimpl", "hookspec", "register_layers"]

hookspec = pluggy.HookspecMarker("intentroute")
hookimpl = pluggy.HookimplMarker("intentroute")


@hookspec
def register_layers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register layer factories: call ``register(name, factory)`` once per layer.

    ``factory(**params)`` builds the layer from a config entry's ``params``. It may define a
    ``availability()`` classmethod/staticmethod returning ``None`` when it can run here, or a
    one-line reason (with the ``pip install`` that fixes it) when it cannot.
    """
