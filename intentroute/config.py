"""Build a :class:`~intentroute.cascade.Cascade` from a dict, a TOML file or a JSON file.

This is the one place where layer names resolve to factories (through the plugin registry)::

    domain = "brokerage"          # embedded domain name or folder: extraction + known labels
    fallback = "clarify"          # or "best"
    max_chars = 4000

    [[layers]]
    name = "rules"                # a registered layer (see `intentroute layers`)
    threshold = 0.75
    margin = 0.1
    params = { rules = "./my_rules.toml" }

In a config file, string parameters starting with ``./`` or ``../`` are paths relative to the
file's folder.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pluggy

from . import legacy
from ._io import read_toml_or_json
from .cascade import FALLBACKS, Cascade
from .domains import DEFAULT_DOMAIN, domain_path, load_domain
from .env import env_str, env_unit_float
from .errors import ConfigError, IntentRouteError
from .plugins import factory_parameters, layer_registry
from .policies import load_policies
from .types import Policy
from .validation import is_number

__all__ = ["build_cascade", "default_cascade", "default_config", "load_config"]

_TOP_KEYS = {"domain", "extraction", "labels", "fallback", "max_chars", "trace_top", "layers", "policies"}
_LAYER_KEYS = {"name", "threshold", "margin", "force", "params"}


def load_config(source: Mapping[str, Any] | str | Path) -> tuple[dict[str, Any], str, Path | None]:
    """Read a config; returns ``(config, where, base_dir)``."""
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source)), "<config dict>", None
    path = Path(source)
    where = str(path)
    if path.suffix.lower() not in (".toml", ".json"):
        raise ConfigError("config files must end in .toml or .json", source=where)
    data = read_toml_or_json(path, "config file")
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a table/object", source=where)
    return data, where, path.resolve().parent


def _resolve_paths(value: Any, base: Path | None) -> Any:
    if base is not None and isinstance(value, str) and value.startswith(("./", "../")):
        return str((base / value).resolve())
    if isinstance(value, dict):
        return {k: _resolve_paths(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_paths(v, base) for v in value]
    return value


def _policy(entry: Mapping[str, Any], where: str, layer: str) -> Policy:
    for key in ("threshold", "margin"):
        v = entry.get(key, 0.0)
        if not is_number(v, 0.0, 1.0):
            raise ConfigError(f"must be a number in [0, 1], got {v!r}", source=where, layer=layer, param=key, value=v)
    force = entry.get("force", False)
    if not isinstance(force, bool):
        raise ConfigError(
            f"must be true or false, got {force!r}", source=where, layer=layer, param="force", value=force
        )
    return Policy(float(entry.get("threshold", 0.0)), float(entry.get("margin", 0.0)), force)


def _build_layer(
    entry: Mapping[str, Any], index: int, where: str, base: Path | None, registry: Mapping[str, Any]
) -> Any:
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"layers[{index}] needs a 'name' (one of: {', '.join(registry)})", source=where)
    unknown_keys = sorted(set(entry) - _LAYER_KEYS)
    if unknown_keys:
        raise ConfigError(
            f"unknown keys {unknown_keys}; a layer entry takes {sorted(_LAYER_KEYS)} "
            "(layer arguments go under 'params')",
            source=where,
            layer=name,
        )
    if name not in registry:
        raise ConfigError(
            f"unknown layer {name!r}; known layers: {', '.join(registry) or 'none'} "
            "(a plugin may be missing: see `intentroute layers`)",
            source=where,
            layer=name,
        )
    params = entry.get("params", {})
    if not isinstance(params, Mapping):
        raise ConfigError(f"'params' must be a table, got {params!r}", source=where, layer=name)
    params = _resolve_paths(dict(params), base)
    factory = registry[name].factory
    sig = factory_parameters(factory)
    if sig is not None:
        try:
            sig.bind(**params)
        except TypeError as exc:
            accepted = [p for p in sig.parameters if p not in ("self", "args", "kwargs")]
            bad = next((p for p in params if p not in sig.parameters), None)
            raise ConfigError(
                f"{exc}; accepted parameters: {', '.join(accepted) or 'none'}",
                source=where,
                layer=name,
                param=bad,
                value=None if bad is None or _SECRET.search(bad) else params.get(bad),
            ) from exc
    try:
        return factory(**params)
    except ConfigError as exc:
        if exc.layer:
            raise
        raise ConfigError(str(exc), source=where, layer=name, param=None, value=exc.value) from exc
    except IntentRouteError:
        raise
    except Exception as exc:  # a plugin's factory may raise anything; the config is what names it
        shown = ", ".join(f"{k}={_shown(k, v)}" for k, v in params.items())
        raise ConfigError(
            f"cannot build layer with {shown or 'no parameters'}: {type(exc).__name__}: {exc}",
            source=where,
            layer=name,
        ) from exc


#: parameter names whose values never appear in an error message
_SECRET = re.compile(r"key|token|secret|password|credential|auth", re.IGNORECASE)


def _shown(name: str, value: Any) -> str:
    """``value`` as an error message may show it: a secret's (``api_key``, ``token`` ...) masked."""
    return "'***'" if _SECRET.search(name) and value else repr(value)


