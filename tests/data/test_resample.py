"""Resampling to 300 samples and cutting recordings into windows (docs/design.md#data-contract)."""

import numpy as np
import pytest

from flowfm_edge.data import DataError, resample_windows, window_stream


def sine(rate: float, n: int, f: float = 2.0, phase: float = 0.3) -> np.ndarray:
    t = np.arange(n) / rate
    return np.sin(2 * np.pi * f * t + phase)


@pytest.mark.parametrize("rate", [50, 100])
def test_polyphase_keeps_a_2hz_sine(rate):  # edges included: the padding must not bend them
    x = np.stack([sine(rate, 10 * rate), 1 + 0 * sine(rate, 10 * rate), -sine(rate, 10 * rate)])[None]  # (1, 3, 10 s)
    out = resample_windows(x, 300)
    assert out.shape == (1, 3, 300) and out.dtype == np.float32
    ref = sine(30, 300)
    assert np.abs(out[0, 0] - ref).max() < 0.02
    assert np.abs(out[0, 1] - 1).max() < 1e-3  # gravity's offset survives the filter (ripple ~1e-4)
    assert np.abs(out[0, 2] + ref).max() < 0.02


def test_polyphase_removes_what_30hz_cannot_hold():
    rate = 100
    x = (sine(rate, 1000, f=2.0) + 0.5 * sine(rate, 1000, f=40.0))[None, None]  # 40 Hz would alias to 10 Hz
    out = resample_windows(x, 300)[0, 0]
    spec = np.abs(np.fft.rfft(out)) / 150
    freqs = np.fft.rfftfreq(300, 1 / 30)
    assert spec[np.argmin(np.abs(freqs - 2.0))] > 0.9
    assert spec[np.argmin(np.abs(freqs - 10.0))] < 0.02


def test_linear_matches_whole_window_interpolation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 500))
    out = resample_windows(x, 300, method="linear")
    src, dst = np.linspace(0, 1, 500), np.linspace(0, 1, 300)
    ref = np.stack([[np.interp(dst, src, ch) for ch in w] for w in x])
    np.testing.assert_allclose(out, ref, atol=1e-6)
    assert out[0, 0, 0] == pytest.approx(x[0, 0, 0], abs=1e-6) and out[0, 0, -1] == pytest.approx(x[0, 0, -1], abs=1e-6)


def test_linear_and_polyphase_agree_on_smooth_signals():
    x = sine(50, 500, f=0.5)[None, None] * np.ones((1, 3, 1))
    poly, lin = resample_windows(x, method="poly"), resample_windows(x, method="linear")
    # Linear pins both end samples, stretching time by 1/500 of a window: a small phase lag.
    assert np.abs(poly - lin).max() < 0.05


def test_300_samples_pass_through_and_bad_method_is_refused():
    x = np.random.default_rng(1).normal(size=(4, 3, 300)).astype(np.float32)
    np.testing.assert_array_equal(resample_windows(x), x)
    with pytest.raises(DataError, match="unknown resampling method 'cubic'"):
        resample_windows(x, method="cubic")


def test_window_stream_arithmetic():
    rate, seconds = 50, 62
    acc = np.zeros((rate * seconds, 3))
    acc[:, 2] = 1.0
    w = window_stream(acc, rate, hop_s=5)
    # Windows start every 5 s while a full 10 s fits: floor((62 - 10) / 5) + 1 = 11.
    assert w.X.shape == (11, 3, 300) and w.y is None
    np.testing.assert_array_equal(w.start, np.arange(11) * 5 * rate)
    np.testing.assert_allclose(w.X[:, 2], 1.0, atol=1e-3)
    assert len(window_stream(acc, rate, hop_s=10).X) == 6
    assert len(window_stream(acc[: 10 * rate - 1], rate).X) == 0  # shorter than one window


def test_window_stream_labels_and_nan():
    rate = 30
    acc = np.ones((rate * 40, 3))
    labels = np.repeat([1, 2], rate * 20)  # 20 s of each
    pure = window_stream(acc, rate, labels, hop_s=5, label_policy="pure")
    # starts 0, 5, 10, ..., 30 s; the 15 s window straddles the change and is dropped.
    assert pure.y.tolist() == [1, 1, 1, 2, 2, 2] and pure.dropped_mixed == 1
    assert window_stream(acc, rate, labels, hop_s=5, label_policy="majority").y.tolist() == [1, 1, 1, 1, 2, 2, 2]
    acc[rate * 2] = np.nan  # poisons the window starting at 0 s only
    w = window_stream(acc, rate, labels, hop_s=5, label_policy="pure")
    assert w.dropped_nan == 1 and w.y.tolist() == [1, 1, 2, 2, 2]
    assert np.isfinite(w.X).all()


def test_window_stream_refuses_bad_input():
    with pytest.raises(DataError, match=r"shape \(100,\)"):
        window_stream(np.zeros(100), 30)
    with pytest.raises(DataError, match="rate must be positive"):
        window_stream(np.zeros((600, 3)), 0)
    with pytest.raises(DataError, match="5 labels for 600 samples"):
        window_stream(np.zeros((600, 3)), 30, labels=np.zeros(5))
