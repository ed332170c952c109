"""The dataset generator: templates -> balanced, de-duplicated, split JSONL files.

Unlike the legacy pipeline's generator it draws slot combinations uniformly from *all*
combinations (that one kept the first ``INTENT_MAX_COMBOS``, so a two-slot template only ever saw
the first few values of the first slot), is reproducible for a random seed in any process, drops
texts that two intents share, and can hold whole templates out of training (``split="template"``)
so validation and test accuracy measure generalisation to phrasings the model never saw. About
420 lines: generation, the splits, writing the files and the summary of what was written.
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .. import legacy
from .._io import atomic_write_files
from ..errors import ConfigError
from ..text import tokenize
from ..validation import is_number
from .augment import add_affixes, char_noise, variants
from .fragments import background_fragments, fragment_forms
from .templates import PLACEHOLDER_RE, Template, TemplateSet

__all__ = [
    "SPLIT_FILES",
    "Dataset",
    "Example",
    "GeneratorConfig",
    "format_summary",
    "generate",
    "render_template",
    "write_dataset",
]

SPLIT_FILES = {"train": "intent_train.jsonl", "val": "intent_val.jsonl", "test": "intent_test.jsonl"}
SUMMARY_FILE = "dataset_summary.json"
_DRY_AFTER = 5000  # draws in a row without a new text, after which an intent's templates count as exhausted
Split = Literal["random", "template"]


def _sample_indices(rng: random.Random, total: int, k: int) -> list[int]:
    """``k`` distinct indices below ``total``, as ``rng.sample(range(total), k)`` draws them;
    beyond what ``range`` can hold (more than ``sys.maxsize`` combinations) by rejection, where
    a repeat is all but impossible."""
    if total <= sys.maxsize:
        return rng.sample(range(total), k)
    picks: dict[int, None] = {}
    while len(picks) < k:
        picks[rng.randrange(total)] = None
    return list(picks)


@dataclass(frozen=True)
class GeneratorConfig:
    """How to generate. ``size`` and ``max_combos`` default to the legacy pipeline's environment variables.

    ``affix_rate``: share of examples given a random prefix and suffix; ``noise_rate``: share given
    one character-level typing error; ``variants``: add the legacy pipeline's case/punctuation/typo variants.
    ``fragments``: add to the training split, as the background class ``background`` (which the
    templates must have), the opening words the domain's requests share ("what", "how much",
    "what is my"; :mod:`intentroute.data.fragments`), each as found, capitalised and with a
    question mark, so the classifier learns that they alone are not a request.
    """

    size: int = field(default_factory=legacy.dataset_size)
    max_combos: int = field(default_factory=legacy.max_combos)
    seed: int = 7
    split: Split = "random"
    affix_rate: float = 0.5
    noise_rate: float = 0.05
    variants: bool = True
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    fragments: bool = False
    background: str = "none"

    def __post_init__(self) -> None:
        for name in ("size", "max_combos"):
            v = getattr(self, name)
            if not is_number(v, 1, integer=True):
                raise ConfigError(f"must be a positive integer, got {v!r}", param=name, value=v)
        if not is_number(self.seed, integer=True):
            raise ConfigError(f"must be an integer, got {self.seed!r}", param="seed", value=self.seed)
        if self.split not in ("random", "template"):
            raise ConfigError(f"must be 'random' or 'template', got {self.split!r}", param="split", value=self.split)
        for name in ("affix_rate", "noise_rate", "val_fraction", "test_fraction"):
            v = getattr(self, name)
            if not is_number(v, 0.0, 1.0):
                raise ConfigError(f"must be a number in [0, 1], got {v!r}", param=name, value=v)
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ConfigError("val_fraction + test_fraction must leave room for training data")
        if not isinstance(self.fragments, bool):
            raise ConfigError(f"must be true or false, got {self.fragments!r}", param="fragments", value=self.fragments)
        if not isinstance(self.background, str) or not self.background:
            raise ConfigError(
                f"must be an intent name, got {self.background!r}", param="background", value=self.background
            )


@dataclass(frozen=True, slots=True)
class Example:
    """One generated utterance."""

    text: str
    intent: str
    template_id: str
    slot_values: tuple[tuple[str, str], ...] = ()
    affixed: bool = False
    noisy: bool = False
    variant: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {"text": self.text, "intent": self.intent, "template_id": self.template_id}, ensure_ascii=False
        )


@dataclass
class Dataset:
    """The generated splits and a summary of what was made."""

    train: list[Example]
    val: list[Example]
    test: list[Example]
    summary: dict[str, Any]

    @property
    def splits(self) -> dict[str, list[Example]]:
        return {"train": self.train, "val": self.val, "test": self.test}


def render_template(
    template: Template, slots: dict[str, list[str]], max_combos: int, rng: random.Random
) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """Up to ``max_combos`` renderings of ``template``, drawn uniformly from all of them.

    The combinations are (surface form) x (a value for every placeholder occurrence); they are
    numbered and a uniform sample of the numbers is decoded, so nothing is enumerated in full.
    Returns ``(text, ((slot, value), ...))`` pairs in the order drawn.
    """
    per_form = []
    for form in template.forms:
        keys = PLACEHOLDER_RE.findall(form)
        n = 1
        for k in keys:
            n *= len(slots[k])
        per_form.append((form, keys, n))
    total = sum(n for _, _, n in per_form)
    picks = _sample_indices(rng, total, min(total, max_combos))
    rendered = []
    for pick in picks:
        idx = 0
        while pick >= per_form[idx][2]:
            pick -= per_form[idx][2]
            idx += 1
        form, keys, _ = per_form[idx]
        values = []
        for k in reversed(keys):  # mixed-radix decoding, last placeholder fastest
            pick, r = divmod(pick, len(slots[k]))
            values.append((k, slots[k][r]))
        values.reverse()
        pieces = PLACEHOLDER_RE.split(form)  # literal, name, literal, name, ..., literal
        pieces[1::2] = [v for _, v in values]
        text = "".join(pieces)
        rendered.append((text, tuple(values)))
    return rendered


def _intent_quota(size: int, intents: Sequence[str]) -> dict[str, int]:
    base, extra = divmod(size, len(intents))
    return {intent: base + (1 if i < extra else 0) for i, intent in enumerate(intents)}


def generate(
    templates: TemplateSet,
    config: GeneratorConfig | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    extra: Sequence[tuple[str, str]] = (),
    extra_weight: int = 1,
) -> Dataset:
    """Generate a dataset from validated ``templates``; the same config gives the same dataset.

    ``extra`` labelled examples (reviewed LLM verdicts, real user messages) are added to the
    training split as they are, each ``extra_weight`` times (``template_id`` ``extra/N``); an
    example whose intent the templates do not have, whose words are already generated, or that is
    in the validation or test split, is skipped and counted (:func:`extra_examples`).
    """
    cfg = config or GeneratorConfig()
    if cfg.fragments and cfg.background not in templates.intents:
        raise ConfigError(
            f"fragments are examples of the background class {cfg.background!r}, which the templates do not have "
            f"(intents: {', '.join(templates.intents)}); merge a background class in (CLI: --background)",
            source=templates.source,
        )
    intents = list(templates.intents)
    quota = _intent_quota(cfg.size, intents)
    symbols = templates.slots.get("SYMBOL", [])
    by_intent: dict[str, list[Example]] = {}
    shortfall: dict[str, int] = {}
    for intent in intents:
        # one generator per intent, seeded by a string: reproducible in any process, and adding
        # an intent does not change the others
        rng = random.Random(f"{cfg.seed}:{intent}")
        pools: list[list[Example]] = []
        for t in templates.intents[intent]:
            pool: list[Example] = []
            for text, values in render_template(t, templates.slots, cfg.max_combos, rng):
                forms = variants(text, templates.typos, symbols) if cfg.variants else [text]
                pool.extend(Example(f, intent, t.id, values, variant=k > 0) for k, f in enumerate(forms))
            pools.append(pool)
        weights = [t.weight for t in templates.intents[intent]]
        seen: set[str] = set()
        chosen: list[Example] = []
        attempts = since_new = 0
        limit = 50 * quota[intent] + 1000
        # stop early once the templates have run dry: a few templates and a large size would
        # otherwise draw duplicates for minutes (the shortfall is reported either way)
        while len(chosen) < quota[intent] and attempts < limit and since_new < _DRY_AFTER:
            attempts += 1
            since_new += 1
            pool = rng.choices(pools, weights)[0]
            ex = pool[rng.randrange(len(pool))]
            text, affixed, noisy = ex.text, False, False
            if rng.random() < cfg.affix_rate:
                text = add_affixes(text, templates.prefixes, templates.suffixes, templates.slots, rng)
                affixed = text != ex.text
            if rng.random() < cfg.noise_rate:
                text = char_noise(text, rng)
                noisy = text != ex.text
            if text in seen:
                continue
            seen.add(text)
            since_new = 0
            chosen.append(Example(text, intent, ex.template_id, ex.slot_values, affixed, noisy, ex.variant))
        if len(chosen) < quota[intent]:
            shortfall[intent] = quota[intent] - len(chosen)
        by_intent[intent] = chosen
        if progress is not None:
            progress(intent)

    # a text two intents share teaches the model nothing but noise: drop it from both
    owners: dict[str, set[str]] = defaultdict(set)
    for intent, exs in by_intent.items():
        for ex in exs:
            owners[" ".join(tokenize(ex.text))].add(intent)
    conflicts = {k for k, v in owners.items() if len(v) > 1}
    dropped = Counter[str]()
    for intent, exs in by_intent.items():
        kept = [ex for ex in exs if " ".join(tokenize(ex.text)) not in conflicts]
        dropped[intent] = len(exs) - len(kept)
        by_intent[intent] = kept

    rng = random.Random(f"{cfg.seed}:split")
    splits = _split(by_intent, templates, cfg, rng)
    n_fragments = _add_fragments(splits, templates, cfg) if cfg.fragments else 0
    extra_report = _add_extra(splits, templates, extra, extra_weight)
    summary = _summary(templates, cfg, splits, conflicts, dropped, shortfall)
    if cfg.fragments:
        summary["fragments"] = n_fragments
    if extra:
        summary["extra"] = extra_report
    return Dataset(splits["train"], splits["val"], splits["test"], summary)


def _add_fragments(splits: dict[str, list[Example]], templates: TemplateSet, cfg: GeneratorConfig) -> int:
    """Append the background fragments' forms to the training split; returns how many were added.
    Fragments go to training only, so the validation and test splits stay what they were."""
    requests = [ex.text for exs in splits.values() for ex in exs if ex.intent != cfg.background]
    seen = {ex.text for exs in splits.values() for ex in exs}
    added = 0
    for i, fragment in enumerate(background_fragments(templates, background=cfg.background, requests=requests)):
        for form in fragment_forms(fragment):
            if form not in seen:
                seen.add(form)
                splits["train"].append(Example(form, cfg.background, f"fragment/{i:04d}"))
                added += 1
    return added


def _add_extra(
    splits: dict[str, list[Example]], templates: TemplateSet, extra: Sequence[tuple[str, str]], weight: int
) -> dict[str, int]:
    added, report = extra_examples(
        extra,
        intents=templates.intents,
        train=[ex.text for ex in splits["train"]],
        held_out=[ex.text for split in ("val", "test") for ex in splits[split]],
        weight=weight,
    )
    splits["train"].extend(added)
    return report


def text_key(text: str) -> str:
    """What two texts must share to count as the same example: their words, lower-cased."""
    return " ".join(tokenize(text))


def extra_examples(
    extra: Sequence[tuple[str, str]],
    *,
    intents: Any,
    train: Sequence[str],
    held_out: Sequence[str],
    weight: int = 1,
) -> tuple[list[Example], dict[str, int]]:
    """The training examples to add for ``extra`` ``(text, intent)`` pairs (reviewed verdicts,
    real messages), and a count of what was left out.

    An example is left out when its intent is not in ``intents``, when its words (:func:`text_key`)
    are those of a ``held_out`` text (the validation and test splits: an example there must never
    be trained on) or of a ``train`` text or an earlier extra example (so adding the same file
    twice adds nothing twice). Each one kept is added ``weight`` times (``template_id``
    ``extra/N``), to count more than one generated phrasing does.
    """
    if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
        raise ConfigError(f"the extra examples' weight must be a positive integer, got {weight!r}")
    held = {text_key(t) for t in held_out}
    seen = {text_key(t) for t in train}
    report = {"given": len(extra), "added": 0, "unknown_intent": 0, "duplicates": 0, "held_out": 0, "weight": weight}
    out: list[Example] = []
    for i, (text, intent) in enumerate(extra):
        key = text_key(text)
        if intent not in intents:
            report["unknown_intent"] += 1
        elif key in held:
            report["held_out"] += 1
        elif key in seen or not key:
            report["duplicates"] += 1
        else:
            seen.add(key)
            out.extend(Example(text, intent, f"extra/{i:04d}") for _ in range(weight))
            report["added"] += 1
    return out, report


def _split(
    by_intent: dict[str, list[Example]], templates: TemplateSet, cfg: GeneratorConfig, rng: random.Random
) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {"train": [], "val": [], "test": []}
    if cfg.split == "random":
        items = [ex for exs in by_intent.values() for ex in exs]
        rng.shuffle(items)
        n = len(items)
        a = int(n * (1 - cfg.val_fraction - cfg.test_fraction))
        b = int(n * (1 - cfg.test_fraction))
        return {"train": items[:a], "val": items[a:b], "test": items[b:]}
    for intent, exs in by_intent.items():
        ids = [t.id for t in templates.intents[intent]]
        rng.shuffle(ids)
        n = len(ids)
        n_val = max(1, round(n * cfg.val_fraction)) if n >= 3 else 0
        n_test = max(1, round(n * cfg.test_fraction)) if n >= 3 else 0
        where = {tid: "test" for tid in ids[:n_test]}
        where.update({tid: "val" for tid in ids[n_test : n_test + n_val]})
        for ex in exs:
            out[where.get(ex.template_id, "train")].append(ex)
    for items in out.values():
        rng.shuffle(items)
    return out


def _summary(
    templates: TemplateSet,
    cfg: GeneratorConfig,
    splits: dict[str, list[Example]],
    conflicts: set[str],
    dropped: Counter[str],
    shortfall: dict[str, int],
) -> dict[str, Any]:
    all_ex = [ex for exs in splits.values() for ex in exs]
    per_intent: dict[str, dict[str, int]] = {}
    for intent, ts in templates.intents.items():
        row = {name: sum(ex.intent == intent for ex in exs) for name, exs in splits.items()}
        row["templates"] = len(ts)
        row["held_out_templates"] = (
            len({ex.template_id for ex in splits["val"] + splits["test"] if ex.intent == intent})
            if cfg.split == "template"
            else 0
        )
        per_intent[intent] = row
    used: dict[str, set[str]] = defaultdict(set)
    for ex in all_ex:
        for slot, value in ex.slot_values:
            used[slot].add(value)
    referenced = {p for t in templates.templates for p in t.placeholders}
    coverage = {
        slot: {
            "values": len(values),
            "seen": len(used[slot]),
            "unseen": [v for v in values if v not in used[slot]],
        }
        for slot, values in templates.slots.items()
        if slot in referenced
    }
    n = max(1, len(all_ex))
    return {
        "config": asdict(cfg),
        "templates_file": templates.source,
        "size": len(all_ex),
        "splits": {name: len(exs) for name, exs in splits.items()},
        "per_intent": per_intent,
        "templates": len(templates.templates),
        "slot_coverage": coverage,
        "affix_share": round(sum(ex.affixed for ex in all_ex) / n, 4),
        "noise_share": round(sum(ex.noisy for ex in all_ex) / n, 4),
        "variant_share": round(sum(ex.variant for ex in all_ex) / n, 4),
        "conflicts": {
            "texts": len(conflicts),
            "examples_dropped": dict(dropped),
            "sample": sorted(conflicts)[:5],
        },
        "shortfall": shortfall,
    }


def write_dataset(dataset: Dataset, out_dir: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Write ``intent_{train,val,test}.jsonl`` and ``dataset_summary.json`` into ``out_dir``.

    All four files are written atomically together. Existing files are not replaced unless
    ``overwrite`` is true (:class:`~intentroute.errors.ConfigError` names them).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a folder")
    targets = {out / SPLIT_FILES[name]: exs for name, exs in dataset.splits.items()}
    summary_path = out / SUMMARY_FILE
    existing = [p for p in (*targets, summary_path) if p.exists()]
    if existing and not overwrite:
        raise ConfigError(
            f"{out}: would overwrite {', '.join(p.name for p in existing)}; "
            "pass overwrite=True (CLI: --force) or choose another folder"
        )
    files = {p: "".join(ex.to_json() + "\n" for ex in exs).encode("utf-8") for p, exs in targets.items()}
    files[summary_path] = (json.dumps(dataset.summary, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    atomic_write_files(files)
    return list(files)


def format_summary(summary: dict[str, Any]) -> str:
    """A one-screen text summary of a generated dataset."""
    cfg = summary["config"]
    lines = [
        f"templates: {summary['templates_file']} ({summary['templates']} templates)",
        f"seed {cfg['seed']}, split {cfg['split']}, size {summary['size']} of {cfg['size']} requested, "
        f"max combos {cfg['max_combos']}",
        f"{'intent':<20}{'train':>7}{'val':>6}{'test':>6}{'templates':>11}",
    ]
    for intent, row in summary["per_intent"].items():
        held = f" ({row['held_out_templates']} held out)" if row.get("held_out_templates") else ""
        lines.append(f"{intent:<20}{row['train']:>7}{row['val']:>6}{row['test']:>6}{row['templates']:>11}{held}")
    sp = summary["splits"]
    lines.append(f"{'total':<20}{sp['train']:>7}{sp['val']:>6}{sp['test']:>6}")
    cov = ", ".join(f"{k} {v['seen']}/{v['values']}" for k, v in summary["slot_coverage"].items())
    lines.append(f"slot coverage: {cov}")
    lines.append(
        f"affixed {summary['affix_share']:.1%}, typing noise {summary['noise_share']:.1%}, "
        f"variants {summary['variant_share']:.1%}"
    )
    conflicts = summary["conflicts"]
    lines.append(
        f"conflicting texts dropped: {conflicts['texts']}"
        + (f" (e.g. {', '.join(map(repr, conflicts['sample'][:3]))})" if conflicts["texts"] else "")
    )
    if "fragments" in summary:
        lines.append(
            f"background fragments: {summary['fragments']} added to train as {summary['config']['background']!r}"
        )
    if "extra" in summary:
        e = summary["extra"]
        lines.append(
            f"extra examples: {e['added']} of {e['given']} added to train"
            + (f", each {e['weight']} times" if e.get("weight", 1) > 1 else "")
            + f" ({e['duplicates']} duplicates, {e.get('held_out', 0)} in the validation or test split, "
            f"{e['unknown_intent']} with unknown intents skipped)"
        )
    if summary["shortfall"]:
        short = ", ".join(f"{k} -{v}" for k, v in summary["shortfall"].items())
        lines.append(f"shortfall (not enough distinct texts): {short}")
    return "\n".join(lines)
