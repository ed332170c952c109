"""Optional dependencies: whether each is installed, and the one line that says how to get it.

torch is needed only to train (and to read a folder of the legacy pipeline's files alone); the
openai SDK only for the LLM layer; matplotlib only for report plots.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from .errors import MissingDependency

__all__ = ["TORCH_MISSING", "import_torch", "torch_missing_reason"]

#: what to do when torch is needed and not installed
TORCH_MISSING = "torch is not installed: pip install 'intentroute[torch]'"


def torch_missing_reason() -> str | None:
    """``None`` when torch can be imported, else :data:`TORCH_MISSING`; imports nothing."""
    return TORCH_MISSING if importlib.util.find_spec("torch") is None else None


def import_torch() -> Any:
    """The torch module; a :class:`~intentroute.errors.MissingDependency` naming the extra when absent."""
    try:
        import torch
    except ImportError as exc:
        raise MissingDependency(TORCH_MISSING) from exc
    return torch
