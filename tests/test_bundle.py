from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from intentroute.bundle import FORMAT_VERSION, BundlePaths, load_bundle, save_bundle
from intentroute.errors import BundleError
from intentroute.estimators import BowVectorizer, LogitSumClassifier, TorchBowClassifier
from intentroute.legacy import LEGACY_FEATURIZER

torch = pytest.importorskip("torch")

TEXTS = [
    "price of aapl",
    "aapl quote",
    "quote for msft",
    "my cash balance",
    "how much cash",
    "cash available",
    "list my holdings",
    "show all positions",
    "what do i own",
]
LABELS = ["quotes"] * 3 + ["cash_balance"] * 3 + ["positions_list"] * 3
VARIANTS = [
    {**LEGACY_FEATURIZER},
    {
        **LEGACY_FEATURIZER,
        "char_ngrams": (3, 4),
        "weighting": "tfidf",
        "sublinear_tf": True,
        "norm": "l2",
        "max_vocab": None,
    },
    {**LEGACY_FEATURIZER, "hashing": True, "n_features": 512},
    {**LEGACY_FEATURIZER, "weighting": "binary"},
    {
        **LEGACY_FEATURIZER,
        "weighting": "tfidf",
        "norm": "l2_sum",
        "slots": {"symbol": {"kind": "symbol", "tickers": ["AAPL", "MSFT"]}},
    },
    {},  # the defaults
]


def fitted(hidden: int = 0, **vp: object) -> tuple[BowVectorizer, TorchBowClassifier]:
    vec = BowVectorizer(**vp).fit(TEXTS)  # type: ignore[arg-type]
    clf = TorchBowClassifier(epochs=30, random_state=0, hidden_size=hidden).fit(vec.transform(TEXTS), LABELS)
    clf.temperature_ = 1.7
    return vec, clf


def fitted_sum() -> tuple[BowVectorizer, LogitSumClassifier]:
    vec = BowVectorizer().fit(TEXTS)
    clf = LogitSumClassifier(
        linear=TorchBowClassifier(hidden_size=0, epochs=10, random_state=0),
        hidden=TorchBowClassifier(epochs=10, random_state=1, hidden_size=4),
    ).fit(vec.transform(TEXTS), LABELS)
    return vec, clf


@pytest.mark.parametrize("vp", VARIANTS, ids=str)
def test_round_trip_predicts_the_same(tmp_path: Path, vp: dict[str, object]) -> None:
    vec, clf = fitted(**vp)
    save_bundle(tmp_path / "b", vec, clf, training={"rows": 9}, metrics={"test_accuracy": 1.0})
    b = load_bundle(tmp_path / "b")
    assert np.allclose(
        b.classifier.predict_proba(b.vectorizer.transform(TEXTS)), clf.predict_proba(vec.transform(TEXTS))
    )
    assert b.labels == sorted(set(LABELS)) and b.temperature == 1.7 and b.format_version == 1
    assert b.manifest is not None and b.manifest["training"] == {"rows": 9}


def test_slots_are_kept_in_the_manifest_only_when_set_and_bad_ones_are_refused(tmp_path: Path) -> None:
    vec, clf = fitted(**VARIANTS[-2])
    save_bundle(tmp_path / "b", vec, clf)
    manifest_path = tmp_path / "b" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["featurizer"]["slots"] == VARIANTS[-2]["slots"]
    assert load_bundle(tmp_path / "b").vectorizer.slot_markers("price of MSFT") == ["xxsymbol"]
    manifest["featurizer"]["slots"] = {"symbol": {"kind": "ticker"}}
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="invalid featurizer settings.*kind must be"):
        load_bundle(tmp_path / "b")
    save_bundle(tmp_path / "plain", *fitted())
    assert "slots" not in json.loads((tmp_path / "plain" / "manifest.json").read_text())["featurizer"]


def test_hidden_layer_model_round_trip(tmp_path: Path) -> None:
    vec, clf = fitted(hidden=8)
    save_bundle(tmp_path / "b", vec, clf)
    b = load_bundle(tmp_path / "b")
    assert np.allclose(b.classifier.predict_proba(vec.transform(TEXTS)), clf.predict_proba(vec.transform(TEXTS)))


