"""Utterance templates: the legacy pipeline's JSON format, validated, with Chatito-style extensions.

The file (the legacy pipeline's ``ml/intent_templates.json`` works as is)::

    {
      "intents": {
        "quotes": ["What's {SYMBOL} trading at?",
                   {"text": "(quote|price) for {SYMBOL} [please]", "weight": 2}]
      },
      "slots": {"SYMBOL": ["AAPL", "MSFT"]},
      "prefixes": ["please", "hey"],
      "suffixes": ["today", "in my {ACCOUNT}"],
      "typos": {"quote": ["qoute"]}
    }

Extensions: ``(a|b)`` picks one alternative, ``[word]`` is optional (both may hold placeholders,
not each other's brackets), and a template may be an object with a ``weight`` (default 1) that
scales how often it is drawn. Every problem is a :class:`~intentroute.errors.TemplateError` naming
the file, the intent and the template.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TemplateError
from ..validation import is_number

__all__ = ["PLACEHOLDER_RE", "Template", "TemplateSet", "expand_syntax", "load_templates", "merge_templates"]

PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TOP_KEYS = {"intents", "slots", "prefixes", "suffixes", "typos", "version", "description"}
MAX_FORMS = 512  # alternatives x optionals per template


@dataclass(frozen=True, slots=True)
class Template:
    """One template of one intent, with its alternative surface forms expanded."""

    intent: str
    index: int
    text: str
    weight: float
    forms: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.intent}/{self.index:03d}"

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for f in self.forms for p in PLACEHOLDER_RE.findall(f)))


@dataclass(frozen=True)
class TemplateSet:
    """A validated template file."""

    source: str
    intents: dict[str, list[Template]]
    slots: dict[str, list[str]]
    prefixes: list[str]
    suffixes: list[str]
    typos: dict[str, list[str]]

    @property
    def templates(self) -> list[Template]:
        return [t for ts in self.intents.values() for t in ts]


def expand_syntax(text: str) -> list[str]:
    """All surface forms of a template's ``(a|b)`` alternatives and ``[optional]`` parts.

    >>> expand_syntax("(show|list) [me] my holdings")
    ['show me my holdings', 'show my holdings', 'list me my holdings', 'list my holdings']
    >>> expand_syntax("price (USD)")
    ['price (USD)']

    Raises ``ValueError`` for unbalanced or nested brackets.
    """
    parts: list[list[str]] = []
    i = 0
    literal = []
    while i < len(text):
        ch = text[i]
        if ch in "[(":
            close = "]" if ch == "[" else ")"
            j = text.find(close, i + 1)
            inner_open = min((k for k in (text.find("[", i + 1), text.find("(", i + 1)) if k != -1), default=-1)
            if j == -1:
                raise ValueError(f"unclosed {ch!r} at position {i}")
            if inner_open != -1 and inner_open < j:
                raise ValueError(f"nested brackets at position {inner_open} are not supported")
            content = text[i + 1 : j]
            if ch == "(" and "|" not in content:
                literal.append(text[i : j + 1])  # ordinary parentheses
                i = j + 1
                continue
            parts.append(["".join(literal)])
            literal = []
            options = [o.strip() for o in content.split("|")]
            if ch == "[":
                options = [*options, ""]
            parts.append(options)
            i = j + 1
            continue
        if ch in "])":
            raise ValueError(f"unmatched {ch!r} at position {i}")
        literal.append(ch)
        i += 1
    parts.append(["".join(literal)])
    total = 1
    for p in parts:
        total *= len(p)
    if total > MAX_FORMS:
        raise ValueError(f"expands to {total} forms (more than {MAX_FORMS}); split it into several templates")
    forms = []
    for combo in itertools.product(*parts):
        form = re.sub(r"\s+", " ", "".join(combo)).strip()
        form = re.sub(r"\s+([?.!,])", r"\1", form)
        forms.append(form)
    return list(dict.fromkeys(f for f in forms if f))


def _fail(where: str, message: str) -> TemplateError:
    return TemplateError(f"{where}: {message}")


def _string_list(value: Any, where: str, what: str, *, allow_empty: bool = True) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(where, f"{what} must be a list of non-empty strings, got {value!r:.80}")
    if not value and not allow_empty:
        raise _fail(where, f"{what} has no values")
    return list(value)


def load_templates(source: str | Path | Mapping[str, Any]) -> TemplateSet:
    """Read and validate a template file (or an already-parsed mapping)."""
    if isinstance(source, Mapping):
        data: Any = source
        where = "<templates dict>"
    else:
        path = Path(source)
        where = str(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise _fail(where, f"cannot read template file: {exc.strerror or exc}") from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _fail(where, f"not valid JSON: {exc}") from exc
    if not isinstance(data, Mapping):
        raise _fail(where, "the top level must be an object with an 'intents' key")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise _fail(where, f"unknown keys {unknown}; expected some of {sorted(_TOP_KEYS)}")

    slots_raw = data.get("slots", {})
    if not isinstance(slots_raw, Mapping):
        raise _fail(where, "'slots' must be an object of slot name -> list of values")
    slots = {str(k): _string_list(v, where, f"slot {k!r}", allow_empty=False) for k, v in slots_raw.items()}
    prefixes = _string_list(data.get("prefixes", []), where, "'prefixes'")
    suffixes = _string_list(data.get("suffixes", []), where, "'suffixes'")
    for affix in (*prefixes, *suffixes):
        for name in PLACEHOLDER_RE.findall(affix):
            if name not in slots:
                raise _fail(where, f"affix {affix!r}: unknown placeholder {{{name}}}; slots are {sorted(slots)}")
    typos_raw = data.get("typos", {})
    if not isinstance(typos_raw, Mapping):
        raise _fail(where, "'typos' must be an object of word -> list of misspellings")
    typos = {str(k): _string_list(v, where, f"typos of {k!r}") for k, v in typos_raw.items()}

    intents_raw = data.get("intents")
    if not isinstance(intents_raw, Mapping) or not intents_raw:
        raise _fail(where, "'intents' must be a non-empty object of intent -> list of templates")
    intents: dict[str, list[Template]] = {}
    owner: dict[str, str] = {}
    for intent, items in intents_raw.items():
        if not isinstance(intent, str) or not intent.strip():
            raise _fail(where, f"intent names must be non-empty strings, got {intent!r}")
        if not isinstance(items, list):
            raise _fail(where, f"intent {intent!r}: templates must be a list, got {type(items).__name__}")
        if not items:
            raise _fail(where, f"intent {intent!r} has no templates")
        templates = []
        for index, item in enumerate(items):
            templates.append(_template(where, intent, index, item, slots, owner))
        intents[intent] = templates
    return TemplateSet(where, intents, slots, prefixes, suffixes, typos)


def _template(
    where: str, intent: str, index: int, item: Any, slots: Mapping[str, list[str]], owner: dict[str, str]
) -> Template:
    weight: Any = 1.0
    if isinstance(item, Mapping):
        extra = sorted(set(item) - {"text", "weight"})
        if extra:
            raise _fail(where, f"intent {intent!r}: template #{index}: unknown keys {extra}; expected text, weight")
        text, weight = item.get("text"), item.get("weight", 1.0)
    else:
        text = item
    if not isinstance(text, str) or not text.strip():
        raise _fail(where, f"intent {intent!r}: template #{index} must be a non-empty string, got {text!r:.80}")
    loc = f"intent {intent!r}: template {text!r}"
    if not is_number(weight, 0, 1000) or weight == 0:
        raise _fail(where, f"{loc}: weight must be a number in (0, 1000], got {weight!r}")
    key = " ".join(text.split())
    if key in owner:
        other = owner[key]
        same = "twice in this intent" if other == intent else f"also under intent {other!r}"
        raise _fail(where, f"{loc}: duplicate template ({same})")
    owner[key] = intent
    try:
        forms = expand_syntax(text)
    except ValueError as exc:
        raise _fail(where, f"{loc}: {exc}") from exc
    if not forms:
        raise _fail(where, f"{loc}: expands to nothing")
    for form in forms:
        for name in PLACEHOLDER_RE.findall(form):
            if name not in slots:
                raise _fail(where, f"{loc}: unknown placeholder {{{name}}}; slots are {sorted(slots)}")
    if re.search(r"[{}]", PLACEHOLDER_RE.sub("", text)):
        raise _fail(where, f"{loc}: malformed placeholder (a lone '{{' or '}}', or a name with spaces)")
    return Template(intent, index, text, float(weight), tuple(forms))


def merge_templates(base: TemplateSet, extra: TemplateSet) -> TemplateSet:
    """``base`` with the intents and slots of ``extra`` added (e.g. a background class).

    The affixes and typos stay ``base``'s. An intent in both, or a slot with different values in
    both, is a :class:`~intentroute.errors.TemplateError`.
    """
    both = sorted(set(base.intents) & set(extra.intents))
    if both:
        raise TemplateError(f"{extra.source}: intents {both} are already defined in {base.source}")
    for name, values in extra.slots.items():
        if name in base.slots and base.slots[name] != values:
            raise TemplateError(f"{extra.source}: slot {name!r} differs from the one in {base.source}")
    return TemplateSet(
        source=f"{base.source} + {extra.source}",
        intents={**base.intents, **extra.intents},
        slots={**base.slots, **extra.slots},
        prefixes=base.prefixes,
        suffixes=base.suffixes,
        typos=base.typos,
    )
