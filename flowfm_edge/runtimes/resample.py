"""Streaming resampling of one device's samples onto the 30 Hz window grid (numpy only).

Gateways are lean, so this needs no scipy: an optional anti-alias low-pass (a Hamming-
windowed sinc FIR, built with numpy) followed by linear interpolation (``np.interp``) at
the grid times ``anchor + k / 30``.

- Input slower than 33 Hz goes straight to interpolation: it holds nothing above 16.5 Hz
  worth filtering, and 30 Hz input sampled on the grid passes through unchanged, so a
  streamed window equals the same window fed offline.
- Faster input is low-passed first, cutoff 13 Hz (-6 dB), passband to ~10 Hz, >= 50 dB
  down from ~16 Hz, so motion above the 15 Hz Nyquist limit does not fold back into the
  band the models use. The filter is linear-phase and each output keeps the timestamp of
  its centre sample, so it adds latency (half its length, ~0.28 s) but no time shift.
  Segment edges are padded with the edge sample.
- The offline default of docs/design.md#data-contract (``scipy.signal.resample_poly``) is sharper; on smooth motion
  the two agree to ~1e-3 g, which the stream tests check.

The FIR assumes roughly uniform input spacing (jitter and slow drift are fine); its design
follows the measured rate and is rebuilt when the rate moves by more than 25%.
"""

from __future__ import annotations

import math

import numpy as np

OUT_RATE_HZ = 30
CUTOFF_HZ = 13.0  # -6 dB point of the anti-alias filter
TRANSITION_HZ = 6.0  # Hamming window: transition width ~ 3.3 * rate / taps
FILTER_ABOVE_HZ = 1.1 * OUT_RATE_HZ


def lowpass_taps(rate_hz: float, out_rate_hz: float = OUT_RATE_HZ) -> np.ndarray:
    """Anti-alias FIR for input at ``rate_hz``: odd length, unit DC gain; ``[1.0]`` (no filter) at <= 33 Hz.

    >>> len(lowpass_taps(30)), len(lowpass_taps(50)), len(lowpass_taps(100))
    (1, 29, 57)
    """
    if not (rate_hz > 0 and math.isfinite(rate_hz)):
        raise ValueError(f"sample rate {rate_hz!r} Hz: expected a positive, finite rate")
    if rate_hz <= 1.1 * out_rate_hz:
        return np.ones(1)
    half = int(math.ceil(3.3 * rate_hz / TRANSITION_HZ / 2))
    n = np.arange(-half, half + 1)
    fc = CUTOFF_HZ * out_rate_hz / OUT_RATE_HZ / rate_hz  # cycles per input sample
    taps = 2 * fc * np.sinc(2 * fc * n) * np.hamming(2 * half + 1)
    return taps / taps.sum()


