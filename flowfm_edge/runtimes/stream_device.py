"""One device's stream: clean, order, resample and cut raw samples into 30 Hz windows (numpy only).

Fault policy (every repaired or dropped sample is counted in :class:`DeviceStats`):

- **NaN / inf values** in any axis: the sample is dropped (``dropped_nan``); the gap it
  leaves is bridged by interpolation like any missing sample.
- **Non-finite timestamps**: dropped (``dropped_bad_time``).
- **Out of order**: samples wait ``reorder_s`` seconds (device time, behind the newest
  sample seen) before they are resampled, and are sorted meanwhile (``reordered``). A
  sample older than what was already resampled is dropped (``dropped_late``). With
  ``hole_wait_s`` > 0, samples after a hole (a jump of more than ``gap_s``) also wait until
  ``hole_wait_s`` of newer samples followed them, so a chunk that comes late fills the hole
  instead of splitting the stream (MQTT clients resend what was in flight after a reconnect,
  possibly behind newer messages); without holes nothing waits.
- **Duplicates**: timestamps within ``dup_tol_s`` of a kept sample; the first arrival is
  kept (``dropped_duplicate``); a re-sent copy of one of the last 256 resampled samples is
  a duplicate too, not a late sample. A push identical to one of the last ``RESENT`` pushes
  (an MQTT QoS 1 redelivery after a reconnect, however old) is dropped whole as duplicates
  (``resent_chunks``), never mistaken for a clock reset.
- **Clock resets**: a sample more than ``reorder_s + gap_s`` behind what was already
  resampled is held; when ``RESET_CONFIRM`` such samples arrive in a row, the device's clock
  was reset (a reboot, a battery swap): the current timeline is finished (as at expiry)
  and a new one starts from the held samples (``clock_resets``). A newer sample arriving
  first shows the held ones were stragglers: they are dropped as late.
- **Units**: with ``units="auto"`` the first ``probe`` samples decide g, m/s^2 or mg from
  their median magnitude (gravity is always there); converted samples are counted
  (``unit_converted``). Set ``units`` to skip detection.
- **Gaps** (consecutive samples more than ``gap_s`` apart): ``gap_policy="split"`` ends
  the segment (the resampled samples no window covered are ``partial_discarded``) and
  starts a new one, whose windows are anchored at its first sample; ``"pad"`` interpolates
  linearly across gaps up to ``max_pad_s`` (the 30 Hz samples made up are ``padded``) and
  splits longer ones (with the anti-alias filter on, the samples either side of a padded
  gap are filtered as neighbours). Shorter holes are bridged by interpolation, uncounted.
- **Rate drift**: timestamps drive the grid, so a drifting rate still gives 30 Hz in
  device time; the rate estimate follows it and the anti-alias filter is rebuilt when it
  moves by more than 25%.

Memory per device is bounded: the reorder buffer holds ``reorder_s`` (plus, after a hole, ``hole_wait_s``) of input, the
filter ``2 * delay`` samples, the window buffer at most one window plus one hop plus one
pushed chunk.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .resample import OUT_RATE_HZ, UNITS, Resampler, detect_units, lowpass_taps
from .stream_stats import DeviceStats
from .stream_windows import WINDOW_LEN, Window, Windower, hop_samples

RECENT = 256  # resampled timestamps kept, so a re-sent copy of one of them counts as a duplicate, not late
RESET_CONFIRM = 16  # samples in a row far behind the timeline that make it a clock reset, not stragglers
RESENT = 64  # pushes remembered by digest, so a re-sent chunk is a duplicate, not a clock reset


def _digest(t: np.ndarray, v: np.ndarray) -> int:
    """64-bit digest of one push's samples (collisions: ~1 in 3e17 per comparison)."""
    h = hashlib.blake2b(t.tobytes(), digest_size=8)
    h.update(v.tobytes())
    return int.from_bytes(h.digest(), "little")


def _distance_to_nearest(sorted_t: np.ndarray, t: np.ndarray) -> np.ndarray:
    """For each of t (n,), the distance to the nearest of sorted_t (m,); inf when m == 0."""
    if len(sorted_t) == 0:
        return np.full(len(t), np.inf)
    i = np.searchsorted(sorted_t, t)
    lo, hi = sorted_t[np.clip(i - 1, 0, len(sorted_t) - 1)], sorted_t[np.clip(i, 0, len(sorted_t) - 1)]
    return np.minimum(np.abs(t - lo), np.abs(t - hi))


