from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import intentroute
from intentroute import Cascade, Policy
from intentroute.config import build_cascade
from intentroute.errors import ConfigError
from intentroute.policies import load_policies
from intentroute.tune import fit_policies, lower_bound, parse_target, save_policies
from intentroute.types import Candidate, LayerResult

from .conftest import run_cli


class Table:
    """A layer answering from a fixed table: text -> [(intent, score), ...]."""

    def __init__(self, name: str, table: dict[str, list[tuple[str, float]]]) -> None:
        self.name = name
        self.table = table

    def route(self, text: str) -> LayerResult:
        return LayerResult([Candidate(i, s) for i, s in self.table.get(text, [])])


# first layer: confident and right on a, b; confident and WRONG on c (0.8); unsure on d (0.4)
FIRST = Table(
    "first", {"a": [("x", 0.95)], "b": [("y", 0.9)], "c": [("x", 0.8)], "d": [("y", 0.4)], "junk": [("x", 0.7)]}
)
SECOND = Table("second", {"c": [("y", 0.9)], "d": [("y", 0.85)], "junk": [("y", 0.3)]})
TEXTS = ["a", "b", "c", "d", "junk"]
GOLD = ["x", "y", "y", "y", "oos"]


def test_accuracy_target_finds_thresholds_that_route_everything_right() -> None:
    cascade = Cascade([FIRST, SECOND], [Policy(0.0), Policy(0.0)])
    result = fit_policies(cascade, TEXTS, GOLD, target="accuracy")
    assert result.accuracy == 1.0 and result.oos_recall == 1.0
    t1, t2 = result.policies["first"].threshold, result.policies["second"].threshold
    assert 0.8 < t1 <= 0.9 and 0.3 < t2 <= 0.85
    tuned = Cascade([FIRST, SECOND], [result.policies["first"], result.policies["second"]])
    assert [tuned.route(t).intent for t in TEXTS] == ["x", "y", "y", "y", "clarify"]


def test_precision_target_maximises_coverage_at_that_precision() -> None:
    cascade = Cascade([FIRST], [Policy(0.0)])
    result = fit_policies(cascade, TEXTS, GOLD, target="precision:1.0")
    assert result.precision == 1.0 and result.coverage == 0.4  # only a and b can be answered exactly right
    loose = fit_policies(cascade, TEXTS, GOLD, target="precision:0.5")
    assert loose.coverage > result.coverage and loose.precision >= 0.5


def test_targets_are_parsed_strictly() -> None:
    assert parse_target("precision:0.9") == ("precision", 0.9)
    assert parse_target("oos_recall:0.8") == ("oos_recall", 0.8)
    for bad in ("recall", "precision:2", "precision:x", "oos_recall:0", "recall:0.8", "oos_recall"):
        with pytest.raises(ConfigError, match="target must be"):
            parse_target(bad)


def test_policies_round_trip_through_a_file_and_a_config(tmp_path: Path) -> None:
    result = fit_policies(Cascade([FIRST, SECOND]), TEXTS, GOLD)
    path = save_policies(tmp_path / "policies.toml", result)
    assert load_policies(path) == result.policies
    cfg = tmp_path / "c.toml"
    cfg.write_text('policies = "./policies.toml"\n[[layers]]\nname = "rules"\n')
    with pytest.raises(ConfigError, match="does not have"):
        build_cascade(cfg)  # the file names layers "first" and "second"
    cfg.write_text('[policies.rules]\nthreshold = 0.9\nmargin = 0.2\n[[layers]]\nname = "rules"\nthreshold = 0.1\n')
    assert build_cascade(cfg).policy_for("rules") == Policy(0.9, 0.2)


def test_a_broken_policies_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text("[policies.rules]\nthreshold = 3\n")
    with pytest.raises(ConfigError, match="p.toml: layer 'rules'"):
        load_policies(bad)


def test_cli_tune_on_the_default_cascade(tmp_path: Path) -> None:
    data = tmp_path / "val.jsonl"
    rows = [
        ("what's tsla trading at", "quotes"),
        ("how did my roth do", "performance"),
        ("list my holdings", "positions_list"),
        ("tell me a joke", "oos"),
        ("asdf qwer", "oos"),
    ]
    data.write_text("".join(json.dumps({"text": t, "intent": i}) + "\n" for t, i in rows))
    out = run_cli("tune", "--data", str(data), "--out", str(tmp_path / "p.toml"))
    assert out.returncode == 0, out.stderr
    assert "rules: threshold" in out.stdout and "torch_bow: threshold" in out.stdout
    assert "accuracy 1.0" in out.stdout and (tmp_path / "p.toml").exists()
    again = run_cli("tune", "--data", str(data), "--out", str(tmp_path / "p.toml"))
    assert again.returncode == 2 and "--force" in again.stderr


