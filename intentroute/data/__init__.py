"""Synthetic training data: templates, augmentation and the dataset generator."""

from __future__ import annotations

from .fragments import background_fragments
from .generate import Dataset, Example, GeneratorConfig, generate, write_dataset
from .templates import Template, TemplateSet, load_templates, merge_templates

__all__ = [
    "Dataset",
    "Example",
    "GeneratorConfig",
    "Template",
    "TemplateSet",
    "background_fragments",
    "generate",
    "load_templates",
    "merge_templates",
    "write_dataset",
]
