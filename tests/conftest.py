from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

from intentroute.plugins import PluginManager, new_plugin_manager
from intentroute.types import Candidate, LayerResult

# `dev` explores; `ci` is derandomised so a CI run is reproducible. HYPOTHESIS_PROFILE picks one;
# an unknown name gets `dev`. Neither has a deadline or a too-slow health check: the suite must
# pass on a loaded machine, and speed is measured in benchmarks/, never asserted here. Neither runs
# the "explain" phase, which imports libcst on a failure, whose DeprecationWarnings would turn one
# failing example into an INTERNALERROR of the whole run under filterwarnings = error.
_ROBUST = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
    "phases": [phase for phase in Phase if phase is not Phase.explain],
}
settings.register_profile("dev", max_examples=100, **_ROBUST)
settings.register_profile("ci", max_examples=200, derandomize=True, **_ROBUST)
_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
settings.load_profile(_PROFILE if _PROFILE in ("dev", "ci") else "dev")

ROOT = Path(__file__).resolve().parent.parent


class FixedLayer:
    """A layer that always answers the same candidates (or raises, or abstains)."""

    def __init__(
        self,
        name: str,
        scores: dict[str, float] | None = None,
        raises: BaseException | None = None,
        extracted: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.scores = scores or {}
        self.raises = raises
        self.extracted = extracted or {}
        self.calls: list[str] = []

    def route(self, text: str) -> LayerResult:
        self.calls.append(text)
        if self.raises is not None:
            raise self.raises
        return LayerResult(
            [Candidate(i, s) for i, s in self.scores.items()],
            extracted=self.extracted,
            evidence=[f"fixed {self.name}"],
        )


@pytest.fixture
def fixed_layer() -> type[FixedLayer]:
    return FixedLayer


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small brokerage dataset with whole templates held out (2,200 examples, seed 3)."""
    from intentroute.data import GeneratorConfig, generate, load_templates, write_dataset
    from intentroute.domains import domain_path

    out = tmp_path_factory.mktemp("data")
    templates = load_templates(domain_path("brokerage", "templates.json"))
    write_dataset(generate(templates, GeneratorConfig(size=2200, seed=3, split="template")), out)
    return out


@pytest.fixture
def fresh_pm() -> Iterator[PluginManager]:
    """A plugin manager with the built-in layers and no installed plugins."""
    yield new_plugin_manager(load_entrypoints=False)


def run_cli(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
    """Run the real `python -m intentroute` in a subprocess."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "intentroute", *args],
        capture_output=True,
        text=True,
        input=input,
        env=full_env,
        timeout=120,
        cwd=ROOT,
    )
