"""Hostile and broken artifacts give typed errors and never stop a serving model.

Each test here is one of the failures found by trying intentroute as an attacker or an unlucky
operator would (issue 23): it failed before the fix it names.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import random
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save

import intentroute
from intentroute import Cascade, Policy
from intentroute.bundle import load_bundle
from intentroute.config import build_cascade
from intentroute.data import load_templates, read_jsonl
from intentroute.data.generate import render_template
from intentroute.errors import BundleError, ConfigError
from intentroute.layers.rules import RuleLayer
from intentroute.layers.torch_bow import TorchBowLayer
from intentroute.plugins import PluginManager
from intentroute.policies import load_policies, write_policies
from intentroute.scoring import BowScorer
from intentroute.train import train

from .conftest import FixedLayer, run_cli
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
            assert layer.wait_for_reload(timeout=60)
    status = layer.status()
    assert status["enabled"] and status["reload_error"], status
    assert any("the old model keeps serving" in r.getMessage() for r in caplog.records)


def test_a_secret_never_appears_in_a_config_error() -> None:
    secret = "sk-abcdefghijklmnopqrstuvwxyz123456"
    with pytest.raises(ConfigError) as err:
        build_cascade({"layers": [{"name": "llm", "params": {"api_key": secret, "examples": 5}}]})
    assert secret not in str(err.value) and "api_key='***'" in str(err.value)


class _BrokenFactoryPlugin:
    @intentroute.hookimpl
    def register_layers(self, register: Any) -> None:
        def broken(name: str = "broken") -> Any:
            raise RuntimeError("the plugin's own bug")

        register("broken", broken)


def test_a_plugin_factory_raising_anything_is_a_config_error_naming_the_layer(fresh_pm: PluginManager) -> None:
    plugin = _BrokenFactoryPlugin()
    fresh_pm.register(plugin, name="broken-plugin")
    try:
        with pytest.raises(ConfigError, match=r"layer 'broken'.*RuntimeError: the plugin's own bug"):
            build_cascade({"layers": [{"name": "broken"}]}, plugin_manager=fresh_pm)
    finally:
        fresh_pm.unregister(plugin)


class _StatusRaises(FixedLayer):
    def status(self) -> dict[str, Any]:
        raise RuntimeError("diagnostics are broken")


def test_a_layer_whose_status_raises_is_reported_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    cascade = Cascade([_StatusRaises("odd", {"quotes": 1.0})])
    with caplog.at_level(logging.WARNING, logger="intentroute"):
        report = cascade.status()
    assert report["layers"][0]["status"] == {"status_error": "RuntimeError: diagnostics are broken"}
    assert any("diagnostics are broken" in r.getMessage() for r in caplog.records)


def test_a_policies_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "policies.toml"
    bad.write_bytes(b"[policies.rules]\nthreshold = 0.5 # \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_policies(bad)


def test_route_batch_of_a_single_string_is_a_type_error() -> None:
    cascade = Cascade([FixedLayer("f", {"quotes": 1.0})])
    with pytest.raises(TypeError, match="single str"):
        cascade.route_batch("quote for aapl")  # type: ignore[arg-type]


def test_training_data_with_an_empty_intent_or_one_intent_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty" / "intent_train.jsonl"
    empty.parent.mkdir()
    empty.write_text('{"text": "quote", "intent": "quotes"}\n{"text": "hi", "intent": ""}\n')
    with pytest.raises(ConfigError, match="line 2: the intent is empty"):
        read_jsonl(empty)
    one = tmp_path / "one" / "intent_train.jsonl"
    one.parent.mkdir()
    one.write_text('{"text": "quote", "intent": "quotes"}\n{"text": "price", "intent": "quotes"}\n')
    with pytest.raises(ConfigError, match="at least two intents"):
        train(one.parent, "linear")


def test_a_template_with_more_combinations_than_a_range_holds_still_renders() -> None:
    slots = {f"S{i}": [f"v{i}_{j}" for j in range(100)] for i in range(10)}  # 100**10 = 1e20 > 2**63
    templates = load_templates({"intents": {"a": [" ".join("{" + k + "}" for k in slots)]}, "slots": slots})
    rendered = render_template(templates.intents["a"][0], templates.slots, max_combos=5, rng=random.Random(0))
    assert len(rendered) == 5 and len({text for text, _ in rendered}) == 5


def test_a_policies_file_for_any_layer_name_is_valid_toml_and_reads_back(tmp_path: Path) -> None:
    policies = {"my.rules v2": Policy(0.5, 0.1), "torch_bow": Policy(0.55, 0.0), 'odd "name"': Policy(0.2, 0.0)}
    path = write_policies(tmp_path / "p.toml", policies)
    assert load_policies(path) == policies


def test_generated_and_fitted_files_are_ordinary_readable_files(tmp_path: Path) -> None:
    out = run_cli("generate", "--out", str(tmp_path / "data"), "--size", "200", "--seed", "1")
    assert out.returncode == 0, out.stderr
    write_policies(tmp_path / "p.toml", {"rules": Policy(0.5, 0.1)})
    expected = 0o666 & ~_current_umask()
    for path in [*(tmp_path / "data").iterdir(), tmp_path / "p.toml"]:
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


def _current_umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def test_a_catastrophic_regex_in_a_rules_file_cannot_hold_a_route(caplog: pytest.LogCaptureFixture) -> None:
    layer = RuleLayer({"intents": {"quotes": {"regexes": {"(a|aa)+$": 0.9}, "phrases": {"quote": 0.9}}}})
    cascade = Cascade([layer])
    with caplog.at_level(logging.WARNING, logger="intentroute"):
        route = cascade.route("a" * 60 + "b")  # re would backtrack for hours on this
    assert route.intent == "clarify"
    assert cascade.route("quote aaa").intent == "quotes"
    assert any("gave up after" in r.getMessage() for r in caplog.records)


def test_a_catastrophic_token_pattern_in_a_manifest_cannot_hold_a_route(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    _edit_manifest(bundle, featurizer={**manifest["featurizer"], "token_pattern": "(a|aa)+$"})
    scorer = BowScorer.from_bundle(load_bundle(bundle))
    assert scorer.tokens("a" * 60 + "b") == []  # gave up within the bound: no tokens


def test_a_save_removes_what_killed_saves_left_beside_the_bundle(bundle: Path) -> None:
    stale_new = bundle.parent / f".{bundle.name}.new-abc123"
    fresh_new = bundle.parent / f".{bundle.name}.new-def456"  # maybe another process's save under way
    old = bundle.parent / f".{bundle.name}.old-ghi789"
    for folder in (stale_new, fresh_new, old):
        folder.mkdir()
        (folder / "intent_router.pt").write_bytes(b"partial")
    os.utime(stale_new, (0, 0))
    make_bundle(bundle, A_TEXTS, A_LABELS)
    assert not stale_new.exists() and not old.exists() and fresh_new.exists()
    assert load_bundle(bundle).labels == sorted(set(A_LABELS))


def test_a_cascade_from_a_config_pickles_as_its_config_and_routes_in_another_process(tmp_path: Path) -> None:
    cascade = intentroute.default_cascade()
    blob = tmp_path / "cascade.pickle"
    blob.write_bytes(pickle.dumps(cascade))
    code = (
        "import pickle, sys\n"
        f"c = pickle.loads(open({str(blob)!r}, 'rb').read())\n"
        "r = c.route('how did my roth do')\n"
        "print(r.intent, r.layer, c.layer_names)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "performance torch_bow ['rules', 'torch_bow']", out.stderr


def test_a_cascade_built_in_code_pickles_when_its_layers_do() -> None:
    cascade = Cascade([RuleLayer({"intents": {"quotes": {"phrases": {"quote": 0.9}}}})])
    again = pickle.loads(pickle.dumps(cascade))
    assert again.route("quote please").intent == "quotes"
