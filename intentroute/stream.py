"""Route a file of utterances (chat logs, a labelled set) in chunks, never holding it whole.

:func:`route_file` reads JSONL, CSV or Parquet (with ``pyarrow``) a chunk of records at a time,
routes each chunk's texts with :meth:`Cascade.route_batch <intentroute.cascade.Cascade.route_batch>`
and writes every record back with the route's columns added (``intent``, ``confidence``,
``layer``, ``extracted``, ``missing``, and ``trace`` on request), in the same format or another.
The output is written under a temporary name and renamed into place at the end, so a run that
fails or is killed never leaves a partial file that looks complete. A malformed record is an
:class:`~intentroute.errors.InputError` naming its file and line, raised (``on_error="stop"``)
or counted and skipped (``"skip"``); it is never dropped silently. ``intentroute route --input``
is this function.

>>> import json, tempfile
>>> from pathlib import Path
>>> from intentroute import default_cascade
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "log.jsonl").write_text('{"text": "what is my cash balance", "user": 7}\\n')
>>> summary = route_file(folder / "log.jsonl", folder / "routed.jsonl", default_cascade())
>>> json.loads((folder / "routed.jsonl").read_text())["intent"], summary.routed
('cash_balance', 1)
"""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ._io import atomic_output
from .errors import ConfigError, InputError, MissingDependency
from .types import CLARIFY, Route, _jsonable

__all__ = ["FORMATS", "ON_ERROR", "StreamSummary", "format_of", "route_file"]

#: the file formats read and written (Parquet needs ``pyarrow``: ``pip install intentroute[parquet]``)
FORMATS = ("jsonl", "csv", "parquet")
ON_ERROR = ("stop", "skip")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}
#: the columns a route adds to each record (after the ``prefix``)
ROUTE_COLUMNS = ("intent", "confidence", "layer", "extracted", "missing")
_KEPT_ERRORS = 10  # the first malformed records a summary quotes


@dataclass
class StreamSummary:
    """What a :func:`route_file` run did."""

    routed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    intents: Counter[str] = field(default_factory=Counter)
    layers: Counter[str] = field(default_factory=Counter)
    #: the first malformed records skipped, as their error messages
    errors: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.routed / self.seconds if self.seconds > 0 else 0.0

    @property
    def clarify_share(self) -> float:
        return self.intents[CLARIFY] / self.routed if self.routed else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "routed": self.routed,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.per_second, 1),
            "clarify_share": round(self.clarify_share, 4),
            "intents": dict(self.intents.most_common()),
            "layers": dict(self.layers.most_common()),
            "errors": list(self.errors),
        }

    def format(self) -> str:
        """A few lines for a terminal."""
        lines = [
            f"routed {self.routed:,} utterances in {self.seconds:.1f} s ({self.per_second:,.0f}/s); "
            f"sent to {CLARIFY}: {self.clarify_share:.1%}; skipped (malformed): {self.skipped:,}"
        ]
        lines.append("by intent: " + ", ".join(f"{k} {v:,}" for k, v in self.intents.most_common()))
        lines.append("by deciding layer: " + ", ".join(f"{k} {v:,}" for k, v in self.layers.most_common()))
        lines.extend(f"skipped: {e}" for e in self.errors)
        if self.skipped > len(self.errors):
            lines.append(f"... and {self.skipped - len(self.errors):,} more skipped")
        return "\n".join(lines)


def format_of(path: Path, given: str | None = None) -> str:
    """``given``, or the format ``path``'s suffix names (``.jsonl``/``.ndjson``, ``.csv``, ``.parquet``)."""
    if given is not None:
        if given not in FORMATS:
            raise ConfigError(f"unknown format {given!r}; formats: {', '.join(FORMATS)}", source=str(path))
        return given
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise ConfigError(
            f"cannot tell the format from the suffix {path.suffix!r}; name one ({', '.join(FORMATS)})",
            source=str(path),
        )
    return found


def _pyarrow() -> Any:
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependency("Parquet needs pyarrow: pip install 'intentroute[parquet]'") from exc
    return pq


# -- reading: (line, record or the error that makes it malformed) ---------------------------------

Record = dict[str, Any]
Read = tuple[int, Record | InputError]