def _policy_overrides(value: Any, where: str, base: Path | None) -> dict[str, Policy]:
    """``policies``: a file written by ``intentroute tune`` or a table ``{layer: {threshold, margin}}``."""
    if value is None:
        return {}
    if isinstance(value, str):
        return load_policies(_resolve_paths(value, base) if value.startswith(("./", "../")) else value)
    if not isinstance(value, Mapping):
        raise ConfigError(f"'policies' must be a file path or a table of layer -> policy, got {value!r}", source=where)
    return {str(name): _policy(spec, where, str(name)) for name, spec in value.items() if isinstance(spec, Mapping)}


def build_cascade(
    config: Mapping[str, Any] | str | Path, *, plugin_manager: pluggy.PluginManager | None = None
) -> Cascade:
    """Build a cascade from a config dict or a ``.toml``/``.json`` file.

    Raises :class:`~intentroute.errors.ConfigError` for an unknown layer (listing the known ones),
    a bad parameter (naming the layer, the parameter and the value) or a malformed file.

    >>> config = {"domain": "brokerage", "layers": [{"name": "rules", "threshold": 0.75, "margin": 0.1}]}
    >>> cascade = build_cascade(config)
    >>> cascade.route("what's tsla trading at").intent
    'quotes'
    """
    data, where, base = load_config(config)
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"unknown keys {unknown}; expected some of {sorted(_TOP_KEYS)}", source=where)
    layers_cfg = data.get("layers")
    if not isinstance(layers_cfg, list) or not layers_cfg:
        raise ConfigError("'layers' must be a non-empty list of layer entries", source=where)
    fallback = data.get("fallback", "clarify")
    if fallback not in FALLBACKS:
        raise ConfigError(f"'fallback' must be one of {list(FALLBACKS)}, got {fallback!r}", source=where)

    extractor = None
    labels = data.get("labels")
    domain_ref = data.get("domain")
    if domain_ref is not None:
        if not isinstance(domain_ref, str):
            raise ConfigError(f"'domain' must be a domain name or folder, got {domain_ref!r}", source=where)
        domain = load_domain(_resolve_paths(domain_ref, base))
        if data.get("extraction", True):
            extractor = domain.extractor()
        if labels is None:
            labels = domain.labels
    if labels is not None and (not isinstance(labels, list) or not all(isinstance(x, str) for x in labels)):
        raise ConfigError(f"'labels' must be a list of intent names, got {labels!r}", source=where)

    overrides = _policy_overrides(data.get("policies"), where, base)
    registry = layer_registry(plugin_manager)
    layers, policies = [], []
    for i, entry in enumerate(layers_cfg):
        if not isinstance(entry, Mapping):
            raise ConfigError(f"layers[{i}] must be a table, got {entry!r}", source=where)
        layer = _build_layer(entry, i, where, base, registry)
        layers.append(layer)
        name = str(entry["name"])
        policies.append(overrides.get(name) or _policy(entry, where, name))
    unknown_policies = sorted(set(overrides) - {str(e["name"]) for e in layers_cfg})
    if unknown_policies:
        raise ConfigError(f"policies given for layers {unknown_policies} that the cascade does not have", source=where)
    kwargs: dict[str, Any] = {}
    for key in ("max_chars", "trace_top"):
        if key in data:
            kwargs[key] = data[key]
    try:
        cascade = Cascade(layers, policies, fallback=fallback, extractor=extractor, labels=labels, **kwargs)
    except ConfigError as exc:
        raise ConfigError(str(exc), source=where) from exc
    if plugin_manager is None:  # (a throwaway plugin manager cannot travel to another process)
        # pickled, the cascade is its config: a worker process builds its own (loading its bundle once)
        # (a file is read again there; a mapping travels as load_config's private copy, unchanged here)
        cascade.rebuild_from = (build_cascade, (data if isinstance(config, Mapping) else config,))
    return cascade


