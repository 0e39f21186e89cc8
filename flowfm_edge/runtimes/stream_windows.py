"""Windows of the gateway stream: the hop grid, the :class:`Windower` that cuts a segment's 30 Hz
samples, the :class:`Window` it emits and the :class:`WindowEvent` the gateway returns for each (numpy only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .resample import OUT_RATE_HZ

WINDOW_LEN = 300  # samples at 30 Hz: the 10 s window of the data contract


@dataclass
class Window:
    """A cut window: ``x`` (3, 300) float32 in g; ``start``/``end`` in device seconds (end exclusive)."""

    device: str
    index: int
    start: float
    end: float
    x: np.ndarray
    arrived: float = 0.0  # perf_counter() when the push that completed it began


def hop_samples(hop_s: float) -> int:
    """Hop in 30 Hz samples; refuses hops that are not a whole number of samples.

    >>> hop_samples(5), hop_samples(2.5)
    (150, 75)
    """
    n = round(hop_s * OUT_RATE_HZ)
    if n < 1 or abs(hop_s * OUT_RATE_HZ - n) > 1e-6:
        raise ValueError(f"hop {hop_s!r} s is not a positive whole number of {OUT_RATE_HZ} Hz samples; "
                         f"use a multiple of 1/{OUT_RATE_HZ} s, e.g. 5 or 2.5")
    return n


def window_starts(n_samples: int, hop: int, window: int = WINDOW_LEN) -> np.ndarray:
    """Grid indices where windows start in a segment of ``n_samples`` 30 Hz samples.

    >>> window_starts(1800, 150).tolist()[:3], len(window_starts(1800, 150)), len(window_starts(299, 150))
    ([0, 150, 300], 11, 0)
    """
    return np.arange(0, max(n_samples - window, -1) + 1, hop)


class Windower:
    """Cuts a segment's 30 Hz samples (pushed in order) into windows every ``hop`` samples."""

    def __init__(self, hop: int, window: int = WINDOW_LEN):
        self.hop, self.window = hop, window
        self.buf = np.empty((0, 3), np.float32)  # (n, 3) grid samples from index buf_k0 on
        self.buf_k0 = 0
        self.next_start = 0
        self.covered = 0  # grid index up to which an emitted window covered the data

    def push(self, k0: int, grid: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Grid samples (m, 3) starting at index k0 -> [(start index, x (3, 300))] of completed windows."""
        if len(grid) == 0:
            return []
        assert k0 == self.buf_k0 + len(self.buf), "grid samples must arrive in order"
        self.buf = np.concatenate([self.buf, grid]) if len(self.buf) else grid
        out = []
        while self.next_start + self.window <= self.buf_k0 + len(self.buf):
            i = self.next_start - self.buf_k0
            out.append((self.next_start, np.ascontiguousarray(self.buf[i:i + self.window].T)))
            self.covered = self.next_start + self.window
            self.next_start += self.hop
        drop = min(max(self.next_start - self.buf_k0, 0), len(self.buf))
        self.buf, self.buf_k0 = self.buf[drop:], self.buf_k0 + drop
        return out

    def uncovered(self) -> int:
        """Samples held that no emitted window covered (lost if the segment ends now)."""
        return max(self.buf_k0 + len(self.buf) - max(self.covered, self.buf_k0), 0)


@dataclass
class WindowEvent:
    """One window's result. ``probabilities`` (classes,) and ``embedding`` (r_dim,) are float32 or None."""

    device: str
    index: int  # window number on this device
    start: float  # device seconds, first sample
    end: float  # device seconds, exclusive
    label: str | None
    probabilities: np.ndarray | None
    embedding: np.ndarray | None
    latency_s: float  # wall time from the push that completed the window to the call that returned this event
    x: np.ndarray  # the window (3, 300) float32 in g that was classified
    arrived: float = field(default=0.0, repr=False)  # perf_counter() of that push

    def to_dict(self, classes: list[str] | None = None, digits: int = 5) -> dict:
        """JSON-ready: probabilities keyed by class name when ``classes`` is given."""
        out = {"device": self.device, "window": self.index, "start": round(self.start, 6), "end": round(self.end, 6)}
        if self.probabilities is not None:
            p = [round(float(v), digits) for v in self.probabilities]
            out["label"] = self.label
            out["probabilities"] = dict(zip(classes, p)) if classes else p
        if self.embedding is not None:
            out["embedding"] = [round(float(v), digits) for v in self.embedding]
        out["latency_ms"] = round(self.latency_s * 1e3, 3)
        return out