def _check(record: Any, text_column: str, where: str, line: int) -> Record | InputError:
    if not isinstance(record, dict):
        return InputError(f"a record must be a JSON object, got {type(record).__name__}", source=where, line=line)
    text = record.get(text_column)
    if not isinstance(text, str):
        what = "no" if text_column not in record else f"a {type(text).__name__} as its"
        return InputError(f"the record has {what} {text_column!r} text", source=where, line=line)
    return record


def _read_jsonl(path: Path, text_column: str, chunk_size: int) -> Iterator[Read]:
    where = str(path)
    with open(path, "rb") as fh:
        for line, raw in enumerate(fh, 1):
            if not raw.strip():
                continue  # (a blank line is no record)
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                yield line, InputError(f"not UTF-8: {exc.reason} at byte {exc.start}", source=where, line=line)
                continue
            except json.JSONDecodeError as exc:
                yield line, InputError(f"not JSON: {exc.msg} (column {exc.colno})", source=where, line=line)
                continue
            yield line, _check(record, text_column, where, line)


def _read_csv(path: Path, text_column: str, chunk_size: int) -> Iterator[Read]:
    where = str(path)
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
        reader = csv.DictReader(fh)
        try:
            header = reader.fieldnames
        except csv.Error as exc:
            raise InputError(f"not CSV: {exc}", source=where, line=1) from exc
        if not header or text_column not in header:
            raise InputError(f"the header has no {text_column!r} column: {header}", source=where, line=1)
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, InputError(f"not CSV: {exc}", source=where, line=start)
                continue
            if None in row or any(v is None for v in row.values()):
                yield start, InputError(
                    f"{len(header)} fields expected, the record has another number", source=where, line=start
                )
                continue
            if any("\udc80" <= ch <= "\udcff" for v in row.values() for ch in v if ch >= "\ud800"):
                yield start, InputError("not UTF-8", source=where, line=start)
                continue
            yield start, row


def _read_parquet(path: Path, text_column: str, chunk_size: int) -> Iterator[Read]:
    pq = _pyarrow()
    where = str(path)
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow's errors: ArrowInvalid, OSError ...
        raise InputError(f"not a Parquet file: {exc}", source=where, line=1) from exc
    if text_column not in parquet.schema_arrow.names:
        raise InputError(f"no {text_column!r} column: {parquet.schema_arrow.names}", source=where, line=1)
    line = 0
    for batch in parquet.iter_batches(batch_size=chunk_size):
        for record in batch.to_pylist():
            line += 1
            yield line, _check(record, text_column, where, line)


_READERS: dict[str, Callable[[Path, str, int], Iterator[Read]]] = {
    "jsonl": _read_jsonl,
    "csv": _read_csv,
    "parquet": _read_parquet,
}


# -- writing -----------------------------------------------------------------------------------


