"""Faults and load, bounded in time, on 127.0.0.1 only: what an attacker or an unlucky operator does.

    python -m benchmarks.soak [--reloads 200] [--threads 8] [--kills 20] [--llm-calls 50]

Five probes, one table:

- hostile strings: random Unicode, control characters, 100 kB messages and ReDoS-shaped inputs
  through ``default_cascade().route`` and ``route_batch``: exceptions and the slowest route;
- reload storm: ``--threads`` threads route continuously while ``--reloads`` bundles are written
  over the one they use (a quarter of them broken: truncated weights, a temperature of "hot",
  NaN weights): exceptions, routes answered by no good model, and the route latencies;
- kill -9 during saves: a process saving bundles in a loop is killed ``--kills`` times at random
  moments: each time the folder must hold a whole bundle, or be absent with the previous one
  complete beside it;
- a dripping LLM server: ``--llm-calls`` routes through the LLM layer against a server that sends
  its answer one byte at a time: how far past the deadline a route returns;
- ReDoS patterns in a rules file: the slowest route through them (bounded by intentroute.patterns).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save

import intentroute
from intentroute import Cascade
from intentroute.bundle import load_bundle, save_bundle
from intentroute.errors import BundleError
from intentroute.estimators import BowVectorizer, TorchBowClassifier
from intentroute.layers.llm import LLMLayer
from intentroute.layers.rules import RuleLayer
from intentroute.layers.torch_bow import TorchBowLayer

ROWS: list[tuple[str, str, str, str, str]] = []


def row(probe: str, runs: int, errors: int, worst: str, note: str) -> None:
    ROWS.append((probe, str(runs), str(errors), worst, note))
    print(f"{probe}: runs {runs}, errors {errors}, {worst}; {note}", flush=True)


def hostile_strings(n: int, rng: random.Random) -> None:
    cascade = intentroute.default_cascade()
    alphabet = [chr(c) for c in (*range(0, 0x250), 0x200B, 0x202E, 0xFEFF, 0x1F600, 0xD7FF, 0x10FFFF)]
    texts = ["", " " * 10_000, "a" * 100_000, "best " * 800, "$" * 5000, "\x00" * 1000]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 400))) for _ in range(n)]
    errors, worst = 0, 0.0
    for text in texts:
        t0 = time.perf_counter()
        try:
            route = cascade.route(text)
            assert isinstance(route.intent, str) and math.isfinite(route.confidence)
        except Exception:
            errors += 1
        worst = max(worst, time.perf_counter() - t0)
    try:
        cascade.route_batch(texts)
    except Exception:
        errors += 1
    row("hostile strings", len(texts) + 1, errors, f"worst route {worst * 1000:.1f} ms", "route + one route_batch")


def _model(texts: list[str], labels: list[str]) -> tuple[BowVectorizer, TorchBowClassifier]:
    vec = BowVectorizer().fit(texts)
    return vec, TorchBowClassifier(hidden_size=0, epochs=20, random_state=0).fit(vec.transform(texts), labels)


def reload_storm(folder: Path, reloads: int, threads: int, rng: random.Random) -> None:
    a = _model(["price of aapl", "aapl quote", "my cash", "cash balance"], ["quotes", "quotes", "cash", "cash"])
    b = _model(["wire money", "deposit status", "what is a bond", "explain etfs"], ["transfers"] * 2 + ["facts"] * 2)
    good_labels = {"quotes", "cash", "transfers", "facts"}
    path = save_bundle(folder / "bundle", *a)
    layer = TorchBowLayer(path, reload_interval=0)
    cascade = Cascade([layer])
    stop = threading.Event()
    latencies: list[float] = []
    errors: list[str] = []
    wrong = [0]
    lock = threading.Lock()

    def route_forever() -> None:
        texts = ["price of aapl", "deposit status", "cash", "bond", "zzz"]
        mine: list[float] = []
        while not stop.is_set():
            for text in texts:
                t0 = time.perf_counter()
                try:
                    result = layer.route(text)
                    top = result.top
                    if top is not None and (top.intent not in good_labels or not math.isfinite(top.score)):
                        with lock:
                            wrong[0] += 1
                    cascade.route(text)
                except Exception as exc:
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=route_forever) for _ in range(threads)]
    for w in workers:
        w.start()
    bad = 0
    for i in range(reloads):
        model = a if i % 2 else b
        save_bundle(path, *model)
        if i % 4 == 3:  # a quarter of them broken, three ways
            bad += 1
            manifest = json.loads((path / "manifest.json").read_text())
            kind = (i // 4) % 3
            if kind == 0:
                (path / "intent_router.safetensors").write_bytes(b"\x00" * 64)
            elif kind == 1:
                manifest["temperature"] = "hot"
                (path / "manifest.json").write_text(json.dumps(manifest))
            else:
                arrays = load_bundle(path).weights
                data = save({**arrays, "linear.bias": np.full_like(arrays["linear.bias"], np.nan)})
                (path / "intent_router.safetensors").write_bytes(data)
                manifest["files"]["intent_router.safetensors"] = {
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "bytes": len(data),
                }
                (path / "manifest.json").write_text(json.dumps(manifest))
        time.sleep(rng.uniform(0.0, 0.01))
    stop.set()
    for w in workers:
        w.join()
    lat = sorted(latencies)
    p999 = lat[min(len(lat) - 1, int(0.999 * len(lat)))] * 1000
    row(
        "reload storm",
        len(lat),
        len(errors),
        f"worst route {lat[-1] * 1000:.1f} ms, p99.9 {p999:.2f} ms",
        f"{reloads} reloads ({bad} broken) under {threads} threads; routes by no good model: {wrong[0]}; "
        f"reloads done {layer.status()['reloads']}",
    )


SAVER = """
import sys
from intentroute.bundle import save_bundle
from intentroute.estimators import BowVectorizer, TorchBowClassifier
texts = ["price of aapl", "aapl quote", "my cash", "cash balance"] * 50
labels = (["quotes"] * 2 + ["cash"] * 2) * 50
vec = BowVectorizer().fit(texts)
clf = TorchBowClassifier(hidden_size=0, epochs=3, random_state=0).fit(vec.transform(texts), labels)
print("ready", flush=True)
while True:
    save_bundle(sys.argv[1], vec, clf)