class DeviceStream:
    """Raw samples of one device in, :class:`Window` s out. See the module docstring for the fault policy."""

    def __init__(self, device: str, cfg, stats: DeviceStats | None = None):
        self.device, self.cfg = device, cfg
        self.stats = stats or DeviceStats()
        self.hop = hop_samples(cfg.hop_s)
        self.pending_t = np.empty(0)  # reorder buffer, sorted: (p,) seconds
        self.pending_v = np.empty((0, 3))  # (p, 3)
        self.newest = -np.inf  # latest timestamp kept
        self.committed = -np.inf  # latest timestamp handed to the resampler
        self._recent = np.empty(0)  # the last RECENT resampled timestamps, to tell re-sent samples from late ones
        self.factor: float | None = None if cfg.units == "auto" else UNITS[cfg.units]
        if self.factor is not None:
            self.stats.units = cfg.units
        self.rate: float | None = None
        self.design_rate: float | None = None
        self.resampler: Resampler | None = None
        self.windower: Windower | None = None
        self.window_index = self.stats.windows
        self._ready = False
        self.last_t: float | None = None  # latest timestamp resampled
        self._probe_t: list[np.ndarray] = []
        self._probe_v: list[np.ndarray] = []
        self._held_t, self._held_v = np.empty(0), np.empty((0, 3))  # far behind the timeline: a reset or stragglers
        self._pushed = np.zeros(RESENT, np.uint64)  # digests of the last RESENT pushes (a ring)
        self._pushes = 0

    # ---- input: clean and order ---------------------------------------------------------
    def push(self, t, v, arrived: float = 0.0) -> list[Window]:
        """Timestamps ``t`` (n,) in seconds and values ``v`` (n, 3) -> windows completed by them."""
        t = np.atleast_1d(np.asarray(t, np.float64))
        v = np.asarray(v, np.float64).reshape(-1, 3) if np.ndim(v) == 1 and np.size(v) == 3 else np.asarray(v, np.float64)
        if t.ndim != 1 or v.shape != (len(t), 3):
            raise ValueError(f"device {self.device!r}: timestamps of shape {t.shape} and values of shape {v.shape}; "
                             "expected t (n,) seconds and v (n, 3) x/y/z samples")
        s = self.stats
        s.received += len(t)
        if len(t) and self._resent(t, v):
            s.dropped_duplicate += len(t)
            s.resent_chunks += 1
            return []
        ok_t, ok_v = np.isfinite(t), np.isfinite(v).all(axis=1)
        if not (ok_t.all() and ok_v.all()):
            s.dropped_bad_time += int((~ok_t).sum())
            s.dropped_nan += int((ok_t & ~ok_v).sum())
            t, v = t[ok_t & ok_v], v[ok_t & ok_v]
        return self._clocked(t, v, arrived)

    def _resent(self, t: np.ndarray, v: np.ndarray) -> bool:
        """Whether (t, v) repeats one of the last RESENT pushes; remembers it otherwise."""
        key = np.uint64(_digest(t, v))
        if (self._pushed[:self._pushes] == key).any():
            return True
        self._pushed[self._pushes % RESENT] = key
        self._pushes += 1
        return False

    def _clocked(self, t: np.ndarray, v: np.ndarray, arrived: float) -> list[Window]:
        """Split ``t`` into runs near the timeline and runs far behind it (a clock reset, or stragglers)."""
        far = t < self.committed - (self.cfg.reorder_s + self.cfg.gap_s)
        if far.any():  # a re-sent copy of a recent sample is a duplicate, whatever its age
            far[far] = _distance_to_nearest(self._recent, t[far]) > self.cfg.dup_tol_s
        if not len(t) or (not far.any() and not len(self._held_t)):
            return self._ingest(t, v, arrived)
        out: list[Window] = []
        bounds = np.concatenate([[0], np.flatnonzero(np.diff(far)) + 1, [len(t)]])
        for a, b in zip(bounds[:-1], bounds[1:]):
            if not far[a]:
                self._drop_held()
                out += self._ingest(t[a:b], v[a:b], arrived)
                continue
            self._held_t = np.concatenate([self._held_t, t[a:b]])
            self._held_v = np.concatenate([self._held_v, v[a:b]])
            if len(self._held_t) >= RESET_CONFIRM:
                held_t, held_v = self._held_t, self._held_v
                self._held_t, self._held_v = np.empty(0), np.empty((0, 3))
                out += self._new_timeline(arrived)
                return out + self._ingest(held_t, held_v, arrived) + self._clocked(t[b:], v[b:], arrived)
        return out

    def _drop_held(self) -> None:
        self.stats.dropped_late += len(self._held_t)
        self._held_t, self._held_v = np.empty(0), np.empty((0, 3))

    def _new_timeline(self, arrived: float) -> list[Window]:
        """Finish the current timeline (like :meth:`finish`) and forget its clock; units and rate stay."""
        out = self._commit(len(self.pending_t), arrived, final=True) + self.end_segment(arrived)
        self.pending_t, self.pending_v = np.empty(0), np.empty((0, 3))
        self.newest = self.committed = -np.inf
        self._recent = np.empty(0)
        self.last_t = None
        self.stats.clock_resets += 1
        return out

    def _ingest(self, t: np.ndarray, v: np.ndarray, arrived: float) -> list[Window]:
        s, tol = self.stats, self.cfg.dup_tol_s
        old = t <= self.committed + tol
        if old.any():  # already resampled: a re-sent sample (duplicate) or one that came too late
            dup = np.zeros(len(t), bool)
            dup[old] = _distance_to_nearest(self._recent, t[old]) <= tol
            s.dropped_duplicate += int(dup.sum())
            s.dropped_late += int((old & ~dup).sum())
            t, v = t[~old], v[~old]
        if len(t):
            self._merge(t, v)
        cut = int(np.searchsorted(self.pending_t, self.newest - self.cfg.reorder_s, side="right"))
        if cut and self.cfg.hole_wait_s > 0:
            cut = self._before_young_hole(cut)
        return self._commit(cut, arrived)

    def _before_young_hole(self, cut: int) -> int:
        """Where to stop committing: before the first hole (samples more than ``gap_s`` apart) that fewer than
        ``hole_wait_s`` of newer samples have followed yet, so a late chunk can still fill it."""
        t = self.pending_t[:cut]
        steps = np.diff(t, prepend=self.committed if np.isfinite(self.committed) else t[0])
        holes = np.flatnonzero(steps > self.cfg.gap_s)
        young = holes[self.newest - t[holes] < self.cfg.hole_wait_s]
        return int(young[0]) if len(young) else cut

    def _merge(self, t: np.ndarray, v: np.ndarray) -> None:
        tol = self.cfg.dup_tol_s
        steps = np.diff(t)
        if t[0] > self.newest + tol and (steps > tol).all():  # in order, no duplicates: the usual case
            self.pending_t = np.concatenate([self.pending_t, t]) if len(self.pending_t) else t
            self.pending_v = np.concatenate([self.pending_v, v]) if len(self.pending_v) else v
            self.newest = float(t[-1])
            return
        behind = np.maximum.accumulate(np.concatenate([[self.newest], t]))[:-1]
        bt = np.concatenate([self.pending_t, t])
        order = np.argsort(bt, kind="stable")  # earlier arrivals first among equal times
        bt, bv = bt[order], np.concatenate([self.pending_v, v])[order]
        ooo = np.concatenate([np.zeros(len(self.pending_t), bool), t < behind - tol])[order]
        keep = np.ones(len(bt), bool)
        if len(bt) > 1:  # a run of near-equal times keeps its first sample
            keep[1:] = np.diff(bt) > tol
        self.stats.dropped_duplicate += int((~keep).sum())
        self.stats.reordered += int((ooo & keep).sum())
        self.pending_t, self.pending_v = bt[keep], bv[keep]
        self.newest = max(self.newest, float(self.pending_t[-1]))

    def _commit(self, cut: int, arrived: float, final: bool = False) -> list[Window]:
        t = v = None
        if cut:
            t, v = self.pending_t[:cut], self.pending_v[:cut]
            self.pending_t, self.pending_v = self.pending_t[cut:], self.pending_v[cut:]
            self.committed = float(t[-1])
            self._recent = np.concatenate([self._recent, t])[-RECENT:]
            self.stats.accepted += len(t)
        if not self._ready:  # the first `probe` samples set the units and the rate before any resampling
            if t is not None:
                self._probe_t.append(t)
                self._probe_v.append(v)
            n = sum(len(p) for p in self._probe_t)
            if n == 0 or (n < self.cfg.probe and not final):
                return []
            t, v = np.concatenate(self._probe_t), np.concatenate(self._probe_v)
            self._probe_t, self._probe_v = [], []
            self._ready = True
            if self.factor is None:
                self._decide_units(v)
        elif t is None:
            return []
        if self.factor != 1.0:
            v = v * self.factor
            self.stats.unit_converted += len(v)
        return self._process(t, v, arrived)

    def _decide_units(self, v: np.ndarray) -> None:
        name, _ = detect_units(v)
        self.factor = UNITS.get(name, 1.0)
        self.stats.units = name if name != "unknown" else "unknown (treated as g)"

    # ---- resampling and windows ---------------------------------------------------------
    def _process(self, t: np.ndarray, v: np.ndarray, arrived: float) -> list[Window]:
        dt = t - np.concatenate([[t[0] if self.last_t is None else self.last_t], t[:-1]])
        self.last_t = float(t[-1])
        self._update_rate(dt[(dt > 0) & (dt <= self.cfg.gap_s)])
        out: list[Window] = []
        bounds = np.concatenate([[0], np.flatnonzero(dt > self.cfg.gap_s), [len(t)]])
        for a, b in zip(bounds[:-1], bounds[1:]):
            if a == b:
                continue
            if self.resampler is not None and dt[a] > self.cfg.gap_s:
                self.stats.gaps += 1
                if self.cfg.gap_policy == "pad" and dt[a] <= self.cfg.max_pad_s:
                    self._count_padded(t[a] - dt[a], t[a])
                else:
                    out += self.end_segment(arrived)
            if self.resampler is None:
                self._start_segment(t[a])
            out += self._emit(*self.resampler.push(t[a:b], v[a:b]), arrived)
        return out

    def _count_padded(self, before: float, after: float) -> None:
        anchor = self.resampler.anchor
        first = int(np.floor((before - anchor) * OUT_RATE_HZ + 1e-6)) + 1
        last = int(np.ceil((after - anchor) * OUT_RATE_HZ - 1e-6)) - 1
        self.stats.padded += max(last - first + 1, 0)

    def _update_rate(self, dt: np.ndarray) -> None:
        if len(dt) < 3:
            return
        rate = len(dt) / float(dt.sum())  # gaps and duplicates are already out: the mean is robust enough
        if self.rate is None or (len(dt) >= 8 and abs(rate / self.rate - 1) > 0.25):  # a step change: follow at once
            self.rate = rate
        else:  # drift and jitter: smooth
            self.rate = 0.9 * self.rate + 0.1 * rate
        self.stats.rate_hz = round(self.rate, 3)

    def _start_segment(self, t0: float) -> None:
        self.design_rate = self.rate or OUT_RATE_HZ
        self.resampler = Resampler(t0, lowpass_taps(self.design_rate))
        self.windower = Windower(self.hop)
        self.stats.segments += 1

    def _emit(self, k0: int, grid: np.ndarray, arrived: float) -> list[Window]:
        self.stats.resampled += len(grid)
        out = []
        for start, x in self.windower.push(k0, grid):
            t0 = self.resampler.anchor + start / OUT_RATE_HZ
            out.append(Window(self.device, self.window_index, t0, t0 + WINDOW_LEN / OUT_RATE_HZ, x, arrived))
            self.window_index += 1
        self.stats.windows += len(out)
        if self.rate and abs(self.rate / self.design_rate - 1) > 0.25:  # the input rate changed: rebuild the filter
            self.design_rate = self.rate
            self.stats.filter_rebuilds += 1
            out += self._emit(*self.resampler.retune(lowpass_taps(self.rate)), arrived)
        return out

    def end_segment(self, arrived: float = 0.0) -> list[Window]:
        """Flush the filter, emit the windows that complete, and count what no window covered."""
        if self.resampler is None:
            return []
        out = self._emit(*self.resampler.finish(), arrived)
        self.stats.partial_discarded += self.windower.uncovered()
        self.resampler = self.windower = None
        return out

    def finish(self, arrived: float = 0.0) -> list[Window]:
        """Resample everything held (reorder buffer, unit probe, filter) and end the segment."""
        self._drop_held()
        return self._commit(len(self.pending_t), arrived, final=True) + self.end_segment(arrived)
