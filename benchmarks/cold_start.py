"""What it costs to start serving: install size, and a new process's cold start, with and without torch.

    python -m benchmarks.cold_start [--runs 7] [--baseline REV]

Cold start is a new Python process that imports intentroute, builds ``default_cascade()`` (the
rules and the embedded classifier, loaded from its bundle) and routes one utterance the rules
cannot decide, so the classifier answers: the process's whole wall-clock time (interpreter
start-up included), the time of those three steps measured inside it, and its peak resident
memory (``ru_maxrss``). Median of ``--runs`` runs each, in this environment (torch installed) and
in a virtualenv where torch is not installed (benchmarks/venvs.py). Install size sums the files
each distribution's RECORD lists: intentroute with its required dependencies, then what the
``[torch]`` extra adds. ``--baseline REV`` adds a row for the library as it was at git revision
REV (checked out into a temporary worktree, run in this environment with torch installed).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.venvs import torchless_venv

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, resource, sys, time
t0 = time.perf_counter()
import intentroute
t1 = time.perf_counter()
cascade = intentroute.default_cascade()
t2 = time.perf_counter()
route = cascade.route("how did my roth do")
t3 = time.perf_counter()
assert route.layer == "torch_bow", route.explain()
print(json.dumps({"import_s": t1 - t0, "build_s": t2 - t1, "first_route_s": t3 - t2, "inside_s": t3 - t0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "torch_imported": "torch" in sys.modules, "sklearn_imported": "sklearn" in sys.modules}))
"""


def cold_start(python: Path | str, runs: int, source: Path | None = None) -> dict[str, float | bool]:
    """Medians of ``runs`` new processes of ``python`` (importing intentroute from ``source`` when given)."""
    env = {**os.environ, "PYTHONPATH": str(source)} if source else None
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(
            [str(python), "-c", PROBE], capture_output=True, text=True, check=True, env=env, cwd=source or ROOT
        )
        row = json.loads(out.stdout)
        row["process_s"] = time.perf_counter() - t0
        samples.append(row)
    return {
        k: statistics.median(s[k] for s in samples) if isinstance(samples[0][k], float) else samples[0][k]
        for k in samples[0]
    }


def _requirement_names(dist: md.Distribution, extras: tuple[str, ...] = ()) -> list[str]:
    names = []
    for req in dist.requires or []:
        name, _, marker = req.partition(";")
        wanted = re.findall(r"extra\s*==\s*['\"]([^'\"]+)", marker)
        if (not wanted and not marker.strip()) or any(e in extras for e in wanted):
            names.append(re.split(r"[\s<>=!~\[(]", name.strip(), maxsplit=1)[0])
    return names


def closure(roots: list[str]) -> set[str]:
    """The distributions ``roots`` need, themselves included (required dependencies only)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen.add(name)
        todo += _requirement_names(dist)
    return seen


def size_mb(names: set[str]) -> float:
    total = 0
    for name in names:
        for f in md.distribution(name).files or []:
            path = Path(str(f.locate()))
            if path.is_file():
                total += path.stat().st_size
    return total / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--baseline", metavar="REV", help="also time the library at this git revision")
    args = ap.parse_args()
    core = closure(["intentroute"])
    with_torch = closure(["torch"]) - core
    print(
        f"install size: intentroute + required dependencies {size_mb(core):.0f} MB ({len(core)} distributions); "
        f"the [torch] extra adds {size_mb(with_torch):.0f} MB ({len(with_torch)} distributions)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        rows = {
            "torch installed": cold_start(sys.executable, args.runs),
            "torch not installed": cold_start(torchless_venv(Path(tmp) / "venv"), args.runs),
        }
        if args.baseline:
            tree = Path(tmp) / "baseline"
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.baseline], check=True, cwd=ROOT)
            try:
                rows[f"{args.baseline}, torch installed"] = cold_start(sys.executable, args.runs, tree)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=True, cwd=ROOT)
    head = (
        f"{'cold start, median of ' + str(args.runs):<30}{'process s':>11}{'import s':>10}{'build s':>9}"
        f"{'1st route ms':>13}{'RSS MB':>8}  imported"
    )
    print(head)
    for name, r in rows.items():
        imported = ", ".join(m for m in ("torch", "sklearn") if r[f"{m}_imported"]) or "neither torch nor sklearn"
        print(
            f"{name:<30}{r['process_s']:>11.2f}{r['import_s']:>10.2f}{r['build_s']:>9.2f}"
            f"{1000 * r['first_route_s']:>13.1f}{r['rss_mb']:>8.0f}  {imported}"
        )


if __name__ == "__main__":
    main()
