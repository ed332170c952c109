"""Routing a file: intentroute.stream.route_file and ``intentroute route --input``, on real files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import intentroute
from intentroute.errors import ConfigError, InputError
from intentroute.stream import route_file

CASCADE = intentroute.default_cascade()
TEXTS = [
    "what's my cash balance",
    "how did AAPL do this year",
    'price of "TSLA", please',
    "show my positions\nall of them",
    "hello there",
    "what's the price of apple",
    "how much is my roth worth",
]


def write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def expected(text: str) -> dict[str, object]:
    r = CASCADE.route(text)
    return {
        "intent": r.intent,
        "layer": r.layer,
        "extracted": json.loads(json.dumps(r.to_dict()["extracted"])),
        "missing": list(r.missing_params),
    }


def test_every_record_comes_back_with_its_route_and_its_own_columns(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "log.jsonl", [{"text": t, "user": i, "meta": {"a": [i]}} for i, t in enumerate(TEXTS)])
    summary = route_file(src, tmp_path / "out.jsonl", CASCADE, chunk_size=3)
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert [r["text"] for r in rows] == TEXTS and [r["user"] for r in rows] == list(range(len(TEXTS)))
    assert rows[0]["meta"] == {"a": [0]}
    for row in rows:
        assert {k: row[k] for k in ("intent", "layer", "extracted", "missing")} == expected(str(row["text"]))
        assert row["confidence"] == pytest.approx(CASCADE.route(str(row["text"])).confidence, abs=1e-9)
    assert summary.routed == len(TEXTS) and summary.skipped == 0
    assert sum(summary.intents.values()) == len(TEXTS) and sum(summary.layers.values()) == len(TEXTS)
    assert 0.0 <= summary.clarify_share <= 1.0 and "routed 7 utterances" in summary.format()


def test_the_chunk_size_changes_nothing_in_the_output(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "log.jsonl", [{"text": t} for t in TEXTS * 5])
    route_file(src, tmp_path / "a.jsonl", CASCADE, chunk_size=1)
    route_file(src, tmp_path / "b.jsonl", CASCADE, chunk_size=1000)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_csv_in_and_out_keeps_quotes_commas_and_newlines(tmp_path: Path) -> None:
    src = tmp_path / "log.csv"
    with open(src, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text"])
        w.writerows([[i, t] for i, t in enumerate(TEXTS)])
    route_file(src, tmp_path / "out.csv", CASCADE, trace=True)
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["text"] for r in rows] == TEXTS and [r["id"] for r in rows] == [str(i) for i in range(len(TEXTS))]
    for row in rows:
        want = expected(row["text"])
        assert row["intent"] == want["intent"] and json.loads(row["extracted"]) == want["extracted"]
        assert json.loads(row["missing"]) == want["missing"]
        assert json.loads(row["trace"])[0]["layer"] == "rules"  # the trace, on request


def test_jsonl_in_csv_out_and_back(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "log.jsonl", [{"text": t} for t in TEXTS])
    route_file(src, tmp_path / "out.csv", CASCADE)
    route_file(tmp_path / "out.csv", tmp_path / "again.jsonl", CASCADE, prefix="second_")
    rows = read_jsonl(tmp_path / "again.jsonl")
    assert [r["second_intent"] for r in rows] == [r["intent"] for r in rows]


def test_a_malformed_record_stops_the_run_naming_its_line_and_nothing_is_written(tmp_path: Path) -> None:
    src = tmp_path / "log.jsonl"
    lines = [json.dumps({"text": t}) for t in TEXTS]
    lines.insert(4, '{"text": "unterminated')
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        route_file(src, tmp_path / "out.jsonl", CASCADE, chunk_size=2)  # after two chunks were written
    assert err.value.line == 5 and str(src) in str(err.value) and "not JSON" in str(err.value)
    assert list(tmp_path.iterdir()) == [src]  # no output, no partial file


def test_skipped_records_are_counted_and_quoted_never_dropped_silently(tmp_path: Path) -> None:
    src = tmp_path / "log.jsonl"
    bad = [b"not json", b'"a string"', b'{"text": 7}', b'{"other": "x"}', b"\xff\xfe{}"]
    good = [json.dumps({"text": t}).encode() for t in TEXTS]
    src.write_bytes(b"\n".join(good[:3] + bad + [b""] + good[3:]) + b"\n")
    summary = route_file(src, tmp_path / "out.jsonl", CASCADE, on_error="skip")
    assert summary.routed == len(TEXTS) and summary.skipped == len(bad)
    assert [e.split(":")[1] for e in summary.errors] == ["4", "5", "6", "7", "8"]
    assert "not UTF-8" in summary.errors[-1] and "'text'" in summary.errors[3]
    assert [r["text"] for r in read_jsonl(tmp_path / "out.jsonl")] == TEXTS


def test_a_csv_record_with_the_wrong_number_of_fields_is_malformed(tmp_path: Path) -> None:
    src = tmp_path / "log.csv"
    src.write_text('id,text\n1,"my cash"\n2,"a",extra\n3\n4,"quote tsla"\n', encoding="utf-8")
    summary = route_file(src, tmp_path / "out.csv", CASCADE, on_error="skip")
    assert summary.routed == 2 and summary.skipped == 2
    assert [e.split(":")[1] for e in summary.errors] == ["3", "4"]
    (tmp_path / "nocol.csv").write_text("id,message\n1,hi\n", encoding="utf-8")
    with pytest.raises(InputError, match="no 'text' column"):
        route_file(tmp_path / "nocol.csv", tmp_path / "x.csv", CASCADE, on_error="skip")


def test_nothing_a_user_wrote_is_overwritten_without_asking(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "log.jsonl", [{"text": t} for t in TEXTS])
    out = tmp_path / "out.jsonl"
    out.write_text("mine\n", encoding="utf-8")
    with pytest.raises(FileExistsError):
        route_file(src, out, CASCADE)
    assert out.read_text(encoding="utf-8") == "mine\n"
    route_file(src, out, CASCADE, overwrite=True)
    assert len(read_jsonl(out)) == len(TEXTS)
    with pytest.raises(ConfigError, match="replace the input"):
        route_file(src, src, CASCADE, overwrite=True)
    clash = write_jsonl(tmp_path / "gold.jsonl", [{"text": "my cash", "intent": "cash_balance"}])
    with pytest.raises(ConfigError, match="prefix"):
        route_file(clash, tmp_path / "g.jsonl", CASCADE)
    route_file(clash, tmp_path / "g.jsonl", CASCADE, prefix="routed_")
    (row,) = read_jsonl(tmp_path / "g.jsonl")
    assert row["intent"] == "cash_balance" and row["routed_intent"] == "cash_balance"


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "log.jsonl", [{"text": "hi"}])
    with pytest.raises(ConfigError, match="suffix"):
        route_file(src, tmp_path / "out.txt", CASCADE)
    with pytest.raises(ConfigError, match="on_error"):
        route_file(src, tmp_path / "out.jsonl", CASCADE, on_error="ignore")
    with pytest.raises(ConfigError, match="chunk_size"):
        route_file(src, tmp_path / "out.jsonl", CASCADE, chunk_size=0)
    with pytest.raises(ConfigError, match="no such file"):
        route_file(tmp_path / "missing.jsonl", tmp_path / "out.jsonl", CASCADE)


def test_parquet_in_and_out(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"text": TEXTS, "n": list(range(len(TEXTS)))}), tmp_path / "log.parquet")
    summary = route_file(tmp_path / "log.parquet", tmp_path / "out.parquet", CASCADE, chunk_size=3)
    rows = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert summary.routed == len(TEXTS) and [r["n"] for r in rows] == list(range(len(TEXTS)))
    assert [r["intent"] for r in rows] == [expected(t)["intent"] for t in TEXTS]
    assert json.loads(rows[1]["extracted"]) == expected(TEXTS[1])["extracted"]


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=30)
@given(st.lists(_TEXT, min_size=1, max_size=8), st.sampled_from(["jsonl", "csv"]))
def test_any_text_survives_the_round_trip_and_routes_as_route_does(texts: list[str], fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src = write_jsonl(folder / "in.jsonl", [{"text": t} for t in texts])
        route_file(src, folder / f"out.{fmt}", CASCADE)
        if fmt == "csv":
            with open(folder / "out.csv", encoding="utf-8", newline="") as fh:
                rows: list[dict[str, object]] = list(csv.DictReader(fh))
        else:
            rows = read_jsonl(folder / "out.jsonl")
        assert [r["text"] for r in rows] == texts
        assert [r["intent"] for r in rows] == [CASCADE.route(t).intent for t in texts]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "intentroute", "route", *args], capture_output=True, text=True, timeout=300
    )


def test_the_command_line_streams_a_file_and_prints_a_summary(tmp_path: Path) -> None:
    lines = [json.dumps({"text": t}) for t in TEXTS] + ["{broken"]
    (tmp_path / "log.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    done = run_cli("--input", str(tmp_path / "log.jsonl"), "--output", str(out), "--on-error", "skip")
    assert done.returncode == 0, done.stderr
    assert "routed 7 utterances" in done.stderr and "skipped (malformed): 1" in done.stderr
    assert f"{tmp_path / 'log.jsonl'}:8: not JSON" in done.stderr
    with open(out, encoding="utf-8", newline="") as fh:
        assert [r["text"] for r in csv.DictReader(fh)] == TEXTS
    stopped = run_cli("--input", str(tmp_path / "log.jsonl"), "--output", str(tmp_path / "o2.jsonl"))
    assert stopped.returncode == 1 and "InputError" in stopped.stderr and ":8: not JSON" in stopped.stderr
    assert not (tmp_path / "o2.jsonl").exists()
    exists = run_cli("--input", str(tmp_path / "log.jsonl"), "--output", str(out))
    assert exists.returncode == 2 and "--force" in exists.stderr
    alone = run_cli("--input", str(tmp_path / "log.jsonl"))
    assert alone.returncode == 2 and "--input and --output go together" in alone.stderr
