"""Event-detection benchmark on synthetic traces (the twin-based benchmark comes later).

    ./smart-store python benchmarks/events_synthetic.py [--traces 1000] [--seed 0]

Weight events: ``random_trace`` from test/events/test_weight.py (one lane per trace, 40 s, a
random catalogue product, 10/20/40/80 Hz with jitter, 1-2 g noise, drift, and a random
sequence of picks, put-backs, multi-item and hesitant picks, reaches that take nothing, bumps,
noise bursts, back-to-back and quick double picks, bare steps, short sample gaps). Beam breaks:
the generator of test/events/test_beam.py (25/50/100 Hz, 1-5 mm noise, 1-3 overlapping arms,
one-sample dips). Prints precision / recall, timing errors (median and 95th percentile of
|error|), delta errors and emission latency, per sample rate and per kind of action.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str) -> ModuleType:
    """Import a test module by path (the generators live with the tests)."""
    path = ROOT / "test" / "events" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _stats(values: list[float]) -> str:
    if not values:
        return "      -         -"
    a = np.abs(np.asarray(values))
    return f"{np.median(a):7.3f}  {np.percentile(a, 95):7.3f}"


def bench_weight(tw: ModuleType, n: int, seed: int) -> None:
    total = tw.Score()
    by_rate: dict[float, Any] = {}
    samples = 0
    t_det = 0.0
    for k in range(n):
        trace = tw.random_trace(seed + k)
        t0 = time.perf_counter()
        events, emitted = tw.run(trace)
        t_det += time.perf_counter() - t0
        samples += trace.t.size
        tag = f"seed {seed + k} ({trace.rate:.0f} Hz, unit {trace.unit:.0f} g)"
        tw.score(trace, events, emitted, total, tag)
        tw.score(trace, events, emitted, by_rate.setdefault(trace.rate, tw.Score()))
    print(f"WEIGHT  {n} traces, {samples} samples, "
          f"{1e6 * t_det / max(1, samples):.1f} us/sample")
    print(f"  precision {total.precision:.4f}   recall {total.recall:.4f}   "
          f"(tp {total.tp}, fp {total.fp}, fn {total.fn})")
    print("                      |err| median    p95")
    print(f"  start (s)            {_stats(total.start_err)}")
    print(f"  end (s)              {_stats(total.end_err)}")
    print(f"  delta (g)            {_stats(total.delta_err)}")
    lat = np.asarray(total.latency)
    print(f"  emitted after the true settle (s): median {np.median(lat):.3f}, "
          f"p95 {np.percentile(lat, 95):.3f}, max {lat.max():.3f}")
    print("  per rate:  Hz   precision  recall   |start| med/p95   |end| med/p95")
    for rate in sorted(by_rate):
        sc = by_rate[rate]
        print(f"           {rate:4.0f}   {sc.precision:.4f}    {sc.recall:.4f}  "
              f"{_stats(sc.start_err)}  {_stats(sc.end_err)}")
    print("  recall per kind: " + ", ".join(
        f"{kind} {v[0]}/{v[1]}" for kind, v in sorted(total.by_kind.items())))
    for line in total.misses[:10]:
        print("  miss:", line)


def bench_beam(tb: ModuleType, n: int, seed: int) -> None:
    tp = fp = fn = 0
    start_err: list[float] = []
    end_err: list[float] = []
    range_err: list[float] = []
    for k in range(n):
        r = np.random.default_rng(seed + k)
        rate = float(r.choice([25.0, 50.0, 100.0]))
        b = tb.builder(seed + k, 30.0, rate=rate, noise=float(r.uniform(0.001, 0.005)),
                       drift_m_per_min=float(r.uniform(-0.01, 0.01)))
        t = 1.0
        while t < 25.0:
            a = t + float(r.uniform(0.0, 0.4))
            for _ in range(int(r.integers(1, 4))):
                dur = float(r.uniform(0.15, 1.5))
                b.arm(a, a + dur, float(r.uniform(0.05, 1.8)))
                a += float(r.uniform(0.0, dur))
            end = max(x[1] for x in b.arms)
            if r.random() < 0.3:
                b.spikes.append((end + float(r.uniform(0.4, 0.6)), 0.3 / rate))
            t = end + float(r.uniform(0.9, 2.0))
        trace = b.build()
        found, _ = tb.run(trace)
        used: set[int] = set()
        for t0, t1, d in trace.truths:
            hit = next((i for i, x in enumerate(found) if i not in used
                        and abs(x.start - t0) < 0.2 and abs(x.end - t1) < 0.2), None)
            if hit is None:
                fn += 1
                continue
            used.add(hit)
            tp += 1
            start_err.append(found[hit].start - t0)
            end_err.append(found[hit].end - t1)
            range_err.append(found[hit].min_range - d)
        fp += len(found) - len(used)
    print(f"BEAM    {n} traces, {tp + fn} arm intervals")
    print(f"  precision {tp / max(1, tp + fp):.4f}   recall {tp / max(1, tp + fn):.4f}   "
          f"(tp {tp}, fp {fp}, fn {fn})")
    print("                      |err| median    p95")
    print(f"  start (s)            {_stats(start_err)}")
    print(f"  end (s)              {_stats(end_err)}")
    print(f"  min_range (m)        {_stats(range_err)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=int, default=1000, help="weight traces (beam: a third)")
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    args = ap.parse_args(argv)
    bench_weight(_load("test_weight"), args.traces, 100_000 + args.seed)
    print()
    bench_beam(_load("test_beam"), max(1, args.traces // 3), 200_000 + args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
