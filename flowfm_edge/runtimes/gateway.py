"""The MQTT gateway: wearables' samples in through a broker, one labelled event per window back out.

``flowfm-edge gateway BUNDLE`` (or ``python -m flowfm_edge gateway``, without torch)
runs :func:`run_gateway`. The pieces: :mod:`.gateway_config` (typed settings, ``gateway.toml``),
:mod:`.gateway_payload` (JSON batches and SenML packs), :mod:`.gateway_mqtt` (paho-mqtt:
session, QoS 1, status and last will), :mod:`.gateway_engine` (device streams, bounded
window queue, inference thread), :mod:`.gateway_state` (what survives a restart) and
:mod:`.gateway_metrics` (Prometheus ``/metrics``, ``/healthz``).

Lifecycle:

- **start**: verify the bundle (sha256 of every file, the signature when a trust key is set,
  its golden checks); read back the state file of a graceful stop (device buffers, unsent
  events), or report what a killed run lost (its run marker); connect and subscribe.
- **SIGTERM / SIGINT**: drain: stop taking samples (the broker keeps the rest for the next
  run), infer every queued window, wait for the broker to acknowledge the events, save each
  device's stream and the events still unacknowledged to the state file, publish ``offline``.
- **SIGHUP**, or ``{"update": "/path/to/bundle"}`` on the control topic: verify that bundle
  like at start, then swap it in between two batches; a bundle that fails is refused with
  a status message naming why, and the old one keeps serving.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..bundle.manifest import sha256

from ..bundle.schema import BundleError
from ..progress import ProgressLine, every_s
from .gateway_config import GatewayConfig, load_config
from .gateway_engine import Engine
from .gateway_metrics import Metrics, serve
from .gateway_mqtt import MqttLink, paho
from .gateway_payload import PayloadError, device_from_topic, parse_payload
from .gateway_state import (StateError, clear_marker, in_progress, load_state, read_marker, save_state,
                            windows_per_device, write_marker)
from .stream import GatewayStream, check_runtime, load_runtime


def log_line(message: str) -> None:
    """One plain line on stderr (the journal under systemd)."""
    print(f"flowfm-edge gateway: {message}", file=sys.stderr, flush=True)


def prepare_bundle(path: str | Path, cfg: GatewayConfig):
    """Verify the bundle at ``path`` and load it: (runtime, {"id", "sha256", "path"}); raises BundleError naming why not."""
    from .validate import validate_bundle

    path = Path(path)
    m = cfg.model
    runtime = load_runtime(path, m.backend, m.precision, m.threads, trust=m.trust)  # checks every sha256, the signature
    graphs = ["classifier"] + (["encoder"] if m.embed else [])
    report = validate_bundle(path, backend=m.backend, threads=m.threads, trust=m.trust,
                             only={(g, runtime.precision) for g in graphs})  # the golden checks of what will run
    if not report["passed"]:
        reasons = list(report["files"]) + [
            f"golden check {c.get('artefact', 'prior')} {c.get('precision', '')}: {c.get('metric', 'error')} "
            f"{c.get('value', float('nan')):.3g} over {c.get('tolerance', float('nan')):.3g}"
            for c in report["checks"] if not c.get("passed")]
        raise BundleError(f"{path}: refused: {'; '.join(reasons[:3]) or 'no golden check ran'}")
    check_runtime(runtime, cfg.stream_config())
    digest = sha256(path / "manifest.json")
    model = runtime.manifest.get("model", {})
    info = {"id": f"{model.get('name', 'bundle')}-{model.get('preset', '')}-{digest[:12]}", "sha256": digest,
            "path": str(path.resolve()), "precision": runtime.precision}
    return runtime, info


class Gateway:
    """One gateway process; see the module docstring. ``config_path``/``overrides`` are re-read on SIGHUP."""

    def __init__(self, cfg: GatewayConfig, config_path: str | Path | None = None, overrides: dict | None = None,
                 log=log_line):
        self.cfg, self.config_path, self.overrides, self.log = cfg, config_path, overrides or {}, log
        paho()  # both extras first: a missing one fails at once, naming the install
        self.metrics = Metrics()
        self._lock_state()
        runtime, self.bundle = prepare_bundle(cfg.model.bundle, cfg)
        self.stream = GatewayStream(runtime, cfg.stream_config())
        self.engine = Engine(self.stream, self.bundle, self.metrics, self._publish_event, cfg.limits.max_devices,
                             cfg.limits.max_queued_windows, on_swap=self._swapped, log=log)
        self.link = MqttLink(cfg.mqtt, cfg.limits, self._on_sample, self._on_control, self.metrics, log,
                             on_connect=self._on_connect)
        self.metrics.bundle.info({k: str(v) for k, v in self.bundle.items()})
        self.updates = ThreadPoolExecutor(1, thread_name_prefix="flowfm-update")
        self.server = None
        self.outbox: list[tuple[str, str]] = []
        self.previous: dict = {}
        self.lost = 0  # windows the previous run lost, at most
        self.last_update: dict | None = None
        self.started = time.time()
        self._beat = 0.0
        self.progress = ProgressLine("gateway", file=sys.stderr,
                                     every=cfg.metrics.progress_s if cfg.metrics.progress_s is not None else every_s())

    def _lock_state(self) -> None:
        path = Path(self.cfg.state.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lockfile = open(path.with_name(path.name + ".lock"), "w")
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"{path}: another gateway runs with this state file; give each its own "
                               "[state] path") from None

    # ---- start ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._restore()
        self._heartbeat(force=True)
        if self.cfg.metrics.port:
            self.server = serve(self.metrics, self.health, self.cfg.metrics.host, self.cfg.metrics.port)
            self.log(f"metrics on http://{self.cfg.metrics.host}:{self.server.server_port}/metrics and /healthz")
        self.engine.start()
        self.link.status(self._status())
        self.link.start()
        self.log(f"serving {self.bundle['id']} ({self.bundle['precision']}) from {self.bundle['path']}; "
                 f"topics {', '.join(self.cfg.mqtt.topics)} -> {self.cfg.mqtt.events}")

    def _restore(self) -> None:
        state, cfg = Path(self.cfg.state.path), self.stream.cfg
        marker = read_marker(state)
        saved = None
        if state.is_file():
            try:
                saved = load_state(state, cfg)
            except StateError as exc:
                aside = state.with_name(state.name + f".unreadable-{int(time.time())}")
                state.rename(aside)
                self.log(f"{exc}; moved to {aside}: its windows in progress are lost")
                self.previous["state_unreadable"] = str(aside)
        if marker is not None and (saved is None or saved.info.get("saved", 0) < marker.get("heartbeat", 0)):
            devices, queued, unacked = (int(marker.get(k, 0)) for k in ("devices_active", "windows_queued",
                                                                           "events_unacked"))
            lost = devices * windows_per_device(cfg) + queued + unacked
            self.lost += lost
            self.metrics.lost.set(self.lost)
            self.previous.update(clean=False, lost_windows_at_most=lost, heartbeat=marker.get("heartbeat"))
            self.log(f"the previous run (pid {marker.get('pid', '?')}) stopped without draining (killed or crashed): "
                     f"at most {lost} windows lost: the windows in progress ({devices} devices x at most "
                     f"{windows_per_device(cfg)}), {queued} queued for inference and {unacked} events unacknowledged "
                     f"at its last heartbeat, {time.time() - marker.get('heartbeat', time.time()):.0f} s ago")
        if saved is None:
            return
        with self.engine.lock:
            for device, stream in saved.devices.items():
                self.stream.devices[device] = stream
                self.stream.last_seen[device] = self.stream.clock()
        self.outbox = saved.outbox
        self.lost += saved.dropped_windows
        self.metrics.lost.set(self.lost)
        self.metrics.drop("window", "restart", saved.dropped_windows)
        self.previous.update(clean=self.previous.get("clean", True), restored_devices=len(saved.devices),
                             restored_events=len(saved.outbox))
        self.log(f"restored {len(saved.devices)} devices ({saved.info.get('windows_in_progress', 0)} windows in "
                 f"progress) and {len(saved.outbox)} unsent events from {state}"
                 + (f"; {saved.dropped_devices} devices saved with other stream settings were dropped "
                    f"({saved.dropped_windows} windows in progress lost)" if saved.dropped_devices else ""))
        state.unlink()  # consumed: a later kill must not bring these buffers back

    def _on_connect(self, first: bool) -> None:
        outbox, self.outbox = self.outbox, []
        for topic, payload in outbox:
            self.link.publish(topic, payload, event=True)

    # ---- samples and events --------------------------------------------------------------------
    def _pattern(self, topic: str) -> str:
        from paho.mqtt.client import topic_matches_sub

        return next((p for p in self.cfg.mqtt.topics if topic_matches_sub(p, topic)), self.cfg.mqtt.topics[0])

    def _on_sample(self, topic: str, payload: bytes, arrived: float) -> None:
        self.metrics.messages.inc()
        try:
            device = device_from_topic(topic, self._pattern(topic))
            samples = parse_payload(payload, self.cfg.limits.max_payload_bytes, now=time.time())
            if not self.engine.ingest(device, samples.t, samples.xyz, arrived):
                self.metrics.drop("message", "device_limit")
                return
        except PayloadError as exc:
            self.metrics.drop("message", exc.reason)
            return
        except Exception as exc:  # noqa: BLE001 - one bad message must never stop paho's network thread
            self.metrics.drop("message", "error")
            self.log(f"message on {topic[:80]!r} failed: {type(exc).__name__}: {str(exc)[:200]}")
            return
        self.metrics.samples.inc(len(samples.t))

    def _publish_event(self, ev, bundle: dict) -> None:
        body = ev.to_dict(self.stream.classes)
        body.pop("latency_ms", None)
        if "embedding" in body:
            body["r"] = body.pop("embedding")
        body["bundle"] = {"id": bundle["id"], "sha256": bundle["sha256"]}
        topic = self.cfg.mqtt.events.replace("{device}", ev.device)
        if not self.link.publish(topic, json.dumps(body, separators=(",", ":")), event=True):
            self.metrics.drop("event", "publish_queue_full")
        self.metrics.latency.observe(time.perf_counter() - ev.arrived)

    # ---- hot updates ---------------------------------------------------------------------------
    def _on_control(self, payload: bytes) -> None:
        try:
            body = json.loads(payload)
            path = body.get("update") if isinstance(body, dict) else None
            if not isinstance(path, str) or not path:
                raise ValueError('expected {"update": "/path/to/bundle"}')
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            self.metrics.drop("message", "control")
            self._refused("(none)", f"control message not understood: {str(exc)[:200]}", "control topic")
            return
        self.request_update(path, "control topic")

    def request_update(self, path: str | Path | None = None, source: str = "SIGHUP") -> None:
        """Verify and swap in the bundle at ``path`` (default: the configured one, re-read) in the background."""
        try:
            self.updates.submit(self._update, path, source)
        except RuntimeError:  # the executor is shut down: a stop has begun
            self.log(f"update from {source} ignored: the gateway is stopping")

    def _update(self, path, source: str) -> None:
        try:
            if path is None:
                path = load_config(self.config_path, self.overrides).model.bundle
            runtime, info = prepare_bundle(path, self.cfg)
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with the new bundle, the old one serves on
            self._refused(str(path), str(exc), source)
            return
        self.log(f"update from {source}: {info['id']} verified; it takes over between two batches")
        self.engine.request_swap(runtime, info)

    def _refused(self, path: str, reason: str, source: str) -> None:
        self.metrics.updates.labels("refused").inc()
        self.last_update = {"result": "refused", "bundle": path, "reason": reason, "source": source,
                            "time": time.time()}
        self.log(f"update from {source} refused, {self.bundle['id']} keeps serving: {reason}")
        self.link.status(self._status())

    def _swapped(self, bundle: dict, old: dict) -> None:
        self.bundle = bundle
        self.metrics.updates.labels("accepted").inc()
        self.metrics.bundle.info({k: str(v) for k, v in bundle.items()})
        self.last_update = {"result": "accepted", "bundle": bundle["path"], "replaced": old["id"], "time": time.time()}
        self.log(f"now serving {bundle['id']} (was {old['id']})")
        self.link.status(self._status())

    # ---- running -------------------------------------------------------------------------------
    def _status(self) -> dict:
        return {"client_id": self.cfg.mqtt.client_id, "pid": os.getpid(), "since": self.started,
                "bundle": {k: self.bundle[k] for k in ("id", "sha256")}, "previous_run": self.previous,
                "update": self.last_update}

    def health(self) -> tuple[bool, dict]:
        ok = self.link.connected and self.engine.thread.is_alive() and self.engine.error is None
        body = {"status": "ok" if ok else "unhealthy", "broker_connected": self.link.connected,
                "inference_thread": self.engine.thread.is_alive(), "inference_error": self.engine.error,
                "bundle": self.bundle["id"], "devices_active": len(self.stream.devices),
                "windows_queued": len(self.engine.queue)}
        return ok, body

    def tick(self) -> None:
        """Housekeeping, called every second or so: idle devices, the run marker, the progress line."""
        self.engine.expire_idle()
        self._heartbeat()
        self.progress.update(**self._figures())

    def _figures(self) -> dict:
        m = self.metrics
        return {"messages": int(m.value("flowfm_gateway_messages_received_total")),
                "windows": int(m.value("flowfm_gateway_windows_inferred_total")),
                "devices": len(self.stream.devices), "queued": len(self.engine.queue),
                "unacked": len(self.link.unacked), "drops": int(sum(m.drop_counts().values())),
                "broker": "connected" if self.link.connected else "reconnecting"}

    def _heartbeat(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._beat < self.cfg.state.heartbeat_s:
            return
        self._beat = now
        with self.engine.lock:
            progress = sum(in_progress(s) for s in self.stream.devices.values())
            devices = len(self.stream.devices)
        write_marker(self.cfg.state.path, started=self.started, devices_active=devices, windows_in_progress=progress,
                     windows_queued=len(self.engine.queue), events_unacked=len(self.link.unacked))

    def drain(self) -> dict:
        """The graceful stop (see the module docstring); returns what the state file holds."""
        self.log("stopping: finishing queued windows and saving device buffers")
        self.link.pause()
        with self.engine.lock:  # the message being taken in finishes first
            pass
        self.updates.shutdown(wait=True)
        self.engine.stop()
        unsent = self.link.wait_published(self.cfg.state.drain_timeout_s) if self.link.connected else \
            self.link.wait_published(0)
        with self.engine.lock:
            info = save_state(self.cfg.state.path, dict(self.stream.devices), unsent + self.outbox,
                              self.stream.cfg, self.bundle)
        self.link.close({"saved": info})
        clear_marker(self.cfg.state.path)
        if self.server is not None:
            self.server.shutdown()
        self.progress.update(**self._figures())
        self.progress.print()
        self.log(f"stopped: {info['devices']} devices ({info['windows_in_progress']} windows in progress) and "
                 f"{info['outbox']} unacknowledged events saved to {self.cfg.state.path}")
        return info


def run_gateway(cfg: GatewayConfig, config_path: str | Path | None = None, overrides: dict | None = None,
                tick_s: float = 1.0) -> dict:
    """Run until SIGTERM or SIGINT, then drain; SIGHUP re-reads the bundle path and hot-updates."""
    gw = Gateway(cfg, config_path, overrides)
    stop, hup = threading.Event(), threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: hup.set())
    try:
        gw.start()
        while not stop.wait(tick_s):
            if hup.is_set():
                hup.clear()
                gw.request_update(None, "SIGHUP")
            gw.tick()
        return gw.drain()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