def test_the_four_seed_files_use_the_seed_layout(tmp_path: Path) -> None:
    vec, clf = fitted(**LEGACY_FEATURIZER)
    path = save_bundle(tmp_path / "b", vec, clf)
    state = torch.load(path / "intent_router.pt", weights_only=True)
    assert set(state) == {"linear.weight", "linear.bias"} and tuple(state["linear.weight"].shape) == (
        3,
        len(vec.vocabulary_),
    )
    assert json.loads((path / "intent_router_vocab.json").read_text()) == vec.vocabulary_
    assert json.loads((path / "intent_router_labels.json").read_text()) == sorted(set(LABELS))
    cfg = json.loads((path / "intent_router_config.json").read_text())
    assert {"max_vocab", "token_pattern", "ngram_max", "epochs", "batch_size", "learning_rate"} <= set(cfg)
    manifest = json.loads((path / "manifest.json").read_text())
    assert set(manifest["files"]) == {
        "intent_router.safetensors",
        "intent_router.pt",
        "intent_router_vocab.json",
        "intent_router_labels.json",
        "intent_router_config.json",
    }


@pytest.mark.parametrize("hidden", [0, 8, "sum"])
def test_the_safetensors_weights_are_the_legacy_pt_weights(tmp_path: Path, hidden: int | str) -> None:
    from safetensors.numpy import load_file

    vec, clf = fitted() if hidden == 0 else fitted(hidden=8) if hidden == 8 else fitted_sum()
    path = save_bundle(tmp_path / "b", vec, clf)
    legacy = torch.load(path / "intent_router.pt", weights_only=True)
    arrays = load_file(path / "intent_router.safetensors")
    assert list(arrays) == list(legacy) or set(arrays) == set(legacy)
    for name, tensor in legacy.items():
        assert np.array_equal(arrays[name], tensor.numpy()), name


def test_a_bundle_whose_manifest_lists_safetensors_loads_without_reading_the_pt(tmp_path: Path) -> None:
    vec, clf = fitted()
    path = save_bundle(tmp_path / "b", vec, clf)
    manifest = json.loads((path / "manifest.json").read_text())
    # the .pt is checked against the manifest (it is listed) but its tensors are not unpickled:
    # replacing it by a file that torch.load would refuse, with a matching checksum, still loads
    (path / "intent_router.pt").write_bytes(b"not a torch file")
    manifest["files"]["intent_router.pt"] = {"sha256": hashlib.sha256(b"not a torch file").hexdigest(), "bytes": 16}
    (path / "manifest.json").write_text(json.dumps(manifest))
    b = load_bundle(path)
    assert np.allclose(b.classifier.predict_proba(vec.transform(TEXTS)), clf.predict_proba(vec.transform(TEXTS)))


def test_a_corrupt_safetensors_file_is_a_bundle_error_naming_it(tmp_path: Path) -> None:
    vec, clf = fitted()
    path = save_bundle(tmp_path / "b", vec, clf)
    bad = b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage"
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "intent_router.safetensors").write_bytes(bad)
    manifest["files"]["intent_router.safetensors"] = {"sha256": hashlib.sha256(bad).hexdigest(), "bytes": len(bad)}
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"intent_router\.safetensors: cannot read the weights"):
        load_bundle(path)


def write_seed_bundle(folder: Path) -> tuple[dict[str, int], list[str], object]:
    """What the seed's train_intent_router.py writes: nn.Linear state_dict + three JSON files."""
    folder.mkdir()
    vocab = BowVectorizer().fit(TEXTS).vocabulary_
    labels = sorted(set(LABELS))
    torch.manual_seed(7)
    model = torch.nn.Sequential()
    model.linear = torch.nn.Linear(len(vocab), len(labels))
    torch.save(model.state_dict(), folder / "intent_router.pt")
    (folder / "intent_router_vocab.json").write_text(json.dumps(vocab))
    (folder / "intent_router_labels.json").write_text(json.dumps(labels))
    (folder / "intent_router_config.json").write_text(
        json.dumps(
            {
                "max_vocab": 6000,
                "token_pattern": "[A-Za-z0-9']+",
                "ngram_max": 2,
                "epochs": 12,
                "batch_size": 32,
                "learning_rate": 0.01,
            }
        )
    )
    return vocab, labels, model.linear


def test_a_bundle_written_by_the_seed_loads_and_predicts_as_the_seed_does(tmp_path: Path) -> None:
    vocab, _labels, linear = write_seed_bundle(tmp_path / "seed")
    b = load_bundle(tmp_path / "seed")
    assert b.manifest is None and b.warnings
    text = "quote for aapl please"
    x = torch.zeros(len(vocab))
    for f in ["quote", "for", "aapl", "please", "quote_for", "for_aapl", "aapl_please"]:
        if f in vocab:
            x[vocab[f]] += 1.0
    expected = torch.softmax(linear(x.unsqueeze(0)), dim=1).squeeze(0).detach().numpy()
    assert np.allclose(b.classifier.predict_proba(b.vectorizer.transform([text]))[0], expected, atol=1e-6)


