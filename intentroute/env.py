"""Every environment variable intentroute reads is read here, through these functions.

A bad value is a :class:`~intentroute.errors.ConfigError` naming the variable and the value; an
unset or blank variable is the default. The variables themselves, and what they mean, are listed
in the README; those of the original pipeline are named in :mod:`intentroute.legacy`.
"""

from __future__ import annotations

import os

from .errors import ConfigError

__all__ = ["SERVE_CONFIG", "env_bool", "env_positive_int", "env_raw", "env_set", "env_str", "env_unit_float"]

#: the cascade config ``intentroute serve --config`` hands its worker processes
SERVE_CONFIG = "INTENTROUTE_SERVE_CONFIG"

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def env_raw(var: str) -> str | None:
    """The value of ``var`` as set: ``None`` when unset, ``""`` when set but empty."""
    return os.environ.get(var)


def env_set(var: str, value: str) -> None:
    """Set ``var`` for this process and the processes it starts (``intentroute serve``'s workers)."""
    os.environ[var] = value


def env_str(var: str, default: str | None = None) -> str | None:
    """The value of ``var`` (``default`` when unset or empty)."""
    return os.environ.get(var) or default


def env_unit_float(var: str, default: float | None = None) -> float | None:
    """A number in [0, 1] from environment variable ``var`` (``default`` when unset or blank)."""
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"environment variable {var}={raw!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"environment variable {var}={raw!r} must lie in [0, 1]")
    return value


def env_bool(var: str, default: bool | None = None) -> bool | None:
    """true/false (1/0, yes/no, on/off) from environment variable ``var`` (``default`` when unset)."""
    raw = os.environ.get(var, "").strip().lower()
    if not raw:
        return default
    if raw not in _TRUE | _FALSE:
        raise ConfigError(f"environment variable {var}={raw!r} must be true or false (1/0, yes/no)")
    return raw in _TRUE


def env_positive_int(var: str, default: int) -> int:
    """An integer >= 1 from environment variable ``var`` (``default`` when unset or blank)."""
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {var}={raw!r} is not an integer") from None
    if value < 1:
        raise ConfigError(f"environment variable {var}={raw!r} must be at least 1")
    return value
