"""Embedded domains: the data a cascade needs to work right after install.

A domain is a folder holding ``domain.json`` (intents with descriptions, parameters and required
parameters; slot values for extraction), ``rules.toml`` and ``cascade.toml``. ``brokerage`` is the
default. :func:`load_domain` also accepts the path of a folder in the same shape.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..extract import ParamExtractor
from ..slots import slots_from_spec

__all__ = [
    "DEFAULT_DOMAIN",
    "Domain",
    "IntentSpec",
    "available_domains",
    "domain_file_or_path",
    "domain_path",
    "load_domain",
    "load_probes",
    "load_recipe",
    "probe_pairs",
]

DEFAULT_DOMAIN = "brokerage"
_ROOT = Path(__file__).resolve().parent


def available_domains() -> list[str]:
    """Names of the domains shipped inside the package."""
    return sorted(p.name for p in _ROOT.iterdir() if (p / "domain.json").is_file())


def _domain_dir(domain: str | Path) -> Path:
    if isinstance(domain, str) and domain in available_domains():
        return _ROOT / domain
    path = Path(domain)
    if not (path / "domain.json").is_file():
        raise ConfigError(
            f"not an embedded domain ({', '.join(available_domains())}) nor a folder with a domain.json",
            source=str(domain),
        )
    return path


def domain_file_or_path(ref: str | Path, filename: str) -> Path:
    """``ref``'s ``filename`` when ``ref`` names an embedded domain (and no file or folder of that
    name exists here), else ``ref`` itself as a path: how layers and the CLI accept either
    ``"brokerage"`` or a path."""
    if isinstance(ref, str) and ref in available_domains() and not Path(ref).exists():
        return _ROOT / ref / filename
    return Path(ref)


def domain_path(domain: str | Path, filename: str) -> Path:
    """The path of ``filename`` inside a domain folder (embedded name or path)."""
    return _domain_dir(domain) / filename


@dataclass(frozen=True, slots=True)
class IntentSpec:
    """An intent of a domain: what it means and which parameters it takes."""

    name: str
    description: str
    params: tuple[str, ...] = ()
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class Domain:
    """A loaded domain."""

    name: str
    root: Path
    description: str
    intents: dict[str, IntentSpec]
    slots: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return list(self.intents)

    def file(self, filename: str) -> Path:
        return self.root / filename

    def extractor(self) -> ParamExtractor:
        """A :class:`~intentroute.extract.ParamExtractor` for this domain."""
        return ParamExtractor(
            slots_from_spec(self.slots, str(self.file("domain.json"))),
            {n: s.params for n, s in self.intents.items()},
            {n: s.required for n, s in self.intents.items()},
        )


def _str_list(value: Any, where: str, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{what} must be a list of non-empty strings, got {value!r}", source=where)
    return tuple(value)


def load_domain(domain: str | Path = DEFAULT_DOMAIN) -> Domain:
    """Load an embedded domain by name, or a domain folder by path."""
    root = _domain_dir(domain)
    where = str(root / "domain.json")
    try:
        data = json.loads((root / "domain.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read domain file: {exc}", source=where) from exc
    if not isinstance(data, dict) or not isinstance(data.get("intents"), dict) or not data["intents"]:
        raise ConfigError("needs an 'intents' object of intent -> {description, params, required}", source=where)
    slots = data.get("slots", {})
    if not isinstance(slots, dict):
        raise ConfigError("'slots' must be an object", source=where)
    intents: dict[str, IntentSpec] = {}
    for name, spec in data["intents"].items():
        if not isinstance(spec, dict) or not isinstance(spec.get("description", ""), str):
            raise ConfigError(f"intent {name!r}: needs an object with a string 'description'", source=where)
        params = _str_list(spec.get("params", []), where, f"intent {name!r}: params")
        required = _str_list(spec.get("required", []), where, f"intent {name!r}: required")
        for p in (*params, *required):
            if p not in slots:
                raise ConfigError(f"intent {name!r}: parameter {p!r} has no entry under 'slots'", source=where)
        extra = sorted(set(required) - set(params))
        if extra:
            raise ConfigError(f"intent {name!r}: required {extra} not listed in params", source=where)
        intents[name] = IntentSpec(name, spec.get("description", ""), params, required)
    return Domain(
        name=str(data.get("name", root.name)),
        root=root,
        description=str(data.get("description", "")),
        intents=intents,
        slots=slots,
    )


def load_probes(domain: str | Path = DEFAULT_DOMAIN) -> dict[str, Any]:
    """The domain's ``probes.json``: hand-written utterances kept apart from its templates.

    Each group is either a list of texts the assistant must send to ``clarify`` or an object of
    intent -> texts it must route there; tests and benchmarks read the same lists. Keys starting
    with ``_`` are comments.

    >>> probes = load_probes("brokerage")
    >>> probe_pairs(probes["short_requests"])[0]
    ('cash', 'cash_balance')
    """
    where = domain_path(domain, "probes.json")
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read probe file: {exc}", source=str(where)) from exc
    if not isinstance(data, dict):
        raise ConfigError("a probe file holds an object of group -> texts", source=str(where))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def probe_pairs(group: dict[str, list[str]]) -> list[tuple[str, str]]:
    """``(text, intent)`` pairs of a probe group that maps intents to texts."""
    return [(text, intent) for intent, texts in group.items() for text in texts]


def load_recipe(domain: str | Path = DEFAULT_DOMAIN) -> dict[str, dict[str, Any]]:
    """The domain's ``recipe.toml``: how its embedded bundle is built, as the options of each
    ``intentroute`` command (``generate``, ``train``, ``tune``) by their command-line names.

    >>> load_recipe("brokerage")["train"]["preset"]
    'linear'
    """
    where = domain_path(domain, "recipe.toml")
    try:
        data = tomllib.loads(where.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read recipe file: {exc}", source=str(where)) from exc
    if not all(isinstance(data.get(k, {}), dict) for k in ("generate", "train", "tune")):
        raise ConfigError("a recipe holds [generate], [train] and [tune] tables of options", source=str(where))
    return data
