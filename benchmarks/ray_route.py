"""The default cascade on Ray Data (``intentroute.ray.route_dataset``), beside one process.

    python -m benchmarks.ray_route [--n 200000]     # needs: pip install 'intentroute[ray]'

A local Ray instance (``ray.init(num_cpus=2)``) routes ``--n`` generated brokerage utterances
(50,000 distinct, with affixes, variants and typos, repeated) with 1 and then 2 workers; each
run's answers (intent, deciding layer, extracted, missing; confidence to 1e-9) are compared with
``route_batch`` in this process on the same texts. Reported: Ray's start-up (``ray.init``) on its
own, and utterances/s for each run, the first batch's actor start included.
"""

from __future__ import annotations

import argparse
import json
import time

import intentroute
from benchmarks.stream import texts_of


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    args = ap.parse_args()
    try:
        import ray
    except ImportError:
        print("ray is not installed: pip install 'intentroute[ray]'")
        return
    from intentroute.ray import route_dataset

    distinct = texts_of(50_000)
    texts = [distinct[i % len(distinct)] for i in range(args.n)]
    cascade = intentroute.default_cascade()
    t0 = time.perf_counter()
    expected = cascade.route_batch(texts)
    single = args.n / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    startup = time.perf_counter() - t0
    print(f"ray.init(num_cpus=2): {startup:.1f} s")
    print(f"{'':<40}{'utterances/s':>14}{'seconds':>10}  answers")
    print(f"{'one process, route_batch':<40}{single:>14,.0f}{args.n / single:>10.1f}")
    ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)])
    ds = ds.materialize()
    for workers in (1, 2):
        t0 = time.perf_counter()
        rows = route_dataset(ds, concurrency=workers).take_all()
        seconds = time.perf_counter() - t0
        rows.sort(key=lambda r: r["id"])
        same = all(
            r["intent"] == e.intent
            and r["layer"] == e.layer
            and abs(r["confidence"] - e.confidence) <= 1e-9
            and json.loads(r["extracted"]) == json.loads(json.dumps(e.to_dict()["extracted"]))
            and json.loads(r["missing"]) == list(e.missing_params)
            for r, e in zip(rows, expected, strict=True)
        )
        verdict = "identical" if same and len(rows) == args.n else "DIFFERENT"
        print(f"{f'Ray Data, {workers} worker(s)':<40}{args.n / seconds:>14,.0f}{seconds:>10.1f}  {verdict}")
    ray.shutdown()


if __name__ == "__main__":
    main()
