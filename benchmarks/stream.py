"""Routing a large file: ``intentroute route --input`` streams it, beside ``route_batch`` in memory.

    python -m benchmarks.stream [--n 1000000] [--chunk-size 2048]

A JSONL file of ``--n`` records (the embedded generator's brokerage utterances with affixes,
variants and typos, 50,000 distinct ones repeated, each record with an id and a user field) is
routed to CSV by the command line in a new process: its wall-clock time, utterances/s and peak
resident memory (``ru_maxrss`` of the child). Beside it, in this process, ``route_batch`` on the
first 100,000 of the same texts held in memory, and the peak memory holding them and their routes.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import intentroute
from benchmarks.heldout import brokerage_templates
from intentroute.data import GeneratorConfig, generate


def texts_of(n_distinct: int) -> list[str]:
    ds = generate(brokerage_templates(), GeneratorConfig(size=n_distinct, seed=11))
    return [e.text for e in (*ds.train, *ds.val, *ds.test)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--chunk-size", type=int, default=2048)
    args = ap.parse_args()
    distinct = texts_of(50_000)
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "log.jsonl", Path(tmp) / "routed.csv"
        with open(src, "w", encoding="utf-8") as fh:
            for i in range(args.n):
                fh.write(json.dumps({"id": i, "user": i % 977, "text": distinct[i % len(distinct)]}) + "\n")
        size_mb = src.stat().st_size / 1e6
        t0 = time.perf_counter()
        command = ["route", "--input", str(src), "--output", str(out), "--chunk-size", str(args.chunk_size)]
        done = subprocess.run(
            [sys.executable, "-m", "intentroute", *command, "--no-progress"],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        with open(out, encoding="utf-8") as fh:
            lines = sum(1 for _ in fh)
    print(f"input: {args.n:,} JSONL records, {size_mb:,.0f} MB; output {lines - 1:,} CSV rows")
    print(f"{'':<44}{'seconds':>10}{'utterances/s':>16}{'peak RSS MB':>14}")
    print(f"{'intentroute route --input (new process)':<44}{seconds:>10.1f}{args.n / seconds:>16,.0f}{peak_mb:>14.0f}")
    cascade = intentroute.default_cascade()
    batch = [distinct[i % len(distinct)] for i in range(min(args.n, 100_000))]
    t0 = time.perf_counter()
    cascade.route_batch(batch)
    mem_s = time.perf_counter() - t0
    here_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    name = f"route_batch, {len(batch):,} texts in memory"
    print(f"{name:<44}{mem_s:>10.1f}{len(batch) / mem_s:>16,.0f}{here_mb:>14.0f}")
    print("\n" + done.stderr.strip())


if __name__ == "__main__":
    main()
