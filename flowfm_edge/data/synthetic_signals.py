"""Signal pieces of the synthetic wrist generator: slow drift, band-limited noise, bursts and pulses.

Each is a (n, T) or (n, T, 3) array over the 10 s window grid ``T_S``, drawn from the caller's
``rng`` (the same draws in the same order give the same windows).
"""

from __future__ import annotations

import numpy as np

from .contract import RATE_HZ, WINDOW_LEN

T_S = np.arange(WINDOW_LEN) / RATE_HZ  # (300,) seconds
_T_COARSE = np.linspace(0.0, T_S[-1], 31)
_COARSE_TO_T = np.stack([np.interp(T_S, _T_COARSE, row) for row in np.eye(31)])  # (31, 300) linear interpolation


def drift(rng, n: int, k: int = 1, fmax: float = 0.15) -> np.ndarray:
    """Slow smooth wander, unit-ish std, (k, n, T): three low sines with random phases.

    Evaluated on a 3 Hz grid and interpolated: the wander is far slower than the grid.
    """
    f = rng.uniform(0.01, fmax, (k, n, 1, 3))
    ph = rng.uniform(0, 2 * np.pi, (k, n, 1, 3))
    coarse = np.sin(2 * np.pi * f * _T_COARSE[:, None] + ph).sum(-1) / np.sqrt(1.5)  # (k, n, 31)
    return coarse @ _COARSE_TO_T  # (k, n, T)


def band(rng, n: int, lo: float, hi: float) -> np.ndarray:
    """Three-axis noise limited to [lo, hi] Hz, unit std per axis: (n, T, 3)."""
    spec = np.fft.rfft(rng.normal(size=(n, WINDOW_LEN, 3)), axis=1)
    freqs = np.fft.rfftfreq(WINDOW_LEN, 1 / RATE_HZ)
    spec[:, (freqs < lo) | (freqs > hi)] = 0
    x = np.fft.irfft(spec, n=WINDOW_LEN, axis=1)
    return x / (x.std(axis=1, keepdims=True) + 1e-12)


def bursts(rng, n: int, p: float, width: tuple[float, float]) -> np.ndarray:
    """Gaussian envelopes (n, T) in [0, 1], present in a fraction ``p`` of windows."""
    c = rng.uniform(1.0, 9.0, (n, 1))
    w = rng.uniform(*width, (n, 1))
    on = rng.random((n, 1)) < p
    return on * np.exp(-0.5 * ((T_S - c) / w) ** 2)


def pick(lohi: tuple[float, float], s: np.ndarray) -> np.ndarray:
    """Map style values ``s`` (n,) in [0, 1] onto the range ``lohi`` -> (n, 1)."""
    return (lohi[0] + (lohi[1] - lohi[0]) * s)[:, None]


def spikes(phase: np.ndarray, f: np.ndarray, width_s: float) -> np.ndarray:
    """Unit pulses (n, T) at every cycle of ``phase`` (rad); ``f`` (n, 1) Hz turns phase into time."""
    d = (phase + np.pi) % (2 * np.pi) - np.pi
    return np.exp(-0.5 * (d / (2 * np.pi * f) / width_s) ** 2)
