"""Gateway stream: window arithmetic and resampling onto the 30 Hz grid (numpy only, no bundle)."""

import numpy as np
import pytest

from flowfm_edge.runtimes.resample import Resampler, detect_units, lowpass_taps
from flowfm_edge.runtimes.stream import StreamConfig
from flowfm_edge.runtimes.stream_device import DeviceStream
from flowfm_edge.runtimes.stream_windows import Windower, hop_samples, window_starts


def motion(t: np.ndarray) -> np.ndarray:
    """Smooth wrist-like motion at times t (n,) -> (n, 3) in g: 1.8 Hz swing, 3.6 Hz harmonic, gravity on z."""
    return np.stack([0.3 * np.sin(2 * np.pi * 1.8 * t), 0.1 * np.cos(2 * np.pi * 3.6 * t), 1 + 0 * t], axis=1)


def stream(t, v, chunk=37, **cfg):
    ds = DeviceStream("d", StreamConfig(**cfg))
    windows = []
    for i in range(0, len(t), chunk):
        windows += ds.push(t[i:i + chunk], v[i:i + chunk])
    return windows + ds.finish(), ds


def truth(w) -> np.ndarray:
    return motion(w.start + np.arange(300) / 30).T  # (3, 300)


@pytest.mark.parametrize("hop_s, n_windows", [(5, 11), (2.5, 21), (10, 6), (1 / 30, 1501), (15, 4)])
def test_window_count_and_starts(hop_s, n_windows):
    t = 50.0 + np.arange(1800) / 30  # 60 s at 30 Hz
    windows, ds = stream(t, motion(t), hop_s=hop_s, chunk=113)
    hop = hop_samples(hop_s)
    assert len(windows) == n_windows == len(window_starts(1800, hop))
    np.testing.assert_allclose([w.start for w in windows], 50.0 + window_starts(1800, hop) / 30, atol=1e-9)
    np.testing.assert_allclose([w.end - w.start for w in windows], 10.0)
    assert [w.index for w in windows] == list(range(n_windows))
    assert ds.stats.windows == n_windows and ds.stats.resampled == 1800
    covered_to = (window_starts(1800, hop)[-1] + 300) if hop <= 300 else None
    if covered_to is not None:
        assert ds.stats.partial_discarded == 1800 - covered_to


def test_windower_chunks_do_not_matter(rng):
    grid = rng.standard_normal((1000, 3)).astype(np.float32)
    ref = Windower(75).push(0, grid)
    w, out, k = Windower(75), [], 0
    for n in rng.integers(1, 60, 100):
        out += w.push(k, grid[k:k + n])
        k = min(k + n, 1000)
    assert [s for s, _ in out] == [s for s, _ in ref] == list(range(0, 701, 75))
    for (_, a), (_, b) in zip(out, ref):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ref[1][1], grid[75:375].T)
    assert len(w.buf) <= 300 + 75 + 60  # holds at most a window, a hop and a chunk


def test_hop_must_be_whole_samples():
    with pytest.raises(ValueError, match=r"hop 0.01 s is not a positive whole number of 30 Hz samples"):
        hop_samples(0.01)
    with pytest.raises(ValueError, match="hop 0 s"):
        StreamConfig(hop_s=0).check()


def test_30hz_input_passes_through_unchanged():
    t = 7.0 + np.arange(900) / 30
    v = motion(t) + np.random.default_rng(1).normal(0, 0.05, (900, 3))
    windows, ds = stream(t, v)
    assert len(lowpass_taps(ds.stats.rate_hz)) == 1  # no filter at 30 Hz
    for w in windows:
        i = int(round((w.start - 7.0) * 30))
        np.testing.assert_allclose(w.x, v[i:i + 300].T.astype(np.float32), rtol=0, atol=1e-6)


