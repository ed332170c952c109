"""The embedded model's recipe (``intentroute/domains/brokerage/recipe.toml``), as commands.

    python -m benchmarks.recipe            # print the three commands
    python -m benchmarks.recipe --run      # run them: what `make model` does

``make model`` and the benchmarks that retrain the embedded model read the recipe from that one
file, so they cannot drift apart.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from intentroute.domains import domain_path, load_recipe

ROOT = Path(__file__).resolve().parent.parent
DATA = Path("build") / "model-data"  # relative to ROOT: the manifest records the data path


def train_overrides(domain: str = "brokerage") -> dict[str, Any]:
    """The classifier settings the recipe passes to ``train`` on top of its preset, as
    ``intentroute.train.train(overrides=...)`` takes them."""
    keys = {"lr": "lr", "weight-decay": "weight_decay", "input-dropout": "input_dropout"}
    return {keys[k]: v for k, v in load_recipe(domain)["train"].items() if k in keys}


def _options(options: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for name, value in options.items():
        if value is True:
            out.append(f"--{name}")
        elif value is not False:
            out += [f"--{name}", str(value)]
    return out


def commands(domain: str = "brokerage", data: Path = DATA) -> list[list[str]]:
    """The ``intentroute`` command lines that build the domain's bundle and policies from scratch,
    with paths relative to the repository's root (where they run)."""
    steps = load_recipe(domain)
    cli = [sys.executable, "-m", "intentroute"]
    bundle, policies, config = (
        domain_path(domain, name).relative_to(ROOT) for name in ("bundle", "policies.toml", "cascade.toml")
    )
    return [
        [*cli, "generate", "--out", str(data), *_options(steps["generate"])],
        [*cli, "train", "--data", str(data), "--out", str(bundle), *_options(steps["train"]), "--force"],
        [
            *cli,
            "tune",
            "--data",
            str(data / "intent_val.jsonl"),
            "--config",
            str(config),
            *_options(steps["tune"]),
            "--out",
            str(policies),
            "--force",
        ],
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="store_true", help="run the commands (rebuilds the embedded bundle)")
    args = ap.parse_args()
    if args.run:
        shutil.rmtree(ROOT / DATA, ignore_errors=True)
    for cmd in commands():
        print(" ".join(cmd[1:]), flush=True)
        if args.run:
            subprocess.run(cmd, check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