def test_the_seed_s_separate_paths_load_too(tmp_path: Path) -> None:
    write_seed_bundle(tmp_path / "seed")
    paths = BundlePaths(
        tmp_path / "seed" / "intent_router.pt",
        tmp_path / "seed" / "intent_router_vocab.json",
        tmp_path / "seed" / "intent_router_labels.json",
    )
    assert load_bundle(paths).labels == sorted(set(LABELS))


def saved(tmp_path: Path) -> Path:
    vec, clf = fitted()
    return save_bundle(tmp_path / "b", vec, clf)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = saved(tmp_path)
    (path / "intent_router_labels.json").unlink()
    with pytest.raises(BundleError, match="intent_router_labels.json: missing"):
        load_bundle(path)
    with pytest.raises(BundleError, match="no bundle folder"):
        load_bundle(tmp_path / "nowhere")


def test_a_truncated_weights_file_is_detected(tmp_path: Path) -> None:
    path = saved(tmp_path)
    data = (path / "intent_router.pt").read_bytes()
    (path / "intent_router.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="intent_router.pt: does not match the manifest"):
        load_bundle(path)


def test_a_tampered_vocabulary_is_detected(tmp_path: Path) -> None:
    path = saved(tmp_path)
    vocab = json.loads((path / "intent_router_vocab.json").read_text())
    vocab["evil"] = 0
    (path / "intent_router_vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(BundleError, match="intent_router_vocab.json: does not match the manifest.*tampered"):
        load_bundle(path)


def test_inconsistent_files_are_reported_with_both_sizes(tmp_path: Path) -> None:
    write_seed_bundle(tmp_path / "seed")
    vocab = json.loads((tmp_path / "seed" / "intent_router_vocab.json").read_text())
    (tmp_path / "seed" / "intent_router_vocab.json").write_text(json.dumps({**vocab, "extra": len(vocab)}))
    with pytest.raises(
        BundleError,
        match=f"weights take {len(vocab)} features but intent_router_vocab.json has {len(vocab) + 1}",
    ):
        load_bundle(tmp_path / "seed")
    (tmp_path / "seed" / "intent_router_vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "seed" / "intent_router_labels.json").write_text(json.dumps(["a", "b", "c", "d"]))
    with pytest.raises(BundleError, match="3 outputs but intent_router_labels.json lists 4 labels"):
        load_bundle(tmp_path / "seed")


def test_a_newer_format_is_refused_with_advice(tmp_path: Path) -> None:
    path = saved(tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="newer than this intentroute reads.*upgrade"):
        load_bundle(path)


class Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch PWNED",))


def test_loading_never_unpickles_arbitrary_objects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_seed_bundle(tmp_path / "seed")
    with open(tmp_path / "seed" / "intent_router.pt", "wb") as fh:
        torch.save({"linear.weight": Exploit()}, fh, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    with pytest.raises(BundleError, match="cannot load the weights"):
        load_bundle(tmp_path / "seed")
    assert not (tmp_path / "PWNED").exists()


def test_saving_replaces_the_old_bundle_whole(tmp_path: Path) -> None:
    path = saved(tmp_path)
    vec, clf = fitted(char_ngrams=(3, 3))
    save_bundle(path, vec, clf)
    assert load_bundle(path).vectorizer.char_ngrams == (3, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # no staging or old folders left


def test_a_crash_while_saving_leaves_the_old_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = saved(tmp_path)
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    real_fsync = os.fsync
    calls = {"n": 0}

    def dying_fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(5, "I/O error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", dying_fsync)
    vec, clf = fitted(char_ngrams=(3, 3))
    with pytest.raises(OSError, match="I/O error"):
        save_bundle(path, vec, clf)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_an_interrupted_swap_points_to_the_previous_bundle(tmp_path: Path) -> None:
    path = saved(tmp_path)
    os.rename(path, tmp_path / ".b.old-abc123")  # as if the process died between the two renames
    with pytest.raises(BundleError, match="previous bundle is complete at .*\\.b\\.old-abc123"):
        load_bundle(path)


def test_unfitted_estimators_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="must both be fitted"):
        save_bundle(tmp_path / "b", BowVectorizer(), TorchBowClassifier(hidden_size=0))


def test_the_same_training_gives_the_same_bytes(tmp_path: Path) -> None:
    for name in ("one", "two"):
        vec, clf = fitted(char_ngrams=(3, 4))
        save_bundle(tmp_path / name, vec, clf)
    for f in (tmp_path / "one").iterdir():
        assert f.read_bytes() == (tmp_path / "two" / f.name).read_bytes(), f.name
