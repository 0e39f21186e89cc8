"""Gateway stream: every input fault is repaired or dropped, and counted; memory stays bounded.

A stub runtime (numpy logits) stands in for a bundle, so these tests need no export.
"""

import numpy as np
import pytest

from flowfm_edge.runtimes.stream import GatewayStream, StreamConfig, softmax
from flowfm_edge.runtimes.stream_device import DeviceStream
from flowfm_edge.runtimes.stream_stats import LatencyHistogram


def motion(t):
    return np.stack([0.3 * np.sin(2 * np.pi * 1.8 * t), 0.1 * np.cos(2 * np.pi * 3.6 * t), 1 + 0 * t], axis=1)


T30 = 100.0 + np.arange(1200) / 30  # 40 s at 30 Hz: 7 windows with a 5 s hop
V30 = motion(T30)


def run(t, v, chunk=50, **cfg):
    ds = DeviceStream("d", StreamConfig(**cfg))
    windows = []
    for i in range(0, len(t), chunk):
        windows += ds.push(t[i:i + chunk], v[i:i + chunk])
    return windows + ds.finish(), ds.stats


CLEAN, _ = run(T30, V30)


def same_windows(windows, ref=CLEAN, atol=0.0):
    assert [w.start for w in windows] == [w.start for w in ref]
    for a, b in zip(windows, ref):
        np.testing.assert_allclose(a.x, b.x, rtol=0, atol=atol)


def changed_only_at(windows, dropped, atol=0.06):
    """Windows equal the clean ones except at the dropped samples' grid points, which were interpolated."""
    same_windows(windows, atol=atol)
    for w, ref in zip(windows, CLEAN):
        i0 = int(round((w.start - 100.0) * 30))
        changed = np.flatnonzero((w.x != ref.x).any(axis=0)) + i0
        assert set(changed) <= set(dropped)


def test_nan_values_are_dropped_and_bridged():
    v = V30.copy()
    v[[10, 200, 201, 700], 0] = np.nan
    v[900, 2] = np.inf
    windows, s = run(T30, v)
    assert s.dropped_nan == 5 and s.accepted == 1195 and s.dropped == 5
    changed_only_at(windows, [10, 200, 201, 700, 900])
    assert all(np.isfinite(w.x).all() for w in windows)


def test_bad_timestamps_are_dropped():
    t = T30.copy()
    t[[5, 600]] = [np.nan, np.inf]
    windows, s = run(t, V30)
    assert s.dropped_bad_time == 2
    changed_only_at(windows, [5, 600])


def test_duplicates_keep_the_first_arrival():
    dup = np.array([3, 50, 51, 400, 1100])
    t = np.concatenate([T30, T30[dup]])
    v = np.concatenate([V30, V30[dup] + 5.0])  # a later copy with other values must not win
    order = np.argsort(np.concatenate([np.arange(1200), dup + 0.5]), kind="stable")  # each copy right after its original
    windows, s = run(t[order], v[order], chunk=64)
    assert s.dropped_duplicate == 5 and s.reordered == 0
    same_windows(windows)
    windows, s = run(np.concatenate([T30, T30[[7]] + 3e-5]), np.concatenate([V30, V30[[7]]]), chunk=2000)
    assert s.dropped_duplicate == 1  # within dup_tol_s of a kept sample


def test_out_of_order_within_the_horizon_is_repaired():
    rng = np.random.default_rng(0)
    order = np.arange(1200)
    for i in range(0, 1190, 10):  # shuffle blocks of 10 samples (a third of a second)
        order[i:i + 10] = rng.permutation(order[i:i + 10])
    windows, s = run(T30[order], V30[order], chunk=7)
    assert s.reordered > 100 and s.dropped == 0
    same_windows(windows)


def test_samples_behind_the_horizon_are_dropped_as_late():
    ds = DeviceStream("d", StreamConfig(reorder_s=0.5))
    ds.push(T30[:300], V30[:300])  # resampled up to 0.5 s behind 109.97 s
    ds.push(T30[[100, 200]], V30[[100, 200]])  # re-sent copies of resampled samples
    ds.push(T30[[50]] + 0.01, V30[[50]])  # 8 s too late
    ds.push(T30[[290]] + 0.01, V30[[290]])  # still inside the horizon: repaired
    assert ds.stats.dropped_duplicate == 2 and ds.stats.dropped_late == 1 and ds.stats.reordered == 1


def test_gap_split_starts_new_windows_after_the_gap():
    t = np.concatenate([np.arange(810) / 30, 30 + np.arange(900) / 30])  # 0-27 s, 3 s gap, 30-60 s
    windows, s = run(t, motion(t), chunk=90)
    assert s.gaps == 1 and s.segments == 2
    assert [w.start for w in windows] == pytest.approx([0, 5, 10, 15, 30, 35, 40, 45, 50])
    assert s.partial_discarded == 810 - 750  # 25-27 s fell in no window
    for w in windows:
        np.testing.assert_allclose(w.x, motion(w.start + np.arange(300) / 30).T, atol=1e-6)