class Resampler:
    """One segment of one device: sorted samples in, 30 Hz grid samples out.

    ``push(t, v)`` takes timestamps ``t`` (n,) in seconds, strictly increasing and later
    than anything pushed before, and values ``v`` (n, 3) in g; it returns ``(k0, grid)``:
    the grid index of the first new output and ``grid`` (m, 3) float32, the samples at
    times ``anchor + (k0 + i) / 30`` that the input now covers. ``finish()`` pads the
    filter's right edge and returns what is left. The anchor is the segment's first
    timestamp, so grid index 0 is the first sample.

    >>> r = Resampler(anchor=0.0, taps=lowpass_taps(30))
    >>> k0, grid = r.push(np.arange(60) / 30, np.ones((60, 3)))
    >>> k0, grid.shape
    (0, (60, 3))
    """

    def __init__(self, anchor: float, taps: np.ndarray):
        self.anchor = float(anchor)
        self.next_k = 0  # grid index of the next output
        self._last: tuple[float, np.ndarray] | None = None  # last filtered point: left context for interpolation
        self._set_filter(taps)

    def _set_filter(self, taps: np.ndarray) -> None:
        self.taps = np.asarray(taps, np.float64)
        self.delay = (len(self.taps) - 1) // 2  # D: outputs trail inputs by D samples
        self._tail_t = self._tail_v = None  # the last <= 2D inputs, context for the next push

    def retune(self, taps: np.ndarray) -> tuple[int, np.ndarray]:
        """Flush the current filter (edge-padded) and continue with ``taps``; returns the flushed grid samples."""
        out = self.finish()
        self._set_filter(taps)
        return out

    def push(self, t: np.ndarray, v: np.ndarray) -> tuple[int, np.ndarray]:
        if len(t) == 0:
            return self.next_k, np.empty((0, 3), np.float32)
        ft, fv = self._filter(np.asarray(t, np.float64), np.asarray(v, np.float64))
        return self._interp(ft, fv)

    def finish(self) -> tuple[int, np.ndarray]:
        """Flush the samples the filter still holds, padding its right edge with the last sample."""
        if self.delay == 0 or self._tail_v is None:
            return self.next_k, np.empty((0, 3), np.float32)
        d = self.delay
        real = np.isfinite(self._tail_t)
        centres = np.flatnonzero(real)
        centres = centres[centres >= d]  # the first D entries of a fresh tail are left padding
        if len(centres) == 0:
            return self.next_k, np.empty((0, 3), np.float32)
        bv = np.concatenate([self._tail_v, np.repeat(self._tail_v[-1:], d, axis=0)])
        fv = self._convolve(bv)[centres - d]  # (len(tail) - D, 3) outputs for centres D..
        ft = self._tail_t[centres]
        self._tail_t = self._tail_v = None
        return self._interp(ft, fv)

    def _convolve(self, bv: np.ndarray) -> np.ndarray:
        """'valid' FIR over bv (n, 3) -> (n - 2D, 3); taps are symmetric, so no flip."""
        return np.stack([np.convolve(bv[:, c], self.taps, "valid") for c in range(3)], axis=1)

    def _filter(self, t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.delay
        if d == 0:
            return t, v
        if self._tail_v is None:  # segment start: pad the left edge with the first sample
            self._tail_t, self._tail_v = np.full(d, np.nan), np.repeat(v[:1], d, axis=0)
        bt, bv = np.concatenate([self._tail_t, t]), np.concatenate([self._tail_v, v])
        keep = min(len(bt), 2 * d)
        self._tail_t, self._tail_v = bt[-keep:], bv[-keep:]
        if len(bt) < 2 * d + 1:
            return t[:0], v[:0]
        return bt[d:len(bt) - d], self._convolve(bv)

    def _interp(self, ft: np.ndarray, fv: np.ndarray) -> tuple[int, np.ndarray]:
        k0 = self.next_k
        if len(ft) == 0:
            return k0, np.empty((0, 3), np.float32)
        if self._last is not None:
            ft = np.concatenate([[self._last[0]], ft])
            fv = np.concatenate([self._last[1][None], fv])
        self._last = (float(ft[-1]), fv[-1].copy())
        k_end = int(math.floor((ft[-1] - self.anchor) * OUT_RATE_HZ + 1e-6)) + 1  # grid points up to the last time
        if k_end <= k0:
            return k0, np.empty((0, 3), np.float32)
        tg = self.anchor + np.arange(k0, k_end) / OUT_RATE_HZ  # (m,) grid times
        grid = np.empty((k_end - k0, 3), np.float32)
        for c in range(3):
            grid[:, c] = np.interp(tg, ft, fv[:, c])
        self.next_k = k_end
        return k0, grid


UNITS = {"g": 1.0, "m/s^2": 1 / 9.80665, "mg": 1e-3}
# median |a| over the first samples, gravity kept: ~1 g, ~9.81 m/s^2, ~1000 mg
_UNIT_RANGES = (("g", 0.3, 3.0), ("m/s^2", 3.0, 30.0), ("mg", 300.0, 3000.0))


def detect_units(v: np.ndarray) -> tuple[str, float]:
    """Guess the unit of samples ``v`` (n, 3) from their median magnitude: ('g' | 'm/s^2' | 'mg' | 'unknown', median).

    Gravity is always in the signal, so the median |a| sits near 1 g whatever the motion.
    'unknown' (median outside every range: a dead or saturated sensor) is left as g.

    >>> detect_units(np.array([[0.0, 0.0, 9.81]] * 10))[0]
    'm/s^2'
    """
    med = float(np.median(np.linalg.norm(v, axis=1))) if len(v) else float("nan")
    for name, lo, hi in _UNIT_RANGES:
        if lo <= med < hi:
            return name, med
    return "unknown", med