"""


def kill_during_saves(folder: Path, kills: int, rng: random.Random) -> None:
    target = folder / "killed"
    whole = interrupted = broken = 0
    for _ in range(kills):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, str(target)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        proc.stdout.readline()  # trained, saving from now on
        time.sleep(rng.uniform(0.0, 0.2))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        try:
            load_bundle(target)
            whole += 1
        except BundleError as exc:
            if "a save was interrupted; the previous bundle is complete" in str(exc):
                interrupted += 1
                previous = sorted(target.parent.glob(f".{target.name}.old-*"))[-1]
                load_bundle(previous)  # must be whole
                previous.rename(target)  # as an operator would
            else:
                broken += 1
    row(
        "kill -9 during saves",
        kills,
        broken,
        f"{whole} whole, {interrupted} interrupted",
        "broken = neither a whole bundle nor the previous one complete beside it",
    )


def dripping_llm(calls: int, deadline: float) -> None:
    body = json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "{}"}}],
        }
    ).encode()

    class Drip(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                for i in range(len(body)):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        layer = LLMLayer(base_url=url, api_key="x", model="m", timeout=1.0, deadline=deadline, cache_size=0)
        over, errors = [], 0
        for i in range(calls):
            t0 = time.perf_counter()
            try:
                layer.route(f"question number {i}")
            except Exception:
                errors += 1
            over.append(time.perf_counter() - t0 - deadline)
    finally:
        server.shutdown()
        server.server_close()
    row(
        "dripping LLM server",
        calls,
        errors,
        f"at most {max(over) * 1000:+.0f} ms past the deadline (median {statistics.median(over) * 1000:+.0f})",
        f"deadline {deadline:g} s, one byte every 50 ms (the answer would take {len(body) * 0.05:.0f} s)",
    )


def redos_rules() -> None:
    patterns = {"(a|aa)+$": 0.9, "(a+)+b$": 0.9, "^(\\w+\\s?)*$": 0.9, "(x+x+)+y": 0.9}
    cascade = Cascade([RuleLayer({"intents": {"quotes": {"regexes": patterns}}})])
    texts = ["a" * 60 + "b", "a" * 4000, "word " * 800 + "!", "x" * 100]
    worst = 0.0
    errors = 0
    for text in texts:
        t0 = time.perf_counter()
        try:
            cascade.route(text)
        except Exception:
            errors += 1
        worst = max(worst, time.perf_counter() - t0)
    row(
        "ReDoS patterns in a rules file",
        len(texts),
        errors,
        f"worst route {worst * 1000:.0f} ms",
        f"{len(patterns)} patterns, each search bounded at 50 ms",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reloads", type=int, default=200)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--llm-calls", type=int, default=50)
    ap.add_argument("--strings", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        hostile_strings(args.strings, rng)
        reload_storm(Path(tmp), args.reloads, args.threads, rng)
        kill_during_saves(Path(tmp), args.kills, rng)
        dripping_llm(args.llm_calls, deadline=0.5)
        redos_rules()
    head = ("probe", "runs", "errors", "worst", "note")
    widths = [max(len(h), *(len(r[i]) for r in ROWS)) for i, h in enumerate(head[:4])]
    print(f"\nsoak and faults, {time.perf_counter() - t0:.0f} s")
    print("  ".join(h.ljust(w) for h, w in zip(head[:4], widths, strict=True)) + "  note")
    for r in ROWS:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4])


if __name__ == "__main__":
    main()
