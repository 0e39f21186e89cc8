"""What the gateway stream counts: samples in, dropped and repaired, and windows out, per device
(:class:`DeviceStats`), and constant-memory latency percentiles (:class:`LatencyHistogram`) (numpy only).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class DeviceStats:
    """Counts for one device: samples in, what was dropped, what was repaired, windows out."""

    received: int = 0
    accepted: int = 0  # raw samples that reached the resampler
    dropped_nan: int = 0
    dropped_bad_time: int = 0
    dropped_late: int = 0
    dropped_duplicate: int = 0
    reordered: int = 0
    unit_converted: int = 0
    gaps: int = 0
    padded: int = 0  # 30 Hz samples interpolated across gaps (gap_policy="pad")
    partial_discarded: int = 0  # 30 Hz samples in no emitted window (split, expiry, flush)
    resampled: int = 0  # 30 Hz samples made
    windows: int = 0
    segments: int = 0
    units: str = "?"
    rate_hz: float = 0.0
    filter_rebuilds: int = 0
    clock_resets: int = 0  # jumps back that started a new timeline
    resent_chunks: int = 0  # pushes identical to a recent one (MQTT redeliveries), dropped as duplicates
    invalid_windows: int = 0  # windows whose values gave no finite model output (e.g. 1e30 g): no event

    @property
    def dropped(self) -> int:
        return self.dropped_nan + self.dropped_bad_time + self.dropped_late + self.dropped_duplicate

    @property
    def repaired(self) -> int:
        return self.reordered + self.unit_converted + self.padded

    def as_dict(self) -> dict:
        return {**asdict(self), "dropped": self.dropped, "repaired": self.repaired}


class LatencyHistogram:
    """Constant-memory latency percentiles: log-spaced bins from 10 us to 100 s (~1% resolution)."""

    def __init__(self):
        self.edges = np.logspace(-5, 2, 1601)
        self.counts = np.zeros(len(self.edges) + 1, np.int64)
        self.n, self.max = 0, 0.0

    def add(self, seconds) -> None:
        s = np.atleast_1d(np.asarray(seconds, np.float64))
        np.add.at(self.counts, np.searchsorted(self.edges, s), 1)
        self.n += len(s)
        self.max = max(self.max, float(s.max())) if len(s) else self.max

    def percentile(self, q: float) -> float:
        """Upper bin edge below which q% of the latencies fall (seconds); nan when empty."""
        if self.n == 0:
            return float("nan")
        i = int(np.searchsorted(np.cumsum(self.counts), q / 100 * self.n))
        return float(self.edges[min(i, len(self.edges) - 1)])
