"""Resampling windows to the contract's 300 samples (docs/design.md#data-contract).

Polyphase (``scipy.signal.resample_poly``) is the default: it low-pass filters before
decimating, so 50 or 100 Hz recordings do not alias into the 30 Hz band. Whole-window
linear interpolation is kept for parity with SSL-Wearables' preprocessing.
"""

from __future__ import annotations

from math import gcd

import numpy as np

from .contract import DataError, WINDOW_LEN

METHODS = ("poly", "linear")


def resample_windows(X: np.ndarray, length: int = WINDOW_LEN, method: str = "poly") -> np.ndarray:
    """Resample windows ``X`` (N, C, L) along the last axis to ``length`` samples -> (N, C, length) float32.

    >>> resample_windows(np.zeros((2, 3, 500)), 300).shape
    (2, 3, 300)
    """
    if method not in METHODS:
        raise DataError(f"unknown resampling method {method!r}; choose one of {', '.join(METHODS)}")
    X = np.asarray(X, dtype=np.float64)
    n_in = X.shape[-1]
    if n_in == length:
        return X.astype(np.float32)
    if n_in < 2:
        raise DataError(f"cannot resample windows of {n_in} sample(s)")
    if method == "linear":
        src = np.linspace(0.0, 1.0, n_in)
        dst = np.linspace(0.0, 1.0, length)
        flat = X.reshape(-1, n_in)
        out = np.stack([np.interp(dst, src, row) for row in flat])
        return out.reshape(*X.shape[:-1], length).astype(np.float32)
    g = gcd(n_in, length)
    up, down = length // g, n_in // g
    # Pad by odd reflection (point symmetry about the end sample) so the filter's edge transient
    # does not bend the window's ends: it keeps the end value and slope, where an even
    # reflection flattens the slope and bends a 2 Hz sine by ~6% at the first sample.
    pad = min(n_in - 1, 10 * down)
    padded = np.pad(X, [(0, 0)] * (X.ndim - 1) + [(pad, pad)], mode="reflect", reflect_type="odd")
    out = _resample_poly()(padded, up, down, axis=-1)
    start = pad * up // down
    return out[..., start : start + length].astype(np.float32)


def _resample_poly():
    """scipy's polyphase resampler; the runtime install has no scipy, so say which install brings it."""
    try:
        from scipy.signal import resample_poly
    except ModuleNotFoundError:
        raise ImportError("resampling recordings to 30 Hz needs scipy: pip install 'flowfm-edge[cohort]' "
                          "(or the training install, 'flowfm-edge[train]')") from None
    return resample_poly