def test_default_cascade_uses_fitted_policies_of_the_domain_and_env_still_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from intentroute.domains import domain_path

    original = domain_path("brokerage", "domain.json").parent
    shutil.copytree(original, tmp_path / "brokerage")
    folder = tmp_path / "brokerage2"
    shutil.copytree(original, folder, ignore=shutil.ignore_patterns("bundle"))
    (folder / "policies.toml").write_text("[policies.rules]\nthreshold = 0.9\nmargin = 0.2\n")
    monkeypatch.setattr("intentroute.domains.available_domains", lambda: ["brokerage", "brokerage2"])
    monkeypatch.setattr("intentroute.domains._ROOT", tmp_path)
    cascade = intentroute.default_cascade("brokerage2")
    assert cascade.policy_for("rules") == Policy(0.9, 0.2)
    monkeypatch.setenv("ROUTER_CONF_THRESHOLD", "0.8")
    assert intentroute.default_cascade("brokerage2").policy_for("rules") == Policy(0.8, 0.2)


def test_an_unreachable_precision_target_says_so_and_gets_as_close_as_it_can() -> None:
    # scores above the highest threshold tried (0.975): both are always answered, one wrongly
    layer = Table("only", {"a": [("x", 0.99)], "c": [("x", 0.99)]})
    result = fit_policies(Cascade([layer]), ["a", "c"], ["x", "y"], target="precision:0.99")
    assert result.target_met is False and result.precision == 0.5
    assert fit_policies(Cascade([FIRST]), TEXTS, GOLD, target="precision:1.0").target_met is True


def test_generated_background_examples_count_as_out_of_scope() -> None:
    result = fit_policies(Cascade([FIRST, SECOND]), TEXTS, [*GOLD[:4], "none"])
    assert result.oos_recall == 1.0 and result.accuracy == 1.0


# in-scope texts i0..i9 answered right with scores 0.50..0.95; out-of-scope o0..o9 scored 0.05..0.95
SPREAD = Table(
    "spread",
    {**{f"i{k}": [("x", 0.5 + 0.05 * k)] for k in range(10)}, **{f"o{k}": [("x", 0.05 + 0.1 * k)] for k in range(10)}},
)
SPREAD_TEXTS = [f"i{k}" for k in range(10)] + [f"o{k}" for k in range(10)]
SPREAD_GOLD = ["x"] * 10 + ["oos"] * 10


def test_oos_recall_target_answers_the_most_in_scope_texts_at_that_recall() -> None:
    result = fit_policies(Cascade([SPREAD]), SPREAD_TEXTS, SPREAD_GOLD, target="oos_recall:0.8")
    # rejecting o0..o7 (scores up to 0.75) needs a threshold above 0.75, which drops i0..i5
    assert result.target_met and result.oos_recall == 0.8 and result.in_scope_correct == 0.4
    assert 0.75 < result.policies["spread"].threshold <= 0.8
    assert all("oos_recall" in point for point in result.curve)
    with pytest.raises(ConfigError, match="needs out-of-scope examples"):
        fit_policies(Cascade([SPREAD]), SPREAD_TEXTS[:10], SPREAD_GOLD[:10], target="oos_recall:0.8")


def test_confidence_asks_the_lower_bound_to_reach_the_level() -> None:
    plain = fit_policies(Cascade([SPREAD]), SPREAD_TEXTS, SPREAD_GOLD, target="oos_recall:0.6")
    sure = fit_policies(Cascade([SPREAD]), SPREAD_TEXTS, SPREAD_GOLD, target="oos_recall:0.6", confidence=0.9)
    assert plain.oos_recall == 0.6 and sure.target_met
    # 10 of 10 rejected: lower bound 0.1 ** 0.1 = 0.79; 9 of 10: 0.66; 8 of 10: 0.55 < 0.6
    assert sure.oos_recall == 0.9 and float(lower_bound(9, 10, 0.9)) >= 0.6 > float(lower_bound(8, 10, 0.9))
    assert sure.policies["spread"].threshold > plain.policies["spread"].threshold
    unreachable = fit_policies(Cascade([SPREAD]), SPREAD_TEXTS, SPREAD_GOLD, target="oos_recall:0.9", confidence=0.9)
    assert not unreachable.target_met and unreachable.oos_recall == 1.0  # as close as it gets
    strict = fit_policies(Cascade([FIRST]), TEXTS, GOLD, target="precision:0.5", confidence=0.5)
    assert strict.target_met
    with pytest.raises(ConfigError, match="confidence"):
        fit_policies(Cascade([SPREAD]), SPREAD_TEXTS, SPREAD_GOLD, target="oos_recall:0.5", confidence=1.0)
    with pytest.raises(ConfigError, match="confidence bounds a precision or recall level"):
        fit_policies(Cascade([SPREAD]), SPREAD_TEXTS, SPREAD_GOLD, target="accuracy", confidence=0.9)


