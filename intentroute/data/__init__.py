"""Synthetic training data: templates, augmentation, the dataset generator, and reading JSONL data."""

from __future__ import annotations

from .fragments import background_fragments
from .generate import Dataset, Example, GeneratorConfig, format_summary, generate, write_dataset
from .jsonl import LLM_MIN_CONFIDENCE, read_extra, read_jsonl, read_jsonl_rows
from .templates import Template, TemplateSet, load_templates, merge_templates

__all__ = [
    "LLM_MIN_CONFIDENCE",
    "Dataset",
    "Example",
    "GeneratorConfig",
    "Template",
    "TemplateSet",
    "background_fragments",
    "format_summary",
    "generate",
    "load_templates",
    "merge_templates",
    "read_extra",
    "read_jsonl",
    "read_jsonl_rows",
    "write_dataset",
]
