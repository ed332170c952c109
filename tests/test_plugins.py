from __future__ import annotations

import importlib.metadata
from types import SimpleNamespace
from typing import Any

import pytest

import intentroute
from intentroute.config import build_cascade
from intentroute.errors import PluginError
from intentroute.plugins import BUILTIN, DEFAULT_PLUGINS, PluginManager, layer_registry, new_plugin_manager

from .conftest import FixedLayer


class ThrowawayPlugin:
    @intentroute.hookimpl
    def register_layers(self, register: Any) -> None:
        register("fixed", lambda name="fixed", scores=None: FixedLayer(name, scores or {"quotes": 1.0}))


def test_built_in_layers_register_through_the_same_hook(fresh_pm: PluginManager) -> None:
    registry = layer_registry(fresh_pm)
    assert "rules" in registry
    assert registry["rules"].plugin in DEFAULT_PLUGINS and registry["rules"].source == BUILTIN
    assert registry["rules"].availability() is None


def test_a_throwaway_plugin_registers_a_layer_a_cascade_can_use(fresh_pm: PluginManager) -> None:
    plugin = ThrowawayPlugin()
    fresh_pm.register(plugin, name="throwaway")
    try:
        registry = layer_registry(fresh_pm)
        assert registry["fixed"].plugin == "throwaway"
        cascade = build_cascade(
            {"layers": [{"name": "fixed", "params": {"scores": {"facts": 0.9}}}]}, plugin_manager=fresh_pm
        )
        assert cascade.route("anything").intent == "facts"
    finally:
        fresh_pm.unregister(plugin)
    assert "fixed" not in layer_registry(fresh_pm)


def test_a_duplicate_layer_name_is_a_plugin_error_naming_both_plugins(fresh_pm: PluginManager) -> None:
    class Impostor:
        @intentroute.hookimpl
        def register_layers(self, register: Any) -> None:
            register("rules", FixedLayer)

    fresh_pm.register_plugin(Impostor(), "impostor", "impostor-dist 1.0")
    with pytest.raises(PluginError) as info:
        layer_registry(fresh_pm)
    msg = str(info.value)
    assert "'rules'" in msg and "intentroute.layers.rules" in msg and "impostor" in msg and "impostor-dist 1.0" in msg


def test_a_plugin_with_a_misspelled_hook_is_refused() -> None:
    class Typo:
        @intentroute.hookimpl
        def register_layer(self, register: Any) -> None:  # missing "s"
            pass

    import sys
    import types

    mod = types.ModuleType("typo_plugin")
    mod.register_layer = Typo().register_layer  # type: ignore[attr-defined]
    sys.modules["typo_plugin"] = mod
    try:
        with pytest.raises(PluginError, match="unknown hook"):
            new_plugin_manager(load_entrypoints=False, default_plugins=(*DEFAULT_PLUGINS, "typo_plugin"))
    finally:
        del sys.modules["typo_plugin"]


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, plugins: dict[str, tuple[str, object]]) -> None:
    """Fake installed distributions, as pluggy's own tests do."""

    class FakeEP:
        def __init__(self, name: str, dist: str, obj: object) -> None:
            self.name, self.value, self._obj = name, f"{name}_module", obj
            self.dist = SimpleNamespace(name=dist, version="9.9")

        def load(self) -> object:
            if isinstance(self._obj, Exception):
                raise self._obj
            return self._obj

    eps = [FakeEP(n, d, o) for n, (d, o) in plugins.items()]

    def entry_points(*, group: str) -> list[FakeEP]:
        return eps if group == "intentroute" else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def _plugin_registering(name: str) -> object:
    class P:
        @intentroute.hookimpl
        def register_layers(self, register: Any) -> None:
            register(name, FixedLayer)

    return P()


def test_entry_points_in_the_intentroute_group_are_discovered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTENTROUTE_LOAD_PLUGINS", raising=False)
    _fake_entry_points(monkeypatch, {"one": ("dist-one", _plugin_registering("one"))})
    registry = layer_registry(new_plugin_manager())
    assert registry["one"].source == "dist-one 9.9" and registry["one"].plugin == "one"
    assert not registry["one"].builtin


def test_INTENTROUTE_LOAD_PLUGINS_restricts_which_plugins_load(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_entry_points(
        monkeypatch,
        {"one": ("dist-one", _plugin_registering("one")), "two": ("dist-two", _plugin_registering("two"))},
    )
    monkeypatch.setenv("INTENTROUTE_LOAD_PLUGINS", "dist-two")
    assert set(layer_registry(new_plugin_manager())) == {"llm", "rules", "torch_bow", "two"}
    monkeypatch.setenv("INTENTROUTE_LOAD_PLUGINS", "")
    assert set(layer_registry(new_plugin_manager())) == {"llm", "rules", "torch_bow"}
    monkeypatch.setenv("INTENTROUTE_LOAD_PLUGINS", "three")
    with pytest.raises(PluginError, match="'three'.*installed: dist-one, dist-two, one, two"):
        new_plugin_manager()


def test_a_plugin_named_in_INTENTROUTE_LOAD_PLUGINS_that_fails_to_import_is_a_plugin_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INTENTROUTE_LOAD_PLUGINS", "broken")
    _fake_entry_points(monkeypatch, {"broken": ("broken-dist", ImportError("no module named nope"))})
    with pytest.raises(PluginError, match="'broken' \\(broken-dist 9.9.*no module named nope"):
        new_plugin_manager()


def test_a_broken_installed_plugin_is_skipped_and_logged_and_the_built_ins_still_work(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("INTENTROUTE_LOAD_PLUGINS", raising=False)
    _fake_entry_points(monkeypatch, {"broken": ("broken-dist", ImportError("no module named nope"))})
    with caplog.at_level("ERROR", logger="intentroute"):
        pm = new_plugin_manager()
    assert "broken" in pm.broken and "no module named nope" in pm.broken["broken"][1]
    assert {"rules", "torch_bow", "llm"} <= set(layer_registry(pm))
    assert build_cascade({"layers": [{"name": "rules"}]}, plugin_manager=pm).route("cash balance").intent
    assert any("failed to load" in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)


def test_availability_reports_why_a_layer_cannot_run(fresh_pm: PluginManager) -> None:
    class NeedsExtra(FixedLayer):
        @staticmethod
        def availability() -> str | None:
            return "needs the [torch] extra: pip install 'intentroute[torch]'"

    class P:
        @intentroute.hookimpl
        def register_layers(self, register: Any) -> None:
            register("needy", NeedsExtra)

    fresh_pm.register(P(), name="p")
    assert "pip install" in (layer_registry(fresh_pm)["needy"].availability() or "")


def test_importing_intentroute_loads_no_plugin() -> None:
    import subprocess
    import sys

    code = (
        "import intentroute, intentroute.plugins as p, sys; assert p._pm is None; "
        "assert 'torch' not in sys.modules; assert 'openai' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
