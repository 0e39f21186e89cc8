"""Latency statistics without cosmetics: every timed call counts, nothing is clipped (docs/design.md#benchmarks).

A measurement runs until it has both ``min_iters`` calls and ``min_seconds`` of timed work
(:func:`time_calls`); a summary that falls short of either (because a cap stopped it) says so
in its ``flags``. Percentiles are numpy's linear interpolation over all samples; with fewer
than 100 samples p99 is close to the maximum, and the summary notes it.

>>> s = summarize([0.001, 0.002, 0.003], min_iters=3, min_seconds=0.0)
>>> s["count"], round(s["p50_ms"], 3), s["flags"]
(3, 2.0, [])
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np


def summarize(seconds, min_iters: int = 10, min_seconds: float = 1.0) -> dict:
    """Statistics in ms of per-call ``seconds`` (N,): count, mean, p50/p90/p99, min, max, std, CV%, and flags."""
    s = np.asarray(seconds, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"latency statistics need at least one timed call, got {s.size}")
    ms = 1e3 * s
    mean = float(ms.mean())
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    out = {"count": int(ms.size), "total_s": float(s.sum()), "mean_ms": mean,
           "p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
           "p99_ms": float(np.percentile(ms, 99)), "min_ms": float(ms.min()), "max_ms": float(ms.max()),
           "std_ms": std, "cv_pct": 100.0 * std / mean if mean > 0 else 0.0, "outliers_removed": 0}
    flags = []
    if ms.size < min_iters:
        flags.append(f"below minimum iterations ({ms.size} < {min_iters})")
    if s.sum() < min_seconds:
        flags.append(f"below minimum duration ({s.sum():.2f} s < {min_seconds:g} s)")
    if ms.size < 100:
        out["p99_note"] = f"p99 of {ms.size} samples (interpolated, near the maximum)"
    out["flags"] = flags
    return out


def time_calls(fn: Callable[[], object], min_iters: int = 10, min_seconds: float = 1.0,
               max_seconds: float | None = None) -> list[float]:
    """Call ``fn`` until ``min_iters`` calls **and** ``min_seconds`` of timed work; seconds per call.

    ``max_seconds`` (optional) stops a slow case early; :func:`summarize` then flags the
    shortfall instead of hiding it.
    """
    if min_iters < 1:
        raise ValueError(f"--min-iters must be >= 1, got {min_iters}")
    times: list[float] = []
    total = 0.0
    while len(times) < min_iters or total < min_seconds:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
        if max_seconds is not None and total >= max_seconds:
            break
    return times


def timed_once(fn: Callable[[], object]) -> float:
    """Seconds of one call (the cold, first-inference time when it is the first)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
