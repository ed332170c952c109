"""The lexical table (wordllama's files, read directly) and a classifier with a lexical head."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from intentroute.bundle import load_bundle, save_bundle
from intentroute.errors import BundleError
from intentroute.lexical import TABLE, LexicalTable, lexical_missing_reason
from intentroute.scoring import BowScorer

from .conftest import run_cli

pytestmark = pytest.mark.skipif(lexical_missing_reason() is not None, reason="the [lexical] extra is not installed")


def test_the_table_is_read_without_importing_wordllama_or_touching_the_network() -> None:
    code = """
import socket, sys
def refuse(*a, **k):
    raise OSError("no network in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
from intentroute.lexical import LexicalTable
t = LexicalTable.load()
assert "wordllama" not in sys.modules, "wordllama was imported"
v = t.vector(["dough", "situation"])
print(t.dim, round(float(v @ v), 6))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["256", "1.0"]


@given(words=st.lists(st.text(max_size=12), max_size=8))
def test_a_vector_is_unit_length_or_zero_and_the_same_whatever_was_seen_before(words: list[str]) -> None:
    table = LexicalTable.load()
    v = table.vector(words)
    assert v.shape == (table.dim,) and np.isfinite(v).all()
    norm = float(np.linalg.norm(v))
    assert norm == 0.0 or math.isclose(norm, 1.0, rel_tol=1e-5)
    fresh = sum((table.encode(w).astype(np.float64) for w in words), np.zeros(table.dim))
    n = float(np.linalg.norm(fresh))
    np.testing.assert_allclose(v, fresh / n if n else fresh, atol=1e-5)


@pytest.fixture(scope="module")
def lexical_bundle(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    from intentroute.train import train

    result = train(data_dir, "linear", overrides={"epochs": 3}, lexical=True)
    assert result.lexical is not None and result.lexical["table"] == TABLE
    assert "test_accuracy_without_lexical" in result.metrics and "val_accuracy_with_lexical" in result.metrics
    out = tmp_path_factory.mktemp("lexical") / "bundle"
    save_bundle(out, result.vectorizer, result.classifier, lexical=result.lexical)
    return out


def test_a_bundle_with_a_lexical_head_is_format_3_and_scores_as_its_formula(lexical_bundle: Path) -> None:
    bundle = load_bundle(lexical_bundle)
    assert bundle.format_version == 3 and bundle.lexical is not None
    head = bundle.lexical
    assert head["table"] == TABLE and head["mix"] == 0.25 and head["temperature"] > 0
    with_head = BowScorer.from_bundle(bundle)
    bundle.lexical = None
    without = BowScorer.from_bundle(bundle)
    table = LexicalTable.load()
    texts = ["yo whats my dough situation", "show my positions", "", "🚀🚀 tsla", "how fat is my stash"]
    batch = with_head.proba_batch(texts)
    for text, row in zip(texts, batch, strict=True):
        tokens = without.tokens(text)
        p = np.asarray(without.proba(text))
        v = table.vector([t for t in tokens if t not in without.markers])
        z = without.temperature * np.log(p) + head["mix"] * (head["weight"].astype(np.float64) @ v + head["bias"])
        z = z / head["temperature"]
        expected = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        np.testing.assert_allclose(with_head.proba(text), expected, atol=1e-6)
        np.testing.assert_allclose(row, expected, atol=1e-6)  # the batch path agrees


def test_the_layer_reports_the_table_and_routes_any_string(lexical_bundle: Path) -> None:
    from intentroute.layers.torch_bow import TorchBowLayer

    layer = TorchBowLayer(lexical_bundle)
    assert layer.status()["lexical"] == TABLE
    for text in ["", " ", "\x00", "a" * 5000, "what's 💥 my cash", "ÀÉÎ õü"]:
        result = layer.route(text)
        assert all(0.0 <= c.score <= 1.0 for c in result.candidates)
    assert [r.top for r in layer.route_batch(["show my positions"])] == [layer.route("show my positions").top]


def test_a_bundle_whose_table_is_not_the_installed_one_is_refused(lexical_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(lexical_bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["lexical"]["table_sha256"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="the lexical head was trained on wordllama/l2_supercat_256"):
        BowScorer.from_bundle(load_bundle(copy))
    manifest["lexical"]["mix"] = -1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="lexical mix must be a positive number"):
        load_bundle(copy)


BLOCK_LEXICAL = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("wordllama", "tokenizers"):
            raise ImportError(name + " is blocked for this test")
        return None
sys.meta_path.insert(0, _Block())
"""


def test_without_the_extra_routing_works_and_a_lexical_bundle_or_train_says_what_to_install(
    lexical_bundle: Path, data_dir: Path, tmp_path: Path
) -> None:
    code = (
        BLOCK_LEXICAL
        + f"""
import intentroute
from intentroute.bundle import load_bundle
from intentroute.errors import BundleError
from intentroute.scoring import BowScorer
assert intentroute.default_cascade().route("what's my cash").intent == "cash_balance"
try:
    BowScorer.from_bundle(load_bundle({str(lexical_bundle)!r}))
except BundleError as exc:
    print(exc)
"""
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "this bundle has a lexical head" in out.stdout and "pip install 'intentroute[lexical]'" in out.stdout
    res = subprocess.run(
        [sys.executable, "-c", BLOCK_LEXICAL + "from intentroute.cli import main; main()", "train", "--data",
         str(data_dir), "--out", str(tmp_path / "b"), "--lexical"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2 and "--lexical" in res.stderr and "intentroute[lexical]" in res.stderr
    assert not (tmp_path / "b").exists()


def test_cli_train_lexical_writes_a_bundle_evaluate_loads(data_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    res = run_cli(
        "train", "--data", str(data_dir), "--out", str(tmp_path / "b"), "--preset", "linear", "--epochs", "2",
        "--lexical",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "Test accuracy without the lexical head: " in res.stdout
    test = str(data_dir / "intent_test.jsonl")
    res = run_cli("evaluate", "--bundle", str(tmp_path / "b"), "--data", test, "--json")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    accuracy = manifest["metrics"]["test_accuracy"]  # the combined model's, computed in training
    assert json.loads(res.stdout)["accuracy"] == pytest.approx(accuracy, abs=5e-4)  # (evaluate rounds)