class _Writer:
    """Writes output records in one format to an open file."""

    def __init__(self, fmt: str, fh: Any) -> None:
        self.fmt, self.fh = fmt, fh
        self._csv: csv.DictWriter[str] | None = None
        self._parquet: Any = None

    def write(self, records: list[Record]) -> None:
        if not records:
            return
        if self.fmt == "jsonl":
            fh: TextIO = self.fh
            fh.write("".join(_json_line(r) for r in records))
        elif self.fmt == "csv":
            rows = [{k: _cell(v) for k, v in r.items()} for r in records]
            if self._csv is None:
                self._csv = csv.DictWriter(self.fh, fieldnames=list(rows[0]))
                self._csv.writeheader()
            try:
                self._csv.writerows(rows)
            except ValueError as exc:  # a JSONL record with a key the header (the first record's) lacks
                raise ConfigError(f"CSV output needs the same columns in every record: {exc}") from exc
        else:
            self._write_parquet(records)

    def _write_parquet(self, records: list[Record]) -> None:
        pq = _pyarrow()
        import pyarrow as pa

        rows = [{k: _cell(v) if isinstance(v, dict | list) else v for k, v in r.items()} for r in records]
        if self._parquet is None:
            table = pa.Table.from_pylist(rows)
            self._parquet = pq.ParquetWriter(self.fh, table.schema)
        else:
            try:
                table = pa.Table.from_pylist(rows, schema=self._parquet.schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise ConfigError(f"a chunk's columns do not fit the first chunk's types: {exc}") from exc
        self._parquet.write_table(table)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()


# the characters other than "\n" that some readers (Python's str.splitlines) end a line at and
# JSON leaves raw: escaped, so that every record stays on its line for every reader
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _json_line(record: Record) -> str:
    return json.dumps(record, ensure_ascii=False).translate(_LINE_BREAKS) + "\n"


def _cell(value: Any) -> Any:
    """A value for one CSV cell: lists and objects as JSON."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value


def _with_route(record: Record, route: Route, prefix: str, trace: bool) -> Record:
    out = dict(record)
    out[prefix + "intent"] = route.intent
    out[prefix + "confidence"] = route.confidence
    out[prefix + "layer"] = route.layer
    out[prefix + "extracted"] = _jsonable(route.extracted)
    out[prefix + "missing"] = list(route.missing_params)
    if trace:
        out[prefix + "trace"] = [s.to_dict() for s in route.trace]
    return out


def route_file(
    source: Path | str,
    target: Path | str,
    cascade: Any,
    *,
    text_column: str = "text",
    input_format: str | None = None,
    output_format: str | None = None,
    chunk_size: int = 2048,
    on_error: str = "stop",
    trace: bool = False,
    prefix: str = "",
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> StreamSummary:
    """Route every record of ``source`` and write them, with their routes, to ``target``.

    ``cascade`` is a :class:`~intentroute.cascade.Cascade` (anything with ``route_batch``).
    Formats come from the suffixes unless given. Records are routed ``chunk_size`` at a time.
    ``on_error``: ``"stop"`` raises the first malformed record's :class:`InputError` (and writes
    nothing), ``"skip"`` leaves it out and counts it in the summary. The route's columns are
    named ``prefix + "intent"`` etc.; a record that already has one is a :class:`ConfigError`
    (pass a ``prefix``), never overwritten. ``progress`` is called with each chunk's size.
    """
    source, target = Path(source), Path(target)
    fmt_in, fmt_out = format_of(source, input_format), format_of(target, output_format)
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if not source.is_file():
        raise ConfigError("no such file", source=str(source))
    if target.exists() and target.resolve() == source.resolve():
        raise ConfigError("the output would replace the input; write it elsewhere", source=str(target))
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True (--force) to replace it")
    if fmt_in == "parquet" or fmt_out == "parquet":
        _pyarrow()
    if not callable(getattr(cascade, "route_batch", None)):
        raise ConfigError(f"cascade {cascade!r} has no route_batch(texts)")
    added = [prefix + c for c in (*ROUTE_COLUMNS, *(("trace",) if trace else ()))]
    summary = StreamSummary()
    t0 = time.perf_counter()
    with atomic_output(target, text=fmt_out != "parquet") as fh:
        writer = _Writer(fmt_out, fh)
        chunk: list[Record] = []
        for line, record in _READERS[fmt_in](source, text_column, chunk_size):
            if isinstance(record, InputError):
                if on_error == "stop":
                    raise record
                summary.skipped += 1
                if len(summary.errors) < _KEPT_ERRORS:
                    summary.errors.append(str(record))
                continue
            clash = [c for c in added if c in record]
            if clash:
                raise ConfigError(
                    f"line {line}: the record already has {clash}; pass a prefix for the route's columns",
                    source=str(source),
                )
            chunk.append(record)
            if len(chunk) >= chunk_size:
                _route_chunk(cascade, chunk, text_column, writer, summary, prefix, trace, progress)
                chunk = []
        _route_chunk(cascade, chunk, text_column, writer, summary, prefix, trace, progress)
        writer.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def _route_chunk(
    cascade: Any,
    chunk: list[Record],
    text_column: str,
    writer: _Writer,
    summary: StreamSummary,
    prefix: str,
    trace: bool,
    progress: Callable[[int], None] | None,
) -> None:
    if not chunk:
        return
    routes = cascade.route_batch([r[text_column] for r in chunk])
    writer.write([_with_route(r, route, prefix, trace) for r, route in zip(chunk, routes, strict=True)])
    summary.routed += len(chunk)
    summary.intents.update(r.intent for r in routes)
    summary.layers.update(r.layer for r in routes)
    if progress is not None:
        progress(len(chunk))
