"""Route a Ray Data dataset on a cluster: each worker builds its cascade once and routes batches.

``pip install 'intentroute[ray]'``. :func:`route_dataset` maps a ``ray.data.Dataset`` through the
cascade with ``map_batches`` and a callable class, so every worker (a Ray actor) builds its
cascade, and loads its bundle, once, then routes each batch with ``route_batch``. The result has
the input's columns and the route's: ``intent``, ``confidence``, ``layer``, ``extracted`` and
``missing`` (the last two as JSON strings, as ``intentroute route --input`` writes them to CSV and
Parquet), and ``trace`` on request. An LLM layer in the cascade keeps its concurrency cap and
cache per worker.

    import ray, intentroute.ray
    ds = ray.data.read_json("s3://bucket/chats/")
    routed = intentroute.ray.route_dataset(ds, text_column="message", concurrency=8)
    routed.write_parquet("s3://bucket/routed/")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import build_cascade, default_cascade
from .errors import ConfigError, InputError, MissingDependency
from .types import _jsonable

__all__ = ["Router", "route_dataset", "route_path"]


class Router:
    """What each Ray worker runs: a cascade built once, called on batches of rows.

    ``config``: a cascade config file (every worker must be able to read it), ``None`` for the
    default cascade. A batch is a dict of columns (Ray's ``"numpy"`` batch format).
    """

    def __init__(
        self, config: str | None = None, text_column: str = "text", prefix: str = "", trace: bool = False
    ) -> None:
        self.cascade = default_cascade() if config is None else build_cascade(Path(config))
        self.text_column, self.prefix, self.trace = text_column, prefix, trace

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        if self.text_column not in batch:
            raise InputError(f"no {self.text_column!r} column: {sorted(batch)}", source="<dataset>", line=1)
        texts = list(batch[self.text_column])
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise InputError(f"a {type(t).__name__} as its text, not a str", source="<dataset batch>", line=i + 1)
        routes = self.cascade.route_batch(texts)
        p = self.prefix
        out = dict(batch)
        added = {
            p + "intent": [r.intent for r in routes],
            p + "confidence": [r.confidence for r in routes],
            p + "layer": [r.layer for r in routes],
            p + "extracted": [json.dumps(_jsonable(r.extracted), ensure_ascii=False) for r in routes],
            p + "missing": [json.dumps(list(r.missing_params)) for r in routes],
        }
        if self.trace:
            added[p + "trace"] = [json.dumps([s.to_dict() for s in r.trace], ensure_ascii=False) for r in routes]
        clash = sorted(set(added) & set(out))
        if clash:
            raise ConfigError(f"the dataset already has {clash}; pass a prefix for the route's columns")
        out.update(added)
        return out


def route_dataset(
    ds: Any,
    *,
    text_column: str = "text",
    config: str | Path | None = None,
    concurrency: int = 1,
    batch_size: int = 2048,
    prefix: str = "",
    trace: bool = False,
    num_cpus: float = 1.0,
) -> Any:
    """``ds`` (a ``ray.data.Dataset``) with each row's route added, lazily, as Ray Data does.

    ``concurrency`` workers (actors, ``num_cpus`` each) route ``batch_size`` rows at a time.
    """
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigError(f"concurrency must be a positive integer, got {concurrency!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    if config is not None and not Path(config).is_file():
        raise ConfigError("no such cascade config", source=str(config))
    try:
        from ray.data import ActorPoolStrategy
    except ImportError as exc:
        raise MissingDependency("route_dataset needs Ray Data: pip install 'intentroute[ray]'") from exc
    return ds.map_batches(
        Router,
        fn_constructor_kwargs={
            "config": None if config is None else str(Path(config).resolve()),
            "text_column": text_column,
            "prefix": prefix,
            "trace": trace,
        },
        batch_size=batch_size,
        batch_format="numpy",
        compute=ActorPoolStrategy(size=concurrency),
        num_cpus=num_cpus,
    )


_READ = {"jsonl": "read_json", "csv": "read_csv", "parquet": "read_parquet"}
_WRITE = {"jsonl": "write_json", "csv": "write_csv", "parquet": "write_parquet"}


def route_path(
    source: str,
    target: str,
    *,
    input_format: str,
    output_format: str,
    text_column: str = "text",
    config: str | Path | None = None,
    concurrency: int = 1,
    batch_size: int = 2048,
    prefix: str = "",
    trace: bool = False,
) -> int:
    """Read ``source`` (a file, a folder or a URI Ray's readers take: ``s3://...``) with Ray Data,
    route it and write the result to the folder ``target`` (Ray writes one file per block);
    returns how many rows were written. ``intentroute route --engine ray`` is this function."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingDependency("--engine ray needs Ray Data: pip install 'intentroute[ray]'") from exc
    if input_format not in _READ or output_format not in _WRITE:
        raise ConfigError(f"formats are {sorted(_READ)}, got {input_format!r} and {output_format!r}")
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    ds = getattr(ray.data, _READ[input_format])(source)
    routed = route_dataset(
        ds,
        text_column=text_column,
        config=config,
        concurrency=concurrency,
        batch_size=batch_size,
        prefix=prefix,
        trace=trace,
    ).materialize()
    getattr(routed, _WRITE[output_format])(target)
    count: int = routed.count()
    return count
