"""The MQTT gateway's Prometheus metrics and its HTTP endpoint: ``/metrics`` and ``/healthz``.

Every metric lives in the gateway's own registry (prometheus-client, the ``[gateway]``
extra), named ``flowfm_gateway_*``:

- ``messages_received_total``, ``samples_received_total``, ``windows_inferred_total``, ``events_published_total``;
- ``drops_total{what, reason}``: ``what`` is ``message`` (oversize, malformed, wrong_type,
  unknown_unit, bad_device_id, device_limit, control, error), ``sample`` (nan, bad_time, late,
  duplicate: the stream's own counts), ``window`` (queue_full, invalid, error, restart: saved
  with other stream settings) or ``event`` (publish_queue_full);
- ``devices_active``, ``windows_queued``, ``events_unacknowledged``, ``broker_connected``;
- ``inference_seconds`` (one batch) and ``latency_seconds`` (from the arrival of the message
  that completed a window to the publish of its event) histograms;
- ``bundle_info{id, sha256, path}`` and ``bundle_updates_total{result}``.

``/healthz`` answers 200 with a JSON body while the broker is connected and the inference
thread lives, 503 (with the reason) otherwise.
"""

from __future__ import annotations

import json
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def prometheus():
    """The prometheus_client module, or an ImportError naming the extra to install."""
    try:
        import prometheus_client
    except ImportError as exc:
        raise ImportError(f"the gateway needs prometheus-client ({exc}); install it with: "
                          "pip install 'flowfm-edge[gateway]'") from None
    return prometheus_client


class Metrics:
    """The gateway's counters, gauges and histograms in one registry (see the module docstring)."""

    def __init__(self):
        pc = prometheus()
        self.registry = r = pc.CollectorRegistry()
        p = "flowfm_gateway_"
        self.messages = pc.Counter(p + "messages_received", "MQTT messages received on the sample topics", registry=r)
        self.samples = pc.Counter(p + "samples_received", "Samples received (in accepted payloads)", registry=r)
        self.windows = pc.Counter(p + "windows_inferred", "Windows classified (events made)", registry=r)
        self.events = pc.Counter(p + "events_published", "Events the broker acknowledged", registry=r)
        self.drops = pc.Counter(p + "drops", "What was dropped, by kind (message, sample, window, event) and reason",
                                ["what", "reason"], registry=r)
        self.devices = pc.Gauge(p + "devices_active", "Devices with a stream in memory", registry=r)
        self.queued = pc.Gauge(p + "windows_queued", "Windows waiting for inference", registry=r)
        self.unacked = pc.Gauge(p + "events_unacknowledged", "Events published but not yet acknowledged", registry=r)
        self.connected = pc.Gauge(p + "broker_connected", "1 while connected to the broker", registry=r)
        self.inference = pc.Histogram(p + "inference_seconds", "Wall time of one inference batch",
                                      buckets=LATENCY_BUCKETS, registry=r)
        self.latency = pc.Histogram(p + "latency_seconds", "From the arrival of the message completing a window to "
                                    "the publish of its event", buckets=LATENCY_BUCKETS, registry=r)
        self.bundle = pc.Info(p + "bundle", "The bundle serving now", registry=r)
        self.updates = pc.Counter(p + "bundle_updates", "Hot updates, by result (accepted, refused)", ["result"],
                                  registry=r)
        self.lost = pc.Gauge(p + "windows_lost_at_start", "Windows the previous run lost (killed without draining), "
                             "at most; 0 after a graceful stop", registry=r)

    def drop(self, what: str, reason: str, n: int = 1) -> None:
        if n:
            self.drops.labels(what, reason).inc(n)

    def value(self, name: str, **labels) -> float:
        """A sample's current value (tests, status lines): ``value("flowfm_gateway_drops_total", what=..., reason=...)``."""
        v = self.registry.get_sample_value(name, labels or None)
        return 0.0 if v is None else v

    def drop_counts(self) -> dict[str, float]:
        """{"what/reason": count} of every drop so far."""
        out = {}
        for metric in self.drops.collect():
            for s in metric.samples:
                if s.name.endswith("_total"):
                    out[f"{s.labels['what']}/{s.labels['reason']}"] = s.value
        return out


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # scrapes every few seconds would flood the journal
        pass


def serve(metrics: Metrics, health, host: str, port: int):
    """Serve ``/metrics`` and ``/healthz`` (``health()`` -> (ok, dict)) on ``host:port`` in a daemon thread; returns
    the server (``server.server_port`` is the port bound, ``server.shutdown()`` stops it)."""
    metrics_app = prometheus().make_wsgi_app(metrics.registry)

    def app(environ, start_response):
        if environ.get("PATH_INFO") in ("/healthz", "/health"):
            ok, body = health()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]
        if environ.get("PATH_INFO") in ("/metrics", "/"):
            return metrics_app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics or /healthz\n"]

    try:
        server = make_server(host, port, app, server_class=_Server, handler_class=_Quiet)
    except OSError as exc:
        raise OSError(f"metrics endpoint {host}:{port}: {exc.strerror or exc}; choose another [metrics] port "
                      "(0 turns it off)") from None
    threading.Thread(target=server.serve_forever, name="flowfm-metrics", daemon=True).start()
    return server
