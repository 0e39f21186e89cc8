"""The ``gateway`` command: a bundle served to wearables over MQTT, every setting from options or a gateway.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import cli_errors


def _opt(help: str, *names: str, **kw):
    return typer.Option(None, *names, help=help, show_default=False, **kw)


@cli_errors
def gateway(
    bundle: Optional[Path] = typer.Argument(None, help="Bundle directory with a classifier graph (or \\[model] bundle in --config)."),
    config: Optional[Path] = _opt("gateway.toml: every setting below and more (deploy/gateway.toml).", "--config"),
    host: Optional[str] = _opt("Broker host (default localhost).", "--host"),
    port: Optional[int] = _opt("Broker port (default 1883).", "--port"),
    protocol: Optional[str] = _opt("MQTT version: 5 or 3.1.1 (default 5).", "--protocol"),
    client_id: Optional[str] = _opt("MQTT client id; keep it fixed, the broker keeps the session by it "
                                    "(default flowfm-edge-HOSTNAME).", "--client-id"),
    username: Optional[str] = _opt("Broker user name; the password from --password-file or "
                                   "$FLOWFM_EDGE_MQTT_PASSWORD.", "--username"),
    password_file: Optional[Path] = _opt("File whose first line is the broker password.", "--password-file"),
    ca_file: Optional[Path] = _opt("CA certificate (PEM) to verify the broker with; turns TLS on.", "--ca-file"),
    cert_file: Optional[Path] = _opt("Client certificate (PEM) for brokers that want one; turns TLS on.", "--cert-file"),
    key_file: Optional[Path] = _opt("The client certificate's private key (PEM).", "--key-file"),
    topic: Optional[list[str]] = _opt("Sample topic with one + for the device id (repeat for several) "
                                      "(default wearables/+/acc).", "--topic"),
    events: Optional[str] = _opt("Event topic, {device} filled in (default wearables/{device}/activity).", "--events"),
    hop: Optional[float] = _opt("Seconds between window starts (default 5).", "--hop"),
    batch_size: Optional[int] = _opt("Windows per inference call, across devices (default 16).", "--batch-size"),
    embed: Optional[bool] = _opt("Also publish each window's r (default no).", "--embed/--no-embed"),
    backend: Optional[str] = _opt("Runtime backend (default onnxruntime).", "--backend"),
    precision: Optional[str] = _opt("Artefact precision: auto, fp32, int8 (default auto).", "--precision"),
    threads: Optional[int] = _opt("Inference threads (default the backend's).", "--threads"),
    trust: Optional[Path] = _opt("Public key (PEM): only bundles signed by its holder load, at start and at "
                                 "updates.", "--trust"),
    state: Optional[Path] = _opt("State file saved at SIGTERM and read back at start "
                                 "(default flowfm-edge-gateway.state).", "--state"),
    metrics_port: Optional[int] = _opt("Port of /metrics and /healthz; 0: none (default 9108).", "--metrics-port"),
    metrics_host: Optional[str] = _opt("Address the metrics endpoint listens on (default 127.0.0.1).", "--metrics-host"),
    max_devices: Optional[int] = _opt("Devices held at once; new ids beyond it are refused and counted (default 5000).",
                                      "--max-devices"),
    max_payload_bytes: Optional[int] = _opt("Larger payloads are refused and counted (default 65536).", "--max-payload-bytes"),
    units: Optional[str] = _opt("Sample units: auto, g, m/s^2, mg (default auto).", "--units"),
):
    """Serve a bundle to wearables over MQTT: samples in through a broker, one activity event per 10 s window out.

    Subscribes to wearables/+/acc (the + level is the device id) and takes JSON batches {"t": [...], "x": [...], "y": [...], "z": [...]} (seconds; g, m/s^2 or mg, detected) or SenML packs (RFC 8428). Publishes each window's label and probabilities, with the bundle's id and sha256, to wearables/{device}/activity. QoS 1 both ways on a persistent session: nothing is lost while the gateway reconnects or restarts.

    SIGTERM drains: queued windows are finished, device buffers saved to the --state file and read back at the next start. SIGHUP, or {"update": "/path/to/bundle"} on the control topic, verifies a new bundle (sha256, signature with --trust, golden checks) and swaps it in; a failing one is refused and the old one serves on. Prometheus /metrics and /healthz on --metrics-port.

    Every option can come from --config gateway.toml (deploy/gateway.toml lists them all); options given here win.

    Example: flowfm-edge gateway bundles/tiny --host broker.local --state /var/lib/flowfm-edge/gateway.state
    """
    from ..runtimes.gateway import run_gateway
    from ..runtimes.gateway_config import load_config

    given = {
        "model": {"bundle": bundle, "backend": backend, "precision": precision, "threads": threads, "trust": trust,
                  "embed": embed},
        "mqtt": {"host": host, "port": port, "protocol": protocol, "client_id": client_id, "username": username,
                 "password_file": password_file, "ca_file": ca_file, "cert_file": cert_file, "key_file": key_file,
                 "topics": topic or None, "events": events},
        "stream": {"hop_s": hop, "batch_size": batch_size, "units": units},
        "limits": {"max_devices": max_devices, "max_payload_bytes": max_payload_bytes},
        "state": {"path": state},
        "metrics": {"port": metrics_port, "host": metrics_host},
    }
    overrides = {t: {k: v for k, v in kv.items() if v is not None} for t, kv in given.items()}
    overrides = {t: kv for t, kv in overrides.items() if kv}
    cfg = load_config(config, overrides)
    run_gateway(cfg, config, overrides)
