"""torch is only for training: the rule layer, the cascade and the CLI's route work without it."""

from __future__ import annotations

import subprocess
import sys

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
