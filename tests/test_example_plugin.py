"""The example third-party package, installed for real into a throwaway virtualenv."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from .conftest import ROOT

EXAMPLE = ROOT / "examples" / "third_party_layer"


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv that sees this environment's packages and has the example plugin installed."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # intentroute and its dependencies come from the test environment (its .pth files included)
    (Path(site) / "_parent_env.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--prefix",
            str(venv),
            str(EXAMPLE),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    return python


@pytest.mark.slow
def test_intentroute_layers_lists_the_installed_plugin(venv_python: Path) -> None:
    out = subprocess.run(
        [str(venv_python), "-m", "intentroute", "layers", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["smalltalk"]["source"] == "intentroute-example-layer 0.1.0"
    assert rows["smalltalk"]["plugin"] == "smalltalk" and rows["smalltalk"]["available"] is True
    assert "rules" in rows


@pytest.mark.slow
def test_a_cascade_uses_the_plugin_layer(venv_python: Path) -> None:
    out = subprocess.run(
        [
            str(venv_python),
            "-m",
            "intentroute",
            "route",
            "--config",
            str(EXAMPLE / "cascade.toml"),
            "--json",
            "hey there",
            "what's tsla trading at",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert (rows[0]["intent"], rows[0]["layer"]) == ("greeting", "smalltalk")
    assert (rows[1]["intent"], rows[1]["layer"]) == ("quotes", "rules")
    assert [s["layer"] for s in rows[1]["trace"]] == ["smalltalk", "rules"]


@pytest.mark.slow
def test_the_plugin_is_not_loaded_when_INTENTROUTE_LOAD_PLUGINS_excludes_it(venv_python: Path) -> None:
    import os

    out = subprocess.run(
        [str(venv_python), "-m", "intentroute", "layers", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "INTENTROUTE_LOAD_PLUGINS": ""},
    )
    assert out.returncode == 0, out.stderr
    assert "smalltalk" not in {r["name"] for r in json.loads(out.stdout)}
