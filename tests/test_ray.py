"""Ray Data: intentroute.ray.route_dataset routes a dataset as route_batch does in one process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import intentroute
from intentroute.errors import ConfigError, InputError
from intentroute.ray import Router, route_dataset

TEXTS = [
    "what's my cash balance",
    "how did AAPL do this year",
    "show my positions",
    "hello there",
    "how much is my roth worth",
    "what's the price of apple and tsla",
] * 40


def test_the_worker_adds_the_route_columns_and_keeps_the_rest() -> None:
    router = Router()
    out = router({"text": TEXTS[:6], "id": list(range(6))})
    expected = intentroute.default_cascade().route_batch(TEXTS[:6])
    assert out["id"] == list(range(6)) and out["intent"] == [r.intent for r in expected]
    assert [json.loads(x) for x in out["missing"]] == [list(r.missing_params) for r in expected]
    assert json.loads(out["extracted"][5]) == {"symbol": "AAPL", "symbols": ["AAPL", "TSLA"]}
    with pytest.raises(InputError, match="no 'message' column"):
        Router(text_column="message")({"text": ["hi"]})
    with pytest.raises(InputError, match="NoneType"):
        router({"text": ["hi", None]})
    with pytest.raises(ConfigError, match="prefix"):
        router({"text": ["hi"], "intent": ["x"]})
    assert "routed_intent" in Router(prefix="routed_")({"text": ["hi"], "intent": ["x"]})


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="concurrency"):
        route_dataset(object(), concurrency=0)
    with pytest.raises(ConfigError, match="no such cascade config"):
        route_dataset(object(), config="/nonexistent/cascade.toml")


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_dataset_routes_as_route_batch_does(ray_local: Any, workers: int) -> None:
    ds = ray_local.data.from_items([{"id": i, "text": t} for i, t in enumerate(TEXTS)])
    rows = sorted(route_dataset(ds, concurrency=workers, batch_size=50).take_all(), key=lambda r: r["id"])
    expected = intentroute.default_cascade().route_batch(TEXTS)
    assert len(rows) == len(TEXTS)
    for row, route in zip(rows, expected, strict=True):
        assert (row["intent"], row["layer"]) == (route.intent, route.layer)
        assert row["confidence"] == pytest.approx(route.confidence, abs=1e-9)
        assert json.loads(row["extracted"]) == json.loads(json.dumps(route.to_dict()["extracted"]))
        assert json.loads(row["missing"]) == list(route.missing_params)


def test_the_command_line_routes_a_file_on_ray(tmp_path: Any) -> None:
    pytest.importorskip("ray.data")
    pq = pytest.importorskip("pyarrow.parquet")
    import subprocess
    import sys

    src = tmp_path / "log.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS[:30]), encoding="utf-8")
    out = tmp_path / "routed"
    done = subprocess.run(
        [sys.executable, "-m", "intentroute", "route", "--input", str(src), "--output", str(out), "--engine", "ray"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "routed 30 rows with Ray Data" in done.stderr
    rows = pq.read_table(out).to_pylist()
    expected = {t: r.intent for t, r in zip(TEXTS, intentroute.default_cascade().route_batch(TEXTS), strict=True)}
    assert len(rows) == 30 and all(r["intent"] == expected[r["text"]] for r in rows)
    again = subprocess.run(
        [sys.executable, "-m", "intentroute", "route", "--input", str(src), "--output", str(out), "--engine", "ray"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 2 and "not an empty folder" in again.stderr
