"""Hostile and broken artifacts give typed errors and never stop a serving model.

Each test here is one of the failures found by trying intentroute as an attacker or an unlucky
operator would (issue 23): it failed before the fix it names.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

from intentroute.bundle import load_bundle
from intentroute.errors import BundleError
from intentroute.layers.torch_bow import TorchBowLayer

from .test_torch_bow_layer import A_LABELS, A_TEXTS, make_bundle


def _rewrite(folder: Path, name: str, data: bytes) -> None:
    """Replace a bundle file and make the manifest vouch for the new bytes."""
    (folder / name).write_bytes(data)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _edit_manifest(folder: Path, **changes: object) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(changes)
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "b", A_TEXTS, A_LABELS)


@pytest.mark.parametrize("name", ["../outside.json", "/etc/hostname", "sub/file", "..", "."])
def test_a_manifest_cannot_name_a_file_outside_its_folder(bundle: Path, name: str) -> None:
    (bundle.parent / "outside.json").write_text("{}")
    files = json.loads((bundle / "manifest.json").read_text())["files"]
    _edit_manifest(bundle, files={**files, name: {"sha256": "0" * 64, "bytes": 2}})
    with pytest.raises(BundleError, match="may only name files of the bundle folder"):
        load_bundle(bundle)


def test_a_weights_link_to_a_device_is_refused_before_reading(bundle: Path) -> None:
    target = bundle / "intent_router.safetensors"
    target.unlink()
    target.symlink_to("/dev/zero")
    with pytest.raises(BundleError, match="not a file of the bundle folder") as err:
        load_bundle(bundle)
    assert "bytes" not in str(err.value).split("folder")[-1]  # no size of the outside file


def test_a_fifo_in_a_bundle_is_refused_without_hanging(bundle: Path) -> None:
    (bundle / "intent_router_vocab.json").unlink()
    os.mkfifo(bundle / "intent_router_vocab.json")
    code = (
        "from intentroute.bundle import load_bundle\n"
        "from intentroute.errors import BundleError\n"
        f"try:\n    load_bundle({str(bundle)!r})\nexcept BundleError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "not a regular file" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"temperature": "hot"}, "temperature must be a positive number"),
        ({"temperature": None}, "temperature must be a positive number"),
        ({"temperature": float("inf")}, "temperature must be a positive number"),
        ({"featurizer": ["ngram_max", 2]}, "'featurizer' must be an object"),
    ],
)
def test_malformed_manifest_fields_are_bundle_errors(bundle: Path, changes: dict[str, object], message: str) -> None:
    _edit_manifest(bundle, **changes)
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle)


def test_a_files_entry_that_is_not_an_object_is_a_bundle_error(bundle: Path) -> None:
    files = json.loads((bundle / "manifest.json").read_text())["files"]
    _edit_manifest(bundle, files={**files, "intent_router_labels.json": 7})
    with pytest.raises(BundleError, match=r"files\['intent_router_labels.json'\] must be"):
        load_bundle(bundle)


@pytest.mark.parametrize("damage", ["hot temperature", "nan weights"])
def test_a_bad_new_bundle_never_stops_the_old_model_and_is_logged(
    bundle: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    layer = TorchBowLayer(bundle, reload_interval=0)
    if damage == "hot temperature":
        _edit_manifest(bundle, temperature="hot")
    else:
        arrays = load_bundle(bundle).weights
        _rewrite(
            bundle,
            "intent_router.safetensors",
            save({**arrays, "linear.bias": np.full_like(arrays["linear.bias"], np.nan)}),
        )
    with caplog.at_level(logging.WARNING, logger="intentroute"):
        for _ in range(3):
            result = layer.route("price of aapl")
            assert result.top is not None and result.top.intent == "quotes"
    status = layer.status()
    assert status["enabled"] and status["reload_error"], status
    assert any("the old model keeps serving" in r.getMessage() for r in caplog.records)
