from __future__ import annotations

import json
from pathlib import Path

from .conftest import run_cli


def test_route_prints_intent_confidence_layer_and_params() -> None:
    out = run_cli("route", "what's tsla trading at")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\t")[0] == "quotes" and "symbol=TSLA" in out.stdout


def test_route_explain_prints_the_decision_and_the_trace() -> None:
    out = run_cli("route", "what's tsla trading at", "--explain")
    assert out.returncode == 0, out.stderr
    assert "intent: quotes" in out.stdout and "decided by: rules" in out.stdout
    assert "1. rules [threshold 0.75, margin 0.1]: accepted" in out.stdout
    assert "evidence: quotes: phrase 'trading at'" in out.stdout


def test_route_json_prints_route_to_dict_per_line() -> None:
    out = run_cli("route", "--json", "hello", "how much cash do i have")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["intent"] for r in rows] == ["clarify", "cash_balance"]
    assert rows[1]["trace"][0]["layer"] == "rules"


def test_route_reads_stdin_when_given_no_text() -> None:
    out = run_cli("route", input="list my holdings\nwhat is an etf\n")
    assert out.returncode == 0, out.stderr
    assert [line.split("\t")[0] for line in out.stdout.splitlines()] == ["positions_list", "facts"]


def test_route_with_a_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('fallback = "best"\n[[layers]]\nname = "rules"\nthreshold = 0.99\n')
    out = run_cli("route", "--config", str(cfg), "--json", "quote please")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["intent"] == "quotes"


def test_a_bad_config_is_a_one_line_error_with_exit_status_1(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[layers]]\nname = "nope"\n')
    out = run_cli("route", "--config", str(cfg), "hi")
    assert out.returncode == 1
    assert "ConfigError" in out.stderr and "unknown layer 'nope'; known layers: llm, rules, torch_bow" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_missing_config_file_is_a_usage_error() -> None:
    out = run_cli("route", "--config", "/no/such/file.toml", "hi")
    assert out.returncode == 2 and "does not exist" in out.stderr


def test_explain_and_json_together_are_refused() -> None:
    out = run_cli("route", "--json", "--explain", "hi")
    assert out.returncode == 2 and "exclusive" in out.stderr


def test_layers_lists_built_ins_with_source_and_availability() -> None:
    out = run_cli("layers", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["rules"]["source"] == "intentroute (built-in)" and rows["rules"]["available"] is True
    table = run_cli("layers")
    assert table.stdout.splitlines()[0].split() == ["NAME", "PLUGIN", "SOURCE", "AVAILABLE"]


def test_status_shows_policies_and_layer_diagnostics() -> None:
    out = run_cli("status", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["layers"][0]["policy"] == {"threshold": 0.75, "margin": 0.1, "force": False}
    assert report["layers"][0]["status"]["rules"] > 100


def test_version_and_help() -> None:
    assert run_cli("--version").stdout.startswith("intentroute, version ")
    assert "route" in run_cli("--help").stdout