def test_gap_pad_interpolates_short_gaps_and_splits_long_ones():
    t = np.concatenate([np.arange(810) / 30, 30 + np.arange(900) / 30])
    windows, s = run(t, motion(t), chunk=90, gap_policy="pad", max_pad_s=5)
    assert s.gaps == 1 and s.segments == 1 and s.padded == 90  # grid points 27.0 .. 29.967 s made up
    assert [w.start for w in windows] == pytest.approx(np.arange(0, 51, 5))
    gap = windows[5].x[:, 810 - 750:900 - 750]  # the padded stretch inside the 25-35 s window
    ends = motion(np.array([809 / 30, 30.0]))
    np.testing.assert_allclose(gap, np.linspace(ends[0], ends[1], 92)[1:-1].T, atol=1e-6)
    t = np.concatenate([np.arange(810) / 30, 40 + np.arange(900) / 30])  # 13 s gap > max_pad_s
    windows, s = run(t, motion(t), chunk=90, gap_policy="pad", max_pad_s=5)
    assert s.gaps == 1 and s.segments == 2 and s.padded == 0


@pytest.mark.parametrize("scale, units", [(9.80665, "m/s^2"), (1000.0, "mg")])
def test_unit_mistakes_are_detected_and_converted(scale, units):
    windows, s = run(T30, V30 * scale)
    assert s.units == units and s.unit_converted == 1200
    same_windows(windows, atol=2e-6)
    windows, s = run(T30, V30 * scale, units="g")  # told it is g: trusted, not converted
    assert s.units == "g" and s.unit_converted == 0 and abs(windows[0].x[2].mean() - scale) < 1e-3 * scale


def test_memory_is_bounded_per_device():
    ds = DeviceStream("d", StreamConfig(reorder_s=0.5))
    t = np.arange(100 * 3600) / 100  # one hour at 100 Hz, pushed in 1 s chunks
    n = 0
    for i in range(0, len(t), 100):
        n += len(ds.push(t[i:i + 100], motion(t[i:i + 100])))
        assert len(ds.pending_t) <= 51 + 100 and len(ds.windower.buf) <= 300 + 150 + 30
        assert len(ds.resampler._tail_t) <= len(ds.resampler.taps) - 1
    assert n == (3600 - 10) // 5 + 1 - 1  # the last window waits for the filter's delay: flushed by finish()
    assert len(ds.finish()) == 1


class StubRuntime:
    """Bundle stand-in: logits are each window's per-axis means, r its per-axis std."""

    classes = ["x", "y", "z"]
    manifest = {"graphs": {"classifier": {}, "encoder": {}}}

    class backend:
        bundle = "stub"

    def __init__(self):
        self.calls = []

    def classify(self, x, invalid="raise"):
        self.calls.append(len(x))
        return self._out(x.mean(axis=2), invalid)

    def embed(self, x, invalid="raise"):
        return self._out(x.std(axis=2), invalid)

    @staticmethod
    def _out(y, invalid):  # Runtime's contract: invalid="mask" gives (output, valid)
        return (y, np.isfinite(y).all(axis=1)) if invalid == "mask" else y


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_micro_batching_across_devices():
    rt = StubRuntime()
    gw = GatewayStream(rt, batch_size=4, max_delay_s=1e9, embed=True)
    events = []
    for i in range(0, 1200, 150):  # 10 devices, interleaved 5 s chunks
        for d in range(10):
            events += gw.push(f"dev{d}", T30[i:i + 150], V30[i:i + 150] + d * 0.01)
    events += gw.flush()
    assert len(events) == 70 and rt.calls[1:] == [4] * 17 + [2]  # calls[0] warms the session up
    for ev in events:
        assert ev.label == "z" and ev.probabilities.shape == (3,) and ev.embedding.shape == (3,)
        np.testing.assert_allclose(ev.probabilities, softmax(ev.x.mean(axis=1)[None])[0], rtol=1e-6)
        assert ev.to_dict(rt.classes)["probabilities"].keys() == {"x", "y", "z"}
    by_dev = {}
    for ev in events:
        by_dev.setdefault(ev.device, []).append(ev.index)
    assert all(v == list(range(7)) for v in by_dev.values())
    assert gw.stats()["total"]["windows"] == 70 and gw.stats()["active"] == 0


