"""Throwaway virtualenvs for the benchmarks and tests that need an environment without torch."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

#: the top-level names torch installs into site-packages
TORCH_ENTRIES = ("torch", "torchgen", "functorch")


def torchless_venv(root: Path) -> Path:
    """A virtualenv in which torch is not installed: this environment's packages linked into its
    site-packages one by one, torch's own left out (``importlib.util.find_spec("torch")`` is
    ``None`` there, as after ``pip install intentroute`` without the extra). Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        name = entry.name.lower()
        if name in TORCH_ENTRIES or name.startswith("torch-"):
            continue
        (site / entry.name).symlink_to(entry)
    return python