def default_config(domain: str = DEFAULT_DOMAIN) -> dict[str, Any]:
    """The config of ``default_cascade()``: the domain's ``cascade.toml``, the thresholds of its
    ``policies.toml`` (fitted by ``intentroute tune``; the classifier's only for the embedded
    bundle, not one chosen by :data:`TORCH_BUNDLE_VARIABLES`), then the legacy pipeline's environment
    variables (:data:`ENV_OVERRIDES`)."""
    raw_config, _, base = load_config(domain_path(domain, "cascade.toml"))
    data: dict[str, Any] = _resolve_paths(raw_config, base)
    fitted = domain_path(domain, "policies.toml")
    if fitted.exists() and "policies" not in data:
        # thresholds fitted by `intentroute tune`, written into the layer entries so that the
        # environment variables below still override them
        # the classifier's fitted threshold is for the embedded bundle: a bundle chosen with the
        # legacy TORCH_ROUTER_*_PATH variables keeps the configured threshold
        other_bundle = legacy.other_bundle_from_env()
        for name, pol in load_policies(fitted).items():
            if name == "torch_bow" and other_bundle:
                continue
            for entry in data.get("layers", []):
                if entry.get("name") == name:
                    entry.update(threshold=pol.threshold, margin=pol.margin)
    for (layer_name, field), value in legacy.policy_overrides().items():
        for entry in data.get("layers", []):
            if entry.get("name") == layer_name:
                entry[field] = value
    llm = _llm_entry()
    if llm is not None and not any(e.get("name") == "llm" for e in data.get("layers", [])):
        data["layers"].append(llm)
    return data


def _llm_entry() -> dict[str, Any] | None:
    """The LLM layer of the default cascade, present only when an endpoint is configured (as the
    legacy pipeline calls its LLM only when ``OPENAI_API_KEY`` is set)."""
    if not (env_str("OPENAI_API_KEY") or env_str("INTENTROUTE_LLM_BASE_URL")):
        return None
    threshold = env_unit_float("INTENTROUTE_LLM_THRESHOLD", 0.5)
    params: dict[str, Any] = {}
    log_file = env_str("INTENTROUTE_LLM_LOG")
    if log_file:
        params["log_file"] = log_file
    return {"name": "llm", "threshold": threshold, "params": params}


def default_cascade(domain: str = DEFAULT_DOMAIN, *, plugin_manager: pluggy.PluginManager | None = None) -> Cascade:
    """The embedded default cascade of ``domain`` (the brokerage assistant unless told otherwise)."""
    return build_cascade(default_config(domain), plugin_manager=plugin_manager)
