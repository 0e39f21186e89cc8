"""The gateway runtime: raw accelerometer streams from many devices in, labelled window events out.

Each device's samples (any rate, with timestamps, in g or a detectable other unit) are
cleaned, resampled to 30 Hz and cut into 10 s windows every ``hop_s`` seconds by a
:class:`~flowfm_edge.runtimes.stream_device.DeviceStream` (its docstring states the fault
policy; the windowing is in :mod:`~flowfm_edge.runtimes.stream_windows`, the counts in
:mod:`~flowfm_edge.runtimes.stream_stats`). Completed windows from all devices queue up and
run through the bundle's classifier (and encoder, with ``embed=True``) in micro-batches of
``batch_size``; a window waits at most ``max_delay_s`` of wall time for its batch to fill.
With ``pipeline=True`` inference runs in a background thread (onnxruntime releases the GIL),
so cleaning and resampling the next pushes overlap it; results then come out of a later
``push``/``poll`` and ``flush`` waits for all. Needs numpy and one runtime backend; never
torch, never scipy.

>>> from flowfm_edge.runtimes.stream import GatewayStream
>>> gw = GatewayStream.from_bundle("bundles/tiny", hop_s=5)                  # doctest: +SKIP
>>> for ev in gw.push("wrist-7", t, xyz):   # t (n,) s, xyz (n, 3) g         # doctest: +SKIP
...     print(ev.device, ev.start, ev.label, ev.probabilities.max())
>>> events = gw.poll()    # call now and then: runs overdue batches, expires idle devices  # doctest: +SKIP
>>> events = gw.flush()   # at shutdown: finish every device                 # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .base import Runtime
from .resample import UNITS
from .stream_device import DeviceStream
from .stream_stats import DeviceStats
from .stream_windows import Window, WindowEvent, hop_samples


@dataclass(frozen=True)
class StreamConfig:
    hop_s: float = 5.0  # window hop, a multiple of 1/30 s
    batch_size: int = 16  # windows per inference call, across devices (onnxruntime needs ~1.7 MB per window of tiny)
    max_delay_s: float = 0.05  # wall time a window may wait for its batch to fill
    gap_s: float = 1.0  # consecutive samples further apart than this are a gap
    gap_policy: str = "split"  # split | pad (see stream_device)
    max_pad_s: float = 5.0  # pad: longer gaps still split
    reorder_s: float = 0.5  # out-of-order tolerance, device seconds
    hole_wait_s: float = 0.0  # after a gap, wait for this much newer input before taking it as a gap (stream_device)
    dup_tol_s: float = 1e-4  # timestamps closer than this are duplicates
    units: str = "auto"  # auto | g | m/s^2 | mg
    probe: int = 32  # samples that set the units and the rate
    idle_s: float = 300.0  # expire devices silent this long (gateway clock)
    max_devices: int = 10_000  # beyond this, the longest-silent device expires
    classify: bool = True  # labels and probabilities from the classifier graph
    embed: bool = False  # also r from the encoder graph
    pipeline: bool = False  # infer in a background thread, overlapping the next pushes; events come out of later calls
    max_inflight: int = 2  # pipeline: batches handed to the thread before push waits (bounds memory)

    def check(self) -> None:
        hop_samples(self.hop_s)
        if self.gap_policy not in ("split", "pad"):
            raise ValueError(f"gap_policy {self.gap_policy!r}: choose split or pad")
        if self.units != "auto" and self.units not in UNITS:
            raise ValueError(f"units {self.units!r}: choose auto, {', '.join(UNITS)}")
        if not (self.classify or self.embed):
            raise ValueError("the stream has nothing to compute: enable classify and/or embed")
        for name in ("batch_size", "probe", "max_devices", "max_inflight"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("gap_s", "max_pad_s", "reorder_s", "hole_wait_s", "idle_s", "max_delay_s", "dup_tol_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def softmax(logits: np.ndarray) -> np.ndarray:
    """(B, C) logits -> (B, C) float32 probabilities."""
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (z / z.sum(axis=1, keepdims=True)).astype(np.float32)


def load_runtime(bundle: str | Path, backend: str = "onnxruntime", precision: str = "auto", threads: int | None = None,
                 spinning: bool = False, trust: str | Path | None = None, classify: bool = True) -> Runtime:
    """The runtime a stream infers with: ``precision="auto"`` takes int8 when the bundle has it, else fp32;
    ``spinning`` see :meth:`GatewayStream.from_bundle`."""
    from .base import load

    rt = load(bundle, backend=backend, threads=threads, trust=trust)
    if hasattr(rt.backend, "spinning"):
        rt.backend.spinning = spinning
    if precision == "auto":
        graph = "classifier" if classify else "encoder"
        have = rt.backend.precisions(graph) if graph in rt.manifest["graphs"] else []
        precision = "int8" if "int8" in have else "fp32"
    rt.precision = precision
    return rt


def check_runtime(runtime: Runtime, cfg: StreamConfig) -> None:
    """Refuse a runtime whose bundle lacks a graph that ``cfg`` needs (classifier, encoder)."""
    graphs = runtime.manifest["graphs"]
    for graph, wanted in (("classifier", cfg.classify), ("encoder", cfg.embed)):
        if wanted and graph not in graphs:
            hint = ("fit a head with `flowfm-edge probe RUN` and re-export, or stream embeddings only (--embed --no-classify)"
                    if graph == "classifier" else "re-export with the encoder graph")
            raise ValueError(f"{runtime.backend.bundle}: the bundle has no {graph} graph; {hint}")


class GatewayStream:
    """Per-device streams over one :class:`Runtime`; see the module docstring.

    ``clock`` (seconds, default ``time.monotonic``) decides idle expiry only; pass a fake one
    to replay recordings faster than real time.
    """

    def __init__(self, runtime: Runtime, config: StreamConfig | None = None, clock=time.monotonic, **overrides):
        self.cfg = replace(config or StreamConfig(), **overrides)
        self.cfg.check()
        self.clock = clock
        self.devices: dict[str, DeviceStream] = {}
        self.last_seen: OrderedDict[str, float] = OrderedDict()  # least recently seen first: O(1) expiry
        self.expired: dict[str, DeviceStats] = {}  # stats of expired devices, picked up again if they return
        self.forgotten = DeviceStats()  # summed stats of expired devices beyond max_devices
        self.queue: list[Window] = []
        self.batches = 0
        self.use_runtime(runtime)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="flowfm-infer") if self.cfg.pipeline else None
        self._inflight: deque[Future] = deque()

    def close(self) -> list[WindowEvent]:
        """:meth:`flush`, then stop the inference thread (pipeline mode)."""
        events = self.flush()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        return events

    def use_runtime(self, runtime: Runtime) -> None:
        """Infer with ``runtime`` from the next batch on (a hot update); refuses one without the graphs the config needs."""
        check_runtime(runtime, self.cfg)
        batches, self.runtime, self.classes = self.batches, runtime, runtime.classes
        self.infer([Window("warm-up", 0, 0.0, 10.0, np.zeros((3, 300), np.float32))])  # load sessions now, not on the first window
        self.batches = batches

    def __enter__(self) -> "GatewayStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @classmethod
    def from_bundle(cls, bundle: str | Path, backend: str = "onnxruntime", precision: str = "auto",
                    threads: int | None = None, clock=time.monotonic, spinning: bool = False,
                    trust: str | Path | None = None, **config) -> "GatewayStream":
        """Load ``bundle`` with ``backend``; ``precision="auto"`` takes int8 when the bundle has it, else fp32.

        ``spinning=False`` stops onnxruntime's worker threads from busy-waiting between ops: on a
        gateway the CPU is shared with I/O and resampling, and on a loaded 2-core machine this
        made 2-thread inference of the tiny classifier 5x faster (1.3 vs 6.9 ms per window).
        """
        rt = load_runtime(bundle, backend, precision, threads, spinning, trust, config.get("classify", True))
        return cls(rt, clock=clock, **config)

    # ---- input ---------------------------------------------------------------------------
    def push(self, device: str, t, xyz) -> list[WindowEvent]:
        """Samples of one device: timestamps ``t`` (n,) in seconds, ``xyz`` (n, 3) -> events ready now.

        Events may belong to other devices: windows are batched across devices.
        """
        self.queue += self.cut(device, t, xyz, time.perf_counter())
        return self._run_ready()

    def cut(self, device: str, t, xyz, arrived: float) -> list[Window]:
        """Samples of one device -> the windows they complete, not inferred (for callers that queue and infer
        windows themselves, like the MQTT gateway); ``arrived`` is the perf_counter() time the samples came in."""
        return self._device(str(device)).push(t, xyz, arrived)

    def push_rows(self, devices, t, xyz) -> list[WindowEvent]:
        """Interleaved samples of many devices: ``devices`` (n,), ``t`` (n,), ``xyz`` (n, 3), e.g. lines of a CSV."""
        arrived = time.perf_counter()
        devices, t, xyz = np.asarray(devices), np.asarray(t, np.float64), np.asarray(xyz, np.float64)
        if not (devices.ndim == t.ndim == 1 and len(devices) == len(t) and xyz.shape == (len(t), 3)):
            raise ValueError(f"push_rows: devices {devices.shape}, t {t.shape}, xyz {xyz.shape}; expected (n,), (n,), (n, 3)")
        names, inverse = np.unique(devices, return_inverse=True)
        order = np.argsort(inverse, kind="stable")  # keep each device's arrival order
        bounds = np.searchsorted(inverse[order], np.arange(len(names) + 1))
        for i, name in enumerate(names):
            rows = order[bounds[i]:bounds[i + 1]]
            self.queue += self._device(str(name)).push(t[rows], xyz[rows], arrived)
        return self._run_ready()

    def _device(self, device: str) -> DeviceStream:
        stream = self.devices.get(device)
        if stream is None:
            if len(self.devices) >= self.cfg.max_devices:  # make room: the longest-silent device goes
                self.queue += self._expire(next(iter(self.last_seen)))
            stream = self.devices[device] = DeviceStream(device, self.cfg, self.expired.pop(device, None))
        self.last_seen[device] = self.clock()
        self.last_seen.move_to_end(device)
        return stream

    # ---- housekeeping --------------------------------------------------------------------
    def poll(self) -> list[WindowEvent]:
        """Expire idle devices and run batches whose oldest window waited ``max_delay_s``; call it regularly."""
        self.queue += self.expire_idle()
        return self._run_ready()

    def expire_idle(self) -> list[Window]:
        """Finish the devices silent for more than ``idle_s``: the windows that completes, not inferred."""
        now, windows = self.clock(), []
        while self.last_seen:
            device, seen = next(iter(self.last_seen.items()))
            if now - seen <= self.cfg.idle_s:
                break  # the rest were seen later
            windows += self._expire(device)
        return windows

    def flush(self) -> list[WindowEvent]:
        """Finish every device and run every queued window (end of input, shutdown)."""
        for device in list(self.devices):
            self.queue += self._expire(device)
        return self._run(len(self.queue), wait=True)

    def _expire(self, device: str) -> list[Window]:
        stream = self.devices.pop(device, None)
        self.last_seen.pop(device, None)
        if stream is None:
            return []
        windows = stream.finish(time.perf_counter())
        self.expired[device] = stream.stats
        while len(self.expired) > self.cfg.max_devices:  # bounded: forget the oldest expired device's stats
            self._forget(next(iter(self.expired)))
        return windows

    def _device_stats(self, device: str) -> DeviceStats:
        stream = self.devices.get(device)
        return stream.stats if stream is not None else self.expired.get(device, self.forgotten)

    def _forget(self, device: str) -> None:
        for k, v in self.expired.pop(device).__dict__.items():
            if isinstance(v, int):
                setattr(self.forgotten, k, getattr(self.forgotten, k) + v)

    def stats(self) -> dict:
        """{"total": counts summed over every device seen, "devices": {device: counts}, "active": n, "batches": n}."""
        per = {d: s.stats.as_dict() for d, s in self.devices.items()}
        per.update({d: s.as_dict() for d, s in self.expired.items() if d not in per})
        total: dict = {}
        for row in [*per.values(), self.forgotten.as_dict()]:
            for k, v in row.items():
                if isinstance(v, int):
                    total[k] = total.get(k, 0) + v
        return {"total": total, "devices": per, "active": len(self.devices), "batches": self.batches,
                "queued": len(self.queue), "inflight": len(self._inflight)}

    # ---- inference -----------------------------------------------------------------------
    def _run_ready(self) -> list[WindowEvent]:
        full = len(self.queue) - len(self.queue) % self.cfg.batch_size
        if self.queue and time.perf_counter() - self.queue[0].arrived >= self.cfg.max_delay_s:
            full = len(self.queue)
        return self._run(full)

    def _run(self, n: int, wait: bool = False) -> list[WindowEvent]:
        """Infer the first ``n`` queued windows in batches; returns the events ready (all of them when ``wait``)."""
        events: list[WindowEvent] = []
        while n > 0:
            k = min(n, self.cfg.batch_size)
            batch, self.queue = self.queue[:k], self.queue[k:]
            n -= k
            if self._pool is None:
                events += self.infer(batch)
                continue
            while len(self._inflight) >= self.cfg.max_inflight:  # back-pressure: the thread is behind
                events += self._inflight.popleft().result()
            self._inflight.append(self._pool.submit(self.infer, batch))
        while self._inflight and (wait or self._inflight[0].done()):
            events += self._inflight.popleft().result()
        now = time.perf_counter()
        for ev in events:  # latency as the caller sees it: until the event leaves this call
            ev.latency_s = now - ev.arrived
        return events

    def infer(self, batch: list[Window]) -> list[WindowEvent]:
        """Classify (and embed) ``batch`` in one call -> events of its valid windows (garbage windows are counted)."""
        x = np.stack([w.x for w in batch])  # (B, 3, 300)
        valid = np.ones(len(batch), bool)
        probs = emb = None
        if self.cfg.classify:
            logits, ok = self.runtime.classify(x, invalid="mask")  # (B, C)
            probs, valid = softmax(np.where(ok[:, None], logits, 0.0)), valid & ok
        if self.cfg.embed:
            emb, ok = self.runtime.embed(x, invalid="mask")  # (B, r_dim)
            valid &= ok
        self.batches += 1
        events = []
        for i, w in enumerate(batch):
            if not valid[i]:  # no label for garbage
                self._device_stats(w.device).invalid_windows += 1
                continue
            label = None
            if probs is not None:
                k = int(probs[i].argmax())
                label = self.classes[k] if self.classes else str(k)
            events.append(WindowEvent(w.device, w.index, w.start, w.end, label, None if probs is None else probs[i],
                                      None if emb is None else emb[i], 0.0, x[i], w.arrived))
        return events
