"""``intentroute serve``: a real uvicorn on 127.0.0.1, called with httpx."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import intentroute

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

CASCADE = intentroute.default_cascade()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "intentroute", "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            said = proc.stdout.read() if proc.stdout else ""
            stop(proc)
            raise AssertionError(f"the server stopped: {said}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    stop(proc)
    raise AssertionError("the server did not start")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=30)
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    proc, url = start()
    try:
        yield url
    finally:
        stop(proc)


def test_route_and_batch_answer_as_the_cascade_does(server: str) -> None:
    r = httpx.post(f"{server}/route", json={"text": "what's tsla trading at"}, timeout=30)
    assert r.status_code == 200
    body = r.json()
    want = CASCADE.route("what's tsla trading at")
    assert (body["intent"], body["layer"], body["extracted"]) == (want.intent, want.layer, dict(want.extracted))
    assert "trace" not in body
    traced = httpx.post(f"{server}/route", json={"text": "quote please", "trace": True}, timeout=30).json()
    assert traced["missing_params"] == ["symbol"] and traced["trace"][0]["layer"] == "rules"
    texts = ["my cash balance", "hello there", "how did my roth do"]
    routes = httpx.post(f"{server}/route/batch", json={"texts": texts}, timeout=30).json()["routes"]
    assert [x["intent"] for x in routes] == [r.intent for r in CASCADE.route_batch(texts)]
    both = httpx.post(f"{server}/route/all", json={"text": "AAPL performance and price"}, timeout=30).json()
    assert [x["intent"] for x in both["routes"]] == ["symbol_performance", "quotes"]
    request = {"text": "my ira", "allowed": ["account_value", "cash_balance"]}
    only = httpx.post(f"{server}/route", json=request, timeout=30)
    assert only.json()["intent"] in {"account_value", "cash_balance", "clarify"}
    assert only.json()["meta"]["allowed"] == ["account_value", "cash_balance"]


def test_bad_requests_get_json_errors(server: str) -> None:
    unknown = httpx.post(f"{server}/route", json={"text": "x", "allowed": ["quote"]}, timeout=30)
    assert unknown.status_code == 400 and "unknown intents ['quote']" in unknown.json()["detail"]
    assert httpx.post(f"{server}/route", json={"txt": "x"}, timeout=30).status_code == 422
    assert httpx.post(f"{server}/route", content=b"{not json", timeout=30).status_code == 422
    huge = httpx.post(f"{server}/route/batch", json={"texts": ["a" * 1000] * 3000}, timeout=30)
    assert huge.status_code == 413 and "bytes" in huge.json()["detail"]


def test_status_reload_health_and_the_openapi_schemas(server: str) -> None:
    status = httpx.get(f"{server}/status", timeout=30).json()
    assert [layer["name"] for layer in status["layers"]] == ["rules", "torch_bow"]
    assert httpx.post(f"{server}/reload", timeout=60).json() == {"layers": {"torch_bow": {"reloaded": False}}}
    schemas = httpx.get(f"{server}/openapi.json", timeout=30).json()["components"]["schemas"]
    assert {"RouteRequest", "BatchRequest", "RouteResponse", "BatchResponse"} <= set(schemas)


def test_a_config_file_is_served_and_a_missing_one_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "cascade.toml"
    config.write_text('fallback = "clarify"\n[[layers]]\nname = "rules"\n', encoding="utf-8")
    proc, url = start("--config", str(config))
    try:
        status = httpx.get(f"{url}/status", timeout=30).json()
        assert [layer["name"] for layer in status["layers"]] == ["rules"]
    finally:
        stop(proc)
    missing = subprocess.run(
        [sys.executable, "-m", "intentroute", "serve", "--config", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "does not exist" in missing.stderr
