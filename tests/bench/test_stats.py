"""Latency statistics: every sample counts, shortfalls are flagged."""

import numpy as np
import pytest

from flowfm_edge.bench.stats import summarize, time_calls


def test_summary_matches_numpy_and_keeps_outliers():
    s = [0.001] * 99 + [1.0]  # one 1 s outlier among 1 ms calls stays in
    out = summarize(s, min_iters=10, min_seconds=0.0)
    assert out["count"] == 100 and out["outliers_removed"] == 0
    assert out["max_ms"] == pytest.approx(1000.0)
    assert out["mean_ms"] == pytest.approx(np.mean(s) * 1e3)
    assert out["p50_ms"] == pytest.approx(1.0)
    assert out["p99_ms"] == pytest.approx(np.percentile(np.array(s) * 1e3, 99))
    assert out["cv_pct"] > 100 and out["flags"] == [] and "p99_note" not in out


def test_short_results_are_flagged():
    out = summarize([0.01, 0.02], min_iters=10, min_seconds=1.0)
    assert any("iterations (2 < 10)" in f for f in out["flags"])
    assert any("duration" in f for f in out["flags"])
    assert "p99_note" in out
    with pytest.raises(ValueError, match="at least one"):
        summarize([])


def test_time_calls_meets_both_minimums_or_stops_at_the_cap():
    calls = []
    times = time_calls(lambda: calls.append(1), min_iters=5, min_seconds=0.0)
    assert len(times) == 5 == len(calls)
    times = time_calls(lambda: None, min_iters=1, min_seconds=0.02)
    assert sum(times) >= 0.02
    import time

    times = time_calls(lambda: time.sleep(0.01), min_iters=1000, min_seconds=0.0, max_seconds=0.03)
    assert len(times) < 1000 and summarize(times, 1000, 0.0)["flags"]
