"""A faithful re-implementation of the seed's generate_intent_dataset.py, for benchmarks only.

It keeps the seed's defects on purpose (first MAX_COMBOS combinations, unseeded global RNG,
set-ordered variants) so they can be measured against intentroute's generator.
"""

from __future__ import annotations

import random
import re
from itertools import product
from typing import Any

PLACEHOLDER_RE = re.compile(r"\{([A-Z_]+)\}")


def _render(template: str, slots: dict[str, list[str]], max_combos: int) -> list[str]:
    keys = PLACEHOLDER_RE.findall(template)
    if not keys:
        return [template]
    values = [slots.get(k, []) for k in keys]
    if any(not v for v in values):
        return [template]
    combos = list(product(*values))[:max_combos]
    out = []
    for combo in combos:
        text = template
        for key, value in zip(keys, combo, strict=True):
            text = text.replace(f"{{{key}}}", value)
        out.append(text)
    return out


def _variants(text: str, typos: dict[str, list[str]]) -> set[str]:
    variants = {text, text.lower(), re.sub(r"[\?\.!,,]", "", text)}
    for word, typo_list in typos.items():
        for typo in typo_list:
            if word in text.lower():
                variants.add(re.sub(word, typo, text, flags=re.IGNORECASE))
    m = re.search(r"\b([A-Z]{1,5})\b", text)
    if m and "performance" in text.lower():
        variants.add(f"{m.group(1)} perf")
        variants.add(f"{m.group(1)} performance")
    return variants


def _affix(text: str, prefixes: list[str], suffixes: list[str], slots: dict[str, list[str]]) -> str:
    prefix = random.choice(prefixes) if prefixes else ""
    suffix = random.choice(suffixes) if suffixes else ""
    if "{ACCOUNT}" in suffix and slots.get("ACCOUNT"):
        suffix = suffix.replace("{ACCOUNT}", random.choice(slots["ACCOUNT"]))
    return " ".join(p for p in (prefix.strip(), text.strip(), suffix.strip()) if p).strip()


def legacy_generate(templates: Any, target: int, max_combos: int = 200) -> list[dict[str, str]]:
    """The seed's algorithm on intentroute's parsed templates (first surface form of each)."""
    items: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for intent, ts in templates.intents.items():
        for t in ts:
            for text in _render(t.forms[0], templates.slots, max_combos):
                for v in _variants(text, templates.typos):
                    if (v, intent) not in seen:
                        seen.add((v, intent))
                        items.append({"text": v, "intent": intent})
    base = list(items)
    attempts = 0
    while len(items) < target and attempts < target * 20:
        attempts += 1
        row = random.choice(base)
        text = _affix(row["text"], templates.prefixes, templates.suffixes, templates.slots)
        if (text, row["intent"]) not in seen:
            seen.add((text, row["intent"]))
            items.append({"text": text, "intent": row["intent"]})
    random.shuffle(items)
    return items[:target]
