"""``intentroute serve`` under 32 concurrent HTTP clients on 127.0.0.1, beside the cascade in-process,
and through 20 hot reloads.

    python -m benchmarks.serve [--requests 4000] [--clients 32]

The server (one uvicorn worker) serves the brokerage cascade from a config whose classifier reads a
copy of the embedded bundle. 32 clients (one httpx.AsyncClient, 32 tasks) send ``POST /route`` for
held-out brokerage phrasings: requests/s and p50/p99 latency, beside ``route`` called in this
process on the same texts. Then the same load while the bundle folder is rewritten (an atomic folder
swap of the same files) and ``POST /reload`` is called 20 times: failed requests, and answers that
differ from the in-process cascade's (a half-loaded model would).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.heldout import brokerage_templates
from benchmarks.timing import quantiles_us
from intentroute.bundle import load_bundle, save_bundle
from intentroute.config import build_cascade
from intentroute.data import GeneratorConfig, generate
from intentroute.domains import domain_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def load(url: str, texts: list[str], clients: int, expected: dict[str, str]) -> dict[str, Any]:
    latencies: list[float] = []
    failures = 0
    wrong = 0
    queue = list(texts)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=clients)) as client:

        async def worker() -> None:
            nonlocal failures, wrong
            while queue:
                text = queue.pop()
                t0 = time.perf_counter()
                try:
                    r = await client.post("/route", json={"text": text})
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                if not ok:
                    failures += 1
                elif r.json()["intent"] != expected[text]:
                    wrong += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        seconds = time.perf_counter() - t0
    lat = sorted(latencies)
    return {
        "rps": len(texts) / seconds,
        "p50_ms": statistics.median(lat) * 1000,
        "p99_ms": lat[int(0.99 * len(lat))] * 1000,
        "failures": failures,
        "wrong": wrong,
    }


async def reloads(url: str, folder: Path, bundle: Any, n: int) -> int:
    done = 0
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for _ in range(n):
            await asyncio.to_thread(save_bundle, folder, bundle.vectorizer, bundle.classifier)
            r = await client.post("/reload")
            done += bool(r.json()["layers"]["torch_bow"]["reloaded"])
            await asyncio.sleep(0.05)
    return done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--clients", type=int, default=32)
    args = ap.parse_args()
    split = generate(brokerage_templates(), GeneratorConfig(seed=7, split="template"))
    distinct = [e.text for e in split.test]
    texts = [distinct[i % len(distinct)] for i in range(args.requests)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "bundle"
        shutil.copytree(domain_path("brokerage", "bundle"), folder)
        bundle = load_bundle(folder)
        config = Path(tmp) / "cascade.toml"
        source = (domain_path("brokerage", "cascade.toml")).read_text(encoding="utf-8")
        config.write_text(
            source.replace(
                'params = { confidence = "in_scope" }', f'params = {{ confidence = "in_scope", bundle = "{folder}" }}'
            ),
            encoding="utf-8",
        )
        cascade = build_cascade(config)  # what the server builds, in this process
        expected = {t: cascade.route(t).intent for t in distinct}
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "intentroute", "serve", "--config", str(config), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            plain = asyncio.run(load(url, texts, args.clients, expected))

            async def under_reloads() -> tuple[dict[str, Any], int]:
                routed, done = await asyncio.gather(
                    load(url, texts, args.clients, expected), reloads(url, folder, bundle, 20)
                )
                return routed, done

            stormy, reloaded = asyncio.run(under_reloads())
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    p50, p99 = quantiles_us(cascade.route, distinct[:2000])
    t0 = time.perf_counter()
    for t in texts:
        cascade.route(t)
    in_process = len(texts) / (time.perf_counter() - t0)
    print(f"{'':<46}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'failed':>8}{'differ':>8}")
    print(f"{'in-process route()':<46}{in_process:>12,.0f}{p50 / 1000:>10.3f}{p99 / 1000:>10.3f}{0:>8}{0:>8}")
    for name, row in (
        (f"intentroute serve, {args.clients} clients", plain),
        ("  the same during 20 hot reloads", stormy),
    ):
        print(
            f"{name:<46}{row['rps']:>12,.0f}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}"
            f"{row['failures']:>8}{row['wrong']:>8}"
        )
    print(f"reloads that swapped a model in: {reloaded} of 20")


if __name__ == "__main__":
    main()
