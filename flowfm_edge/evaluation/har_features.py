"""A standard hand-crafted HAR feature set, the baseline every learned representation must beat.

The kind of features SSL-Wearables (Yuan et al., 2024) and the Capture-24 benchmark compare
against, computed per window (3, 300) at 30 Hz in g:

- per axis: mean, std, min, max, 10/25/50/75/90th percentiles (gravity kept, so the means
  carry the device's orientation);
- correlation between the three pairs of axes;
- magnitude |a|: mean, std, min, max, percentiles, mean absolute deviation, skewness, kurtosis;
- spectrum of |a| (mean removed, Hann window): total power, power in 0.3-1, 1-3, 3-5 and
  5-15 Hz, dominant frequency and its share of the power, spectral entropy; dominant
  frequency of each axis.

>>> X = np.random.default_rng(0).normal(size=(4, 3, 300)).astype("f4")
>>> har_features(X).shape
(4, 53)
"""

from __future__ import annotations

import numpy as np

from ..data.contract import RATE_HZ

PERCENTILES = (10, 25, 50, 75, 90)
BANDS_HZ = ((0.3, 1.0), (1.0, 3.0), (3.0, 5.0), (5.0, 15.0))


def _spectrum(s: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (F,) and power (N, F) of signals ``s`` (N, L), mean removed, Hann-windowed."""
    s = (s - s.mean(-1, keepdims=True)) * np.hanning(s.shape[-1])
    return np.fft.rfftfreq(s.shape[-1], 1 / fs), np.abs(np.fft.rfft(s, axis=-1)) ** 2


def _spectral(mag: np.ndarray, axes: np.ndarray, fs: float) -> np.ndarray:
    f, p = _spectrum(mag, fs)  # (F,), (N, F)
    total = p[:, 1:].sum(-1) + 1e-12
    bands = [p[:, (f >= lo) & (f < hi)].sum(-1) / total for lo, hi in BANDS_HZ]
    k = p[:, 1:].argmax(-1) + 1  # skip DC
    share = p[np.arange(len(p)), k] / total
    q = p[:, 1:] / total[:, None]
    entropy = -(q * np.log(q + 1e-12)).sum(-1) / np.log(q.shape[1])
    _, pa = _spectrum(axes.reshape(-1, axes.shape[-1]), fs)
    dom_axes = f[pa[:, 1:].argmax(-1) + 1].reshape(len(mag), -1)  # (N, 3)
    return np.column_stack([np.log(total), *bands, f[k], share, entropy, dom_axes])


def har_features(X: np.ndarray, fs: float = RATE_HZ) -> np.ndarray:
    """Hand-crafted features (N, 53) float32 of windows ``X`` (N, 3, L) in g."""
    X = np.asarray(X, np.float64)
    if X.ndim != 3 or X.shape[1] != 3:
        raise ValueError(f"hand-crafted features need windows (N, 3, L); got shape {X.shape}")
    per_axis = [X.mean(-1), X.std(-1), X.min(-1), X.max(-1), *np.percentile(X, PERCENTILES, axis=-1)]  # 9 x (N, 3)
    c = X - X.mean(-1, keepdims=True)
    sd = np.sqrt((c ** 2).mean(-1)) + 1e-8
    corr = [(c[:, i] * c[:, j]).mean(-1) / (sd[:, i] * sd[:, j]) for i, j in ((0, 1), (0, 2), (1, 2))]
    mag = np.linalg.norm(X, axis=1)  # (N, L)
    m0 = mag - mag.mean(-1, keepdims=True)
    msd = mag.std(-1) + 1e-8
    mag_stats = [mag.mean(-1), mag.std(-1), mag.min(-1), mag.max(-1), *np.percentile(mag, PERCENTILES, axis=-1),
                 np.abs(m0).mean(-1), (m0 ** 3).mean(-1) / msd ** 3, (m0 ** 4).mean(-1) / msd ** 4]
    feats = np.column_stack([np.concatenate(per_axis, axis=1), *corr, *mag_stats, _spectral(mag, X, fs)])
    return np.nan_to_num(feats, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
