from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_threshold_fitting_example_runs_and_meets_its_recall_target() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "fit_thresholds.py")], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    goal = next(i for i, line in enumerate(lines) if line.startswith("reject 90%"))
    assert "target not reached" not in lines[goal]
    recall = float(lines[goal + 1].split("out-of-scope recall ")[1].split(",")[0])
    assert recall >= 0.9
    assert "-> clarify" in out.stdout


def test_the_scikit_learn_example_searches_a_pipeline_and_the_default_preset_s_classifier() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "sklearn_pipeline.py")], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    found = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    assert found["best hidden width"] in ("32", "128")
    assert 0.9 < float(found["LogitSumClassifier accuracy on held-out templates"]) <= 1.0
    assert 0.0 < float(found["accuracy on held-out templates"]) <= 1.0


def test_the_hot_reload_example_swaps_in_a_model_with_slot_markers() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "train_and_hot_reload.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()[-1]
    assert "slot markers ['symbol', 'account', 'timeframe', 'topic']" in last and "reloads=1" in last


def test_the_demo_routes_each_utterance_and_sends_what_it_does_not_serve_to_clarify() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    blocks = {b.splitlines()[0][2:]: b for b in out.stdout.split("\n\n") if b.startswith("> ")}
    assert len(blocks) == 12
    assert "intent: quotes" in blocks["what's tsla trading at"] and "symbol=TSLA" in blocks["what's tsla trading at"]
    assert "missing: symbol" in blocks["quote please"]
    for text in ("should I sell my Tesla shares", "hello there", "what's my"):
        assert "intent: clarify" in blocks[text] and "decided by: fallback" in blocks[text]


def test_the_async_example_routes_concurrently_and_restricts_a_reply_to_the_expected_intents() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "async_dialogue.py")], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "-> quotes" in out.stdout and "-> cash_balance" in out.stdout
    assert "account_value when expecting an account question" in out.stdout
    assert out.stdout.strip().splitlines()[-1].startswith("restricted to: account_value")


def test_the_fastapi_example_answers_through_the_cascade() -> None:
    import pytest

    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    sys.path.insert(0, str(ROOT))
    try:
        from examples.fastapi_app import app
    finally:
        sys.path.remove(str(ROOT))
    with TestClient(app) as client:
        assert client.post("/chat", json={"message": "what's my cash balance"}).json()["intent"] == "cash_balance"
        assert client.post("/chat", json={"message": "quote please"}).json()["reply"] == "Which symbol?"
        tsla = client.post("/chat", json={"message": "what's tsla trading at"}).json()
        assert tsla["reply"] == "TSLA is trading at ..."
        only = client.post("/chat", json={"message": "my ira", "expecting": ["account_value"]}).json()
        assert only["intent"] in ("account_value", "clarify")


def test_the_learning_loop_example_teaches_the_classifier_what_the_llm_answered() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "learning_loop.py")], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    before, after = out.stdout.split("after:\n")
    assert "'how fat is my stash lately' -> account_value (decided by llm)" in before
    assert "'sing me a song' -> clarify (decided by fallback)" in before
    assert "2 rows accepted, 1 abstention(s) left out" in before and "moolah" in before
    assert "'how fat is my stash lately' -> account_value (decided by torch_bow)" in after
    assert "'gimme the lowdown on the moolah in my kitty' -> cash_balance (decided by torch_bow)" in after
    assert "LLM calls after retraining: 0" in after
