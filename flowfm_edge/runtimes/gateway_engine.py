"""The gateway's engine: device streams fed from any thread, a bounded window queue, one inference thread.

Samples go into a :class:`~flowfm_edge.runtimes.stream.GatewayStream`'s per-device streams
(:meth:`Engine.ingest`, called by the MQTT network thread); the windows they complete wait
in a queue of at most ``max_queued_windows``; when inference falls behind, the oldest
window goes first and is counted (``drops_total{what="window", reason="queue_full"}``).
The inference thread takes micro-batches (``batch_size`` windows, or fewer once the oldest
waited ``max_delay_s``), classifies them and hands each event to ``publish(event, bundle)``.

A hot update (:meth:`Engine.request_swap`) hands over an already verified runtime; the
inference thread switches to it between two batches, so no window is dropped and every
event names the bundle that produced it. :meth:`Engine.stop` infers every queued window
before it returns (a graceful stop loses none).
"""

from __future__ import annotations

import threading
import time
from collections import deque

from .stream import GatewayStream
from .stream_windows import Window

SAMPLE_DROPS = {"dropped_nan": "nan", "dropped_bad_time": "bad_time", "dropped_late": "late",
                "dropped_duplicate": "duplicate"}


class Engine:
    """See the module docstring. ``metrics`` is a :class:`~flowfm_edge.runtimes.gateway_metrics.Metrics`."""

    def __init__(self, stream: GatewayStream, bundle: dict, metrics, publish, max_devices: int,
                 max_queued_windows: int, on_swap=None, log=print):
        self.stream, self.bundle, self.metrics, self.publish = stream, bundle, metrics, publish
        self.max_devices, self.max_queued = max_devices, max_queued_windows
        self.on_swap, self.log = on_swap, log
        self.lock = threading.Lock()  # the device streams: ingest, expiry, state
        self.cond = threading.Condition()  # the window queue and the swap slot
        self.queue: deque[Window] = deque()
        self._next: tuple | None = None  # (runtime, bundle) waiting to take over
        self._stopping = False
        self.error: str | None = None  # the last inference failure, for /healthz
        self.thread = threading.Thread(target=self._loop, name="flowfm-infer", daemon=True)

    # ---- input (any thread) -------------------------------------------------------------------
    def ingest(self, device: str, t, xyz, arrived: float) -> bool:
        """Samples of ``device`` -> its stream; False (nothing taken) when it is new and ``max_devices`` are active."""
        with self.lock:
            streams = self.stream.devices
            if device not in streams and len(streams) >= self.max_devices:
                return False
            stream = streams.get(device)
            old = stream.stats if stream is not None else self.stream.expired.get(device)  # None: a new device
            before = [getattr(old, k, 0) for k in SAMPLE_DROPS]
            windows = self.stream.cut(device, t, xyz, arrived)
            stats = streams[device].stats
            for (k, reason), b in zip(SAMPLE_DROPS.items(), before):
                self.metrics.drop("sample", reason, getattr(stats, k) - b)
            self.metrics.devices.set(len(streams))
        self._enqueue(windows)
        return True

    def expire_idle(self) -> None:
        """Finish devices silent for ``idle_s``; their last windows join the queue."""
        with self.lock:
            windows = self.stream.expire_idle()
            self.metrics.devices.set(len(self.stream.devices))
        self._enqueue(windows)

    def _enqueue(self, windows: list[Window]) -> None:
        if not windows:
            return
        with self.cond:
            for w in windows:
                if len(self.queue) >= self.max_queued:  # inference is behind: the oldest window goes
                    self.queue.popleft()
                    self.metrics.drop("window", "queue_full")
                self.queue.append(w)
            self.metrics.queued.set(len(self.queue))
            self.cond.notify()

    # ---- hot update ---------------------------------------------------------------------------
    def request_swap(self, runtime, bundle: dict) -> None:
        """Serve with ``runtime`` (already verified) from the next batch on."""
        with self.cond:
            self._next = (runtime, bundle)
            self.cond.notify()

    def _swap(self) -> None:
        with self.cond:
            pending, self._next = self._next, None
        if pending is None:
            return
        runtime, bundle = pending
        old = self.bundle
        self.stream.use_runtime(runtime)
        self.bundle = bundle
        if self.on_swap is not None:
            self.on_swap(bundle, old)

    # ---- inference thread ---------------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Infer every queued window, then end the inference thread."""
        with self.cond:
            self._stopping = True
            self.cond.notify()
        if self.thread.is_alive():
            self.thread.join()

    def _take(self) -> list[Window] | None:
        """The next batch (waiting for it), [] when only a swap is due, None when stopped and empty."""
        size, delay = self.stream.cfg.batch_size, self.stream.cfg.max_delay_s
        with self.cond:
            while True:
                n = len(self.queue)
                waited = time.perf_counter() - self.queue[0].arrived if n else 0.0
                if n >= size or (n and (self._stopping or waited >= delay)):
                    batch = [self.queue.popleft() for _ in range(min(n, size))]
                    self.metrics.queued.set(len(self.queue))
                    return batch
                if self._next is not None:
                    return []
                if self._stopping:
                    return None
                self.cond.wait(delay - waited + 1e-4 if n else None)

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            try:
                self._swap()
            except Exception as exc:  # noqa: BLE001 - a refused swap must not stop inference
                self.log(f"update refused at the swap: {exc}")
            if batch:
                self._infer(batch)

    def _infer(self, batch: list[Window]) -> None:
        started = time.perf_counter()
        try:
            events = self.stream.infer(batch)
        except Exception as exc:  # noqa: BLE001 - count, report on /healthz, keep serving the next batches
            self.error = f"{type(exc).__name__}: {exc}"
            self.metrics.drop("window", "error", len(batch))
            self.log(f"inference failed on {len(batch)} windows: {self.error}")
            return
        self.error = None
        self.metrics.inference.observe(time.perf_counter() - started)
        self.metrics.windows.inc(len(events))
        self.metrics.drop("window", "invalid", len(batch) - len(events))
        for ev in events:
            self.publish(ev, self.bundle)
