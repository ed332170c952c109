"""torch is only for training: the whole default cascade (rules and the classifier) and the CLI's
route work without it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.venvs import torchless_venv

BLOCK_TORCH = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked for this test")
        return None
sys.meta_path.insert(0, _Block())
"""


def test_import_does_not_import_torch() -> None:
    code = "import intentroute, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_rules_only_cascade_builds_and_routes_when_torch_cannot_be_imported() -> None:
    code = (
        BLOCK_TORCH
        + """
try:
    import torch
except ImportError:
    pass
else:
    raise SystemExit("torch was not blocked")
import intentroute
from intentroute.config import build_cascade
route = intentroute.default_cascade().route("what's tsla trading at")
assert route.intent == "quotes", route
c = build_cascade({"layers": [{"name": "rules"}]})
assert c.route("how much cash do i have").intent == "cash_balance"
from intentroute.cli import main
sys.argv = ["intentroute", "route", "list my holdings"]
main()
"""
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("positions_list")


@pytest.fixture(scope="module")
def no_torch_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return torchless_venv(tmp_path_factory.mktemp("venv-without-torch"))


def test_in_a_virtualenv_without_torch_the_default_cascade_routes_with_the_classifier(no_torch_python: Path) -> None:
    code = """
import importlib.util, json, sys
assert importlib.util.find_spec("torch") is None, "torch is installed here"
import intentroute
cascade = intentroute.default_cascade()
route = cascade.route("how did my roth do")
layer = next(layer for layer in cascade.layers if layer.name == "torch_bow")
print(json.dumps({"intent": route.intent, "layer": route.layer, "extracted": route.extracted,
                  "torch_loaded": "torch" in sys.modules, "status": layer.status()["torch_available"]}))
"""
    out = subprocess.run([str(no_torch_python), "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got == {
        "intent": "performance",
        "layer": "torch_bow",
        "extracted": {"account": "Roth IRA"},
        "torch_loaded": False,
        "status": False,
    }


def test_in_a_virtualenv_without_torch_training_says_which_extra_to_install(
    no_torch_python: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    gen = [str(no_torch_python), "-m", "intentroute", "generate", "--out", str(data), "--size", "300", "--seed", "1"]
    subprocess.run(gen, check=True, capture_output=True, timeout=120)
    train = [str(no_torch_python), "-m", "intentroute", "train", "--data", str(data), "--out", str(tmp_path / "b")]
    out = subprocess.run(train, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "pip install 'intentroute[torch]'" in out.stderr
    assert "Traceback" not in out.stderr
