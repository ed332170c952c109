from __future__ import annotations

import json
from pathlib import Path

import pytest

import intentroute
from intentroute.config import build_cascade, default_config
from intentroute.errors import ConfigError
from intentroute.types import Policy

RULES_ONLY = {"domain": "brokerage", "layers": [{"name": "rules", "threshold": 0.75, "margin": 0.1}]}


def test_build_from_dict_toml_and_json_gives_the_same_cascade(tmp_path: Path) -> None:
    toml_file = tmp_path / "c.toml"
    toml_file.write_text('domain = "brokerage"\n[[layers]]\nname = "rules"\nthreshold = 0.75\nmargin = 0.1\n')
    json_file = tmp_path / "c.json"
    json_file.write_text(json.dumps(RULES_ONLY))
    for source in (RULES_ONLY, toml_file, str(json_file)):
        cascade = build_cascade(source)
        assert cascade.layer_names == ["rules"] and cascade.policies == (Policy(0.75, 0.1),)
        assert cascade.route("what's tsla trading at").extracted == {"symbol": "TSLA"}


def test_relative_paths_in_a_config_file_resolve_against_its_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "my_rules.json").write_text(json.dumps({"intents": {"greet": {"keywords": {"hello": 0.9}}}}))
    cfg = tmp_path / "sub" / "cascade.toml"
    cfg.write_text('[[layers]]\nname = "rules"\nparams = { rules = "./my_rules.json" }\n')
    assert build_cascade(cfg).route("hello").intent == "greet"


def test_an_unknown_layer_is_a_config_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown layer 'rulez'; known layers: llm, rules, torch_bow"):
        build_cascade({"layers": [{"name": "rulez"}]})


def test_a_bad_parameter_names_the_layer_the_parameter_and_the_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        build_cascade({"layers": [{"name": "rules", "params": {"colour": "blue"}}]})
    assert info.value.layer == "rules" and info.value.param == "colour" and info.value.value == "blue"
    assert "accepted parameters: rules, name, min_score" in str(info.value)
    with pytest.raises(ConfigError) as info:
        build_cascade({"layers": [{"name": "rules", "params": {"min_score": 7}}]})
    assert "layer 'rules'" in str(info.value) and "min_score" in str(info.value) and "7" in str(info.value)
    with pytest.raises(ConfigError) as info:
        build_cascade({"layers": [{"name": "rules", "threshold": 1.2}]})
    assert (info.value.layer, info.value.param, info.value.value) == ("rules", "threshold", 1.2)
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="nope.toml"):
        build_cascade({"layers": [{"name": "rules", "params": {"rules": str(missing)}}]})


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({}, "'layers' must be a non-empty list"),
        ({"layers": []}, "'layers' must be a non-empty list"),
        ({"layers": [{"threshold": 0.5}]}, "needs a 'name'"),
        ({"layers": [{"name": "rules", "thresh": 0.5}]}, "unknown keys \\['thresh'\\]"),
        ({"layers": ["rules"]}, "must be a table"),
        ({"layers": [{"name": "rules"}], "fallback": "guess"}, "'fallback' must be one of"),
        ({"layers": [{"name": "rules"}], "colour": 1}, "unknown keys \\['colour'\\]"),
        ({"layers": [{"name": "rules"}], "domain": "weather"}, "not an embedded domain"),
        ({"layers": [{"name": "rules", "force": "yes"}]}, "true or false"),
        ({"layers": [{"name": "rules"}, {"name": "rules"}]}, "unique"),
    ],
)
def test_malformed_configs_are_config_errors(config: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        build_cascade(config)


def test_malformed_files_are_config_errors_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("layers = [")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        build_cascade(bad)
    yaml = tmp_path / "c.yaml"
    yaml.write_text("layers: []")
    with pytest.raises(ConfigError, match="must end in .toml or .json"):
        build_cascade(yaml)
    with pytest.raises(ConfigError, match="cannot read config file"):
        build_cascade(tmp_path / "absent.json")


def test_default_cascade_is_the_seed_policy_with_the_classifier_threshold_fitted_for_its_bundle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from intentroute.domains import domain_path
    from intentroute.policies import load_policies

    cascade = intentroute.default_cascade()
    assert cascade.layer_names == ["rules", "torch_bow"]
    assert cascade.policy_for("rules") == Policy(0.75, 0.1)
    fitted = load_policies(domain_path("brokerage", "policies.toml"))
    assert set(fitted) == {"torch_bow"} and cascade.policy_for("torch_bow") == fitted["torch_bow"]
    assert cascade.fallback == "clarify"
    # another bundle through the seed's variables: the seed's threshold, not the embedded model's
    monkeypatch.setenv(
        "TORCH_ROUTER_LABELS_PATH", str(domain_path("brokerage", "bundle") / "intent_router_labels.json")
    )
    assert intentroute.default_cascade().policy_for("torch_bow") == Policy(0.6, 0.0)


def test_ROUTER_CONF_THRESHOLD_sets_the_rules_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_CONF_THRESHOLD", "0.9")
    cascade = intentroute.default_cascade()
    assert cascade.policy_for("rules").threshold == 0.9
    # "quote please" scores 0.78 in the rules: accepted at 0.75, not at 0.9 (the classifier decides)
    route = cascade.route("quote please")
    assert route.trace[0].outcome == "rejected" and route.layer != "rules"
    monkeypatch.setenv("ROUTER_CONF_THRESHOLD", "0.75")
    assert intentroute.default_cascade().route("quote please").layer == "rules"
    monkeypatch.setenv("ROUTER_CONF_THRESHOLD", "high")
    with pytest.raises(ConfigError, match="ROUTER_CONF_THRESHOLD='high' is not a number"):
        default_config()


def test_TORCH_ROUTER_variables_set_the_classifier_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_ROUTER_CONF_THRESHOLD", "0.95")
    monkeypatch.setenv("TORCH_ROUTER_FORCE", "true")
    assert intentroute.default_cascade().policy_for("torch_bow") == Policy(0.95, 0.0, force=True)
    monkeypatch.setenv("TORCH_ROUTER_FORCE", "maybe")
    with pytest.raises(ConfigError, match="TORCH_ROUTER_FORCE='maybe' must be true or false"):
        default_config()
