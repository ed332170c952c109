"""Compatibility with the original pipeline this library grew out of (a ``route_intent`` script
with rules, then a PyTorch bag-of-words model, then an LLM).

Everything that exists only to stay compatible with it is here, so the rest of the library can
speak of its own behaviour:

- its four artifact files, which every bundle still holds (``intent_router.pt``, ``_vocab.json``,
  ``_labels.json``, ``_config.json``), and a folder of just those files loads as a bundle;
- its environment variables: ``TORCH_ROUTER_MODEL_PATH`` / ``_VOCAB_PATH`` / ``_LABELS_PATH`` (a
  bundle given as three files), ``ROUTER_CONF_THRESHOLD``, ``TORCH_ROUTER_CONF_THRESHOLD`` and
  ``TORCH_ROUTER_FORCE`` (the default cascade's policies), ``INTENT_DATASET_SIZE`` and
  ``INTENT_MAX_COMBOS`` (the generator's defaults), ``OPENAI_API_KEY``;
- the keys of its ``torch_router_status()``, which the ``torch_bow`` layer's ``status()`` keeps;
- its feature settings (tokens ``[A-Za-z0-9']+`` lower-cased, word uni- and bigrams, 6,000 most
  frequent features, raw counts), the ``legacy`` training preset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .env import env_bool, env_positive_int, env_str, env_unit_float
from .errors import ConfigError
from .text import TOKEN_PATTERN

__all__ = [
    "CONFIG_FILE",
    "ENV_OVERRIDES",
    "LABELS_FILE",
    "LEGACY_FEATURIZER",
    "TORCH_BUNDLE_VARIABLES",
    "VOCAB_FILE",
    "WEIGHTS_FILE",
    "bundle_files_from_env",
    "dataset_size",
    "max_combos",
    "other_bundle_from_env",
    "policy_overrides",
    "status_keys",
]

#: the original pipeline's artifact files, in every bundle
WEIGHTS_FILE, VOCAB_FILE, LABELS_FILE, CONFIG_FILE = (
    "intent_router.pt",
    "intent_router_vocab.json",
    "intent_router_labels.json",
    "intent_router_config.json",
)

#: its featurizer: what a bundle without a manifest was trained with (BowVectorizer parameters)
LEGACY_FEATURIZER: dict[str, Any] = {
    "ngram_max": 2,
    "char_ngrams": None,
    "max_vocab": 6000,
    "weighting": "count",
    "sublinear_tf": False,
    "norm": None,
    "lowercase": True,
    "token_pattern": TOKEN_PATTERN,
}

#: the variables that point the ``torch_bow`` layer at a bundle given as three files: its
#: weights, vocabulary and labels, in that order
TORCH_BUNDLE_VARIABLES = ("TORCH_ROUTER_MODEL_PATH", "TORCH_ROUTER_VOCAB_PATH", "TORCH_ROUTER_LABELS_PATH")

#: the variables that set the default cascade's policies: variable -> (layer name, policy field)
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "ROUTER_CONF_THRESHOLD": ("rules", "threshold"),
    "TORCH_ROUTER_CONF_THRESHOLD": ("torch_bow", "threshold"),
    "TORCH_ROUTER_FORCE": ("torch_bow", "force"),
}


def bundle_files_from_env(default_weights: Path) -> tuple[Path, Path, Path, Path] | None:
    """``(weights, vocab, labels, config)`` when any of :data:`TORCH_BUNDLE_VARIABLES` is set,
    else ``None``. An unset one is the file of that name beside the weights (the default weights
    are ``default_weights``), as the original pipeline looked for them."""
    model, vocab, labels = (env_str(v) for v in TORCH_BUNDLE_VARIABLES)
    if not (model or vocab or labels):
        return None
    weights = Path(model) if model else default_weights
    root = weights.parent
    return (
        weights,
        Path(vocab) if vocab else root / VOCAB_FILE,
        Path(labels) if labels else root / LABELS_FILE,
        root / CONFIG_FILE,
    )


def other_bundle_from_env() -> bool:
    """Whether the variables choose another bundle than the embedded one."""
    return any(env_str(v) for v in TORCH_BUNDLE_VARIABLES)


def policy_overrides() -> dict[tuple[str, str], float | bool]:
    """``{(layer, field): value}`` for each of :data:`ENV_OVERRIDES` that is set."""
    out: dict[tuple[str, str], float | bool] = {}
    for var, (layer, field) in ENV_OVERRIDES.items():
        value = env_bool(var) if field == "force" else env_unit_float(var)
        if value is not None:
            out[(layer, field)] = value
    return out


def dataset_size() -> int:
    """``INTENT_DATASET_SIZE``: examples the generator makes by default (25,000)."""
    return env_positive_int("INTENT_DATASET_SIZE", 25000)


def max_combos() -> int:
    """``INTENT_MAX_COMBOS``: slot combinations drawn per template by default (200)."""
    return env_positive_int("INTENT_MAX_COMBOS", 200)


def status_keys(
    *, torch_available: bool, artifacts_present: bool, enabled: bool, ngram_max: int | None, token_pattern: str | None
) -> dict[str, Any]:
    """The keys of the original ``torch_router_status()``, first in the ``torch_bow`` layer's
    ``status()``. A bad threshold variable is reported (``env_error``) rather than raised: a
    diagnostics call must not fail."""
    env_error = None
    try:
        threshold = env_unit_float("TORCH_ROUTER_CONF_THRESHOLD", 0.6)
        force = env_bool("TORCH_ROUTER_FORCE", False)
    except ConfigError as exc:
        threshold, force, env_error = None, None, str(exc)
    return {
        "torch_available": torch_available,
        "artifacts_present": artifacts_present,
        "enabled": enabled,
        "confidence_threshold": threshold,
        "force_enabled": force,
        "ngram_max": ngram_max,
        "token_pattern": token_pattern,
        "env_error": env_error,
    }