@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))), st.floats(0.5, 0.99))
def test_lower_bound_is_the_clopper_pearson_bound(kn: tuple[int, int], confidence: float) -> None:
    from scipy.stats import binom

    k, n = kn
    bound = float(lower_bound(k, n, confidence))
    assert 0.0 <= bound <= k / n
    # the true proportion at the bound makes k or more successes exactly 1 - confidence likely
    assert np.isclose(binom.sf(k - 1, n, bound), 1.0 - confidence, atol=1e-6)
    assert float(lower_bound(k, n, None)) == k / n and float(lower_bound(0, n, confidence)) == 0.0


def test_cli_tune_for_out_of_scope_recall_with_confidence(tmp_path: Path) -> None:
    data = tmp_path / "val.jsonl"
    rows = [("what's tsla trading at", "quotes"), ("list my holdings", "positions_list")]
    rows += [(t, "oos") for t in ("tell me a joke", "asdf qwer", "book a flight to rome", "what's the weather")]
    data.write_text("".join(json.dumps({"text": t, "intent": i}) + "\n" for t, i in rows))
    out = run_cli("tune", "--data", str(data), "--target", "oos_recall:0.5", "--confidence", "0.8", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["confidence"] == 0.8 and result["oos_recall"] == 1.0 and result["in_scope_correct"] is not None
    bad = run_cli("tune", "--data", str(data), "--confidence", "1.5")
    assert bad.returncode == 2 and "--confidence" in bad.stderr


def test_only_the_named_layers_are_fitted_and_saved(tmp_path: Path) -> None:
    cascade = Cascade([FIRST, SECOND], [Policy(0.0), Policy(0.0)])
    result = fit_policies(cascade, TEXTS, GOLD, layers=["second"])
    assert result.fitted == ["second"] and result.policies["first"] == Policy(0.0)
    assert result.policies["second"] != Policy(0.0)
    assert result.accuracy <= fit_policies(cascade, TEXTS, GOLD).accuracy
    path = save_policies(tmp_path / "p.toml", result)
    assert set(load_policies(path)) == {"second"}  # the kept layer stays owned by its configuration
    with pytest.raises(ConfigError, match="layers to fit"):
        fit_policies(cascade, TEXTS, GOLD, layers=["third"])


def test_cli_tune_fits_one_layer_and_keeps_the_other(tmp_path: Path) -> None:
    data = tmp_path / "val.jsonl"
    rows = [("what's tsla trading at", "quotes"), ("list my holdings", "positions_list"), ("tell me a joke", "oos")]
    data.write_text("".join(json.dumps({"text": t, "intent": i}) + "\n" for t, i in rows))
    out = run_cli("tune", "--data", str(data), "--layer", "torch_bow", "--out", str(tmp_path / "p.toml"))
    assert out.returncode == 0, out.stderr
    assert "(kept)" in out.stdout.split("rules:")[1].splitlines()[0]
    assert set(load_policies(tmp_path / "p.toml")) == {"torch_bow"}


def test_cli_tune_usage_errors_exit_2_before_any_work(tmp_path: Path) -> None:
    data = tmp_path / "val.jsonl"
    data.write_text('{"text": "cash", "intent": "cash_balance"}\n', encoding="utf-8")
    bad_target = run_cli("tune", "--data", str(data), "--target", "recall:2")
    assert bad_target.returncode == 2 and "--target" in bad_target.stderr, bad_target.stderr
    bad_layer = run_cli("tune", "--data", str(data), "--layer", "nope")
    assert bad_layer.returncode == 2 and "no layer 'nope'" in bad_layer.stderr, bad_layer.stderr