@pytest.mark.parametrize("rate", [20, 25, 50, 100, 200])
def test_resamples_any_rate_onto_the_grid(rate):
    t = 3.0 + np.arange(int(41 * rate)) / rate
    windows, ds = stream(t, motion(t), chunk=rate // 3 + 1)
    assert len(windows) == 7 and abs(ds.stats.rate_hz - rate) < 1e-6
    # linear interpolation error grows as the input rate falls; edges carry ~0.3 s of filter padding
    tol = {20: 0.03, 25: 0.02}.get(rate, 0.004)
    for w in windows:
        assert np.abs(w.x - truth(w))[:, 10:-10].max() < tol
    assert np.abs(windows[2].x - truth(windows[2])).max() < tol


def test_irregular_timestamps_and_jitter():
    rng = np.random.default_rng(2)
    t = np.cumsum(rng.uniform(0.015, 0.025, 2500))  # ~50 Hz, +-25% jitter
    windows, _ = stream(t, motion(t))
    assert len(windows) >= 8
    for w in windows[1:-1]:
        assert np.abs(w.x - truth(w)).max() < 0.01


def test_anti_alias_removes_motion_above_15_hz():
    t = np.arange(4000) / 100
    tone = np.zeros((4000, 3))
    tone[:, 0] = 0.5 * np.sin(2 * np.pi * 25 * t)  # would alias to 5 Hz at full amplitude
    tone[:, 2] = 1.0
    windows, _ = stream(t, tone)
    assert max(np.abs(w.x[0, 10:-10]).max() for w in windows) < 0.005
    for f, gain_db in ((5, 0.0), (10, 0.0), (16, -45.0)):
        h = lowpass_taps(100)
        response = 20 * np.log10(abs(np.sum(h * np.exp(-2j * np.pi * f / 100 * np.arange(len(h))))))
        assert response < gain_db + 0.1 and (gain_db < 0 or response > -0.1)


def test_matches_offline_polyphase_resampling():
    """The numpy-only stream agrees with the offline resample_poly of docs/design.md#data-contract on smooth motion."""
    from scipy.signal import resample_poly

    t = np.arange(3000) / 50  # 60 s at 50 Hz
    v = motion(t)
    offline = resample_poly(v, 3, 5, axis=0)  # (1800, 3) at 30 Hz
    windows, _ = stream(t, v)
    for w in windows[1:-1]:
        i = int(round(w.start * 30))
        assert np.abs(w.x - offline[i:i + 300].T).max() < 5e-3


def test_rate_drift_and_rate_change():
    rate = np.linspace(48, 53, 4000)  # slow drift of the device clock rate
    t = np.cumsum(1 / rate)
    windows, ds = stream(t, motion(t))
    assert 52 < ds.stats.rate_hz < 53.5 and ds.stats.filter_rebuilds == 0
    for w in windows[1:-1]:
        assert np.abs(w.x - truth(w)).max() < 0.005
    t = np.concatenate([np.arange(600) / 25, 24 + np.arange(1, 3000) / 100])  # 25 Hz, then 100 Hz
    windows, ds = stream(t, motion(t), chunk=50)
    assert ds.stats.filter_rebuilds == 1 and ds.stats.segments == 1
    for w in windows[:-1]:  # 25 Hz is interpolated coarsely; the filter change at 24 s leaves a small edge
        assert np.abs(w.x - truth(w))[:, 10:].max() < (0.025 if w.start < 25 else 0.005)


def test_resampler_finish_flushes_the_filter():
    r = Resampler(0.0, lowpass_taps(100))
    t = np.arange(250) / 100
    k0, grid = r.push(t, motion(t))
    k1, rest = r.finish()
    assert k0 == 0 and k1 == len(grid) and len(grid) + len(rest) == 75  # grid 0 .. 2.4667 s
    assert r.finish()[1].shape == (0, 3)


def test_detect_units():
    g = motion(np.arange(100) / 30)
    assert detect_units(g)[0] == "g"
    assert detect_units(g * 9.80665)[0] == "m/s^2"
    assert detect_units(g * 1000)[0] == "mg"
    assert detect_units(g * 0.01)[0] == "unknown"