def test_pipeline_mode_gives_the_same_events():
    def run_all(**cfg):
        with GatewayStream(StubRuntime(), batch_size=3, max_delay_s=0, **cfg) as gw:
            out = []
            for i in range(0, 1200, 100):
                for d in range(4):
                    out += gw.push(f"d{d}", T30[i:i + 100], V30[i:i + 100] * (1 + d / 10))
            out += gw.close()
            assert gw.stats()["inflight"] == 0
        return out

    sync, piped = run_all(), run_all(pipeline=True, max_inflight=1)
    assert len(sync) == len(piped) == 28
    for d in range(4):
        a = [e for e in sync if e.device == f"d{d}"]
        b = [e for e in piped if e.device == f"d{d}"]
        assert [e.index for e in b] == list(range(7))  # per-device order kept
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x.probabilities, y.probabilities)
            assert y.latency_s >= 0


def test_push_rows_matches_per_device_pushes():
    rows_dev = np.repeat(np.array(["a", "b"])[None], 1200, 0).T.reshape(-1)
    a = GatewayStream(StubRuntime(), max_delay_s=1e9)
    ea = a.push_rows(rows_dev, np.concatenate([T30, T30]), np.concatenate([V30, V30 * 2])) + a.flush()
    b = GatewayStream(StubRuntime(), max_delay_s=1e9)
    eb = b.push("a", T30, V30) + b.push("b", T30, V30 * 2) + b.flush()
    key = lambda e: (e.device, e.index)  # noqa: E731
    for x, y in zip(sorted(ea, key=key), sorted(eb, key=key)):
        assert key(x) == key(y)
        np.testing.assert_array_equal(x.x, y.x)


def test_idle_devices_expire_and_come_back_with_their_stats():
    clock = Clock()
    gw = GatewayStream(StubRuntime(), clock=clock, idle_s=10, max_delay_s=0)
    gw.push("a", T30[:500], V30[:500])
    gw.push("b", T30[:100], V30[:100])
    clock.now = 5
    gw.push("a", T30[500:760], V30[500:760])  # window 3 (15-25 s) waits in the reorder buffer
    clock.now = 12
    events = gw.poll()  # b is idle, a is not
    assert set(gw.devices) == {"a"} and "b" in gw.expired and events == []
    assert gw.stats()["devices"]["b"]["partial_discarded"] == 100
    clock.now = 30
    events = gw.poll()
    assert not gw.devices and [e.index for e in events] == [3]  # a's last window completes when it expires
    gw.push("b", T30[600:], V30[600:])
    assert gw.devices["b"].stats.received == 700  # picked up again
    gw = GatewayStream(StubRuntime(), clock=clock, max_devices=2)
    for i, d in enumerate("abc"):
        clock.now = i
        gw.push(d, T30[:10], V30[:10])
    assert set(gw.devices) == {"b", "c"} and "a" in gw.expired


def test_config_and_input_errors():
    with pytest.raises(ValueError, match="gap_policy 'drop': choose split or pad"):
        GatewayStream(StubRuntime(), gap_policy="drop")
    with pytest.raises(ValueError, match="units 'G': choose auto, g, m/s\\^2, mg"):
        GatewayStream(StubRuntime(), units="G")
    with pytest.raises(ValueError, match="nothing to compute"):
        GatewayStream(StubRuntime(), classify=False)
    gw = GatewayStream(StubRuntime())
    with pytest.raises(ValueError, match=r"device 'a': timestamps of shape \(3,\) and values of shape \(3, 2\)"):
        gw.push("a", [1, 2, 3], np.zeros((3, 2)))
    rt = StubRuntime()
    rt.manifest = {"graphs": {"encoder": {}}}
    with pytest.raises(ValueError, match="no classifier graph; fit a head with `flowfm-edge probe RUN`"):
        GatewayStream(rt)


def test_latency_histogram():
    h = LatencyHistogram()
    h.add(np.linspace(0.001, 0.1, 1000))
    assert h.n == 1000 and abs(h.percentile(50) / 0.0505 - 1) < 0.02 and abs(h.percentile(99) / 0.099 - 1) < 0.02


def test_eviction_follows_the_last_push_not_the_first():
    clock = Clock()
    gw = GatewayStream(StubRuntime(), clock=clock, max_devices=3, idle_s=10, max_delay_s=0)
    for i, d in enumerate("abc"):
        clock.now = i
        gw.push(d, T30[:10], V30[:10])
    clock.now = 3
    gw.push("a", T30[10:20], V30[10:20])  # a is now the most recent
    clock.now = 4
    gw.push("d", T30[:10], V30[:10])  # room is made by the least recently seen: b
    assert set(gw.devices) == {"a", "c", "d"} and "b" in gw.expired
    clock.now = 13.5
    gw.poll()  # c (seen at 2) and a (3) are idle beyond 10 s; d (4) is not
    assert set(gw.devices) == {"d"}
