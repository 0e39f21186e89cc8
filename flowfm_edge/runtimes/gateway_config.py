"""The MQTT gateway's typed configuration: a ``gateway.toml`` that ``--config`` reads, flags winning over it.

Every table and key is optional; unknown ones are refused with the file and field named, so
a typo never passes silently. ``deploy/gateway.toml`` is a commented example of every key::

    [model]                          # the bundle and how it runs
    bundle = "/var/lib/flowfm-edge/bundle"
    trust = "/etc/flowfm-edge/trusted_key.pem"    # then only bundles signed by its holder load
    [mqtt]                           # broker, session, TLS, auth and topics
    host = "localhost"
    topics = ["wearables/+/acc"]     # the + level is the device id
    [stream]                         # flowfm_edge.runtimes.stream.StreamConfig fields
    hop_s = 5.0
    [limits]                         # what a hostile or runaway sender can cost
    max_devices = 5000
    [state]                          # the file a graceful stop saves, read back at the next start
    path = "/var/lib/flowfm-edge/gateway.state"
    [metrics]                        # Prometheus /metrics and /healthz
    port = 9108

>>> cfg = load_config(None, {"model": {"bundle": "bundles/tiny"}, "mqtt": {"port": 1884}})
>>> cfg.mqtt.port, cfg.mqtt.topics, cfg.stream.hop_s
(1884, ['wearables/+/acc'], 5.0)
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .stream import StreamConfig

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ModelTable(_Table):
    bundle: Optional[Path] = None  # required in the end: the file or the command line
    backend: str = "onnxruntime"
    precision: str = "auto"  # int8 when the bundle has it, else fp32
    threads: Optional[int] = Field(default=None, ge=1)
    trust: Optional[Path] = None  # public key (PEM); default $FLOWFM_EDGE_TRUST_KEY or the configured file
    embed: bool = False  # also publish r


def _default_client_id() -> str:
    return "flowfm-edge-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname())[:40]


class MqttTable(_Table):
    host: str = "localhost"
    port: int = Field(default=1883, ge=1, le=65535)
    protocol: Literal["5", "3.1.1"] = "5"
    client_id: str = Field(default_factory=_default_client_id, min_length=1, max_length=64)
    username: Optional[str] = None
    password: Optional[str] = None  # prefer password_file or $FLOWFM_EDGE_MQTT_PASSWORD: a file's mode can hide it
    password_file: Optional[Path] = None
    tls: bool = False  # on by itself when ca_file or cert_file is set
    ca_file: Optional[Path] = None
    cert_file: Optional[Path] = None  # client certificate (PEM)
    key_file: Optional[Path] = None
    keepalive_s: int = Field(default=30, ge=5, le=65535)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=1)  # how long the broker keeps our session offline
    reconnect_min_s: int = Field(default=1, ge=1)
    reconnect_max_s: int = Field(default=60, ge=1)
    receive_maximum: int = Field(default=64, ge=1, le=65535)  # MQTT 5: unacknowledged messages the broker may send
    topics: list[str] = Field(default_factory=lambda: ["wearables/+/acc"], min_length=1)
    events: str = "wearables/{device}/activity"
    status: str = "flowfm-edge/{client_id}/status"
    control: str = "flowfm-edge/{client_id}/control"

    @field_validator("topics")
    @classmethod
    def _one_device_level(cls, topics: list[str]) -> list[str]:
        for t in topics:
            levels = t.split("/")
            if levels.count("+") != 1 or "#" in t:
                raise ValueError(f"sample topic {t!r} must hold exactly one + (the device id level) and no #")
        return topics

    @field_validator("events")
    @classmethod
    def _device_field(cls, events: str) -> str:
        if "{device}" not in events or any(c in events for c in "+#"):
            raise ValueError(f"event topic {events!r} must contain {{device}} and no wildcard")
        return events

    @model_validator(mode="after")
    def _checks(self) -> "MqttTable":
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(f"reconnect_max_s {self.reconnect_max_s} is below reconnect_min_s {self.reconnect_min_s}")
        if self.password is not None and self.password_file is not None:
            raise ValueError("password and password_file both set: give one")
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file without cert_file: give the client certificate too")
        for name in ("ca_file", "cert_file", "key_file", "password_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {path}: no such file")
        self.tls = self.tls or self.ca_file is not None or self.cert_file is not None
        return self

    def topic(self, template: str) -> str:
        """The status or control topic with ``{client_id}`` filled in."""
        return template.replace("{client_id}", self.client_id)

    def secret(self) -> Optional[str]:
        """The password: ``password``, else the first line of ``password_file``, else ``$FLOWFM_EDGE_MQTT_PASSWORD``."""
        import os

        if self.password_file is not None:
            return self.password_file.read_text().splitlines()[0] if self.password_file.stat().st_size else ""
        return self.password if self.password is not None else os.environ.get("FLOWFM_EDGE_MQTT_PASSWORD")


class StreamTable(_Table):
    """The stream engine's settings; see :class:`~flowfm_edge.runtimes.stream.StreamConfig`."""

    hop_s: float = 5.0
    batch_size: int = Field(default=16, ge=1)
    max_delay_s: float = Field(default=0.05, ge=0)
    gap_s: float = Field(default=1.0, ge=0)
    gap_policy: Literal["split", "pad"] = "split"
    max_pad_s: float = Field(default=5.0, ge=0)
    reorder_s: float = Field(default=0.0, ge=0)  # MQTT keeps each device's messages in order: no wait needed...
    hole_wait_s: float = Field(default=5.0, ge=0)  # ...except resends after a reconnect: a hole waits this long to fill
    units: str = "auto"
    idle_s: float = Field(default=300.0, ge=0)

    def stream_config(self, embed: bool, max_devices: int) -> StreamConfig:
        cfg = StreamConfig(**self.model_dump(), embed=embed, max_devices=max_devices + 1)  # the gateway refuses first
        cfg.check()
        return cfg


class LimitsTable(_Table):
    max_payload_bytes: int = Field(default=65536, ge=64)
    max_devices: int = Field(default=5000, ge=1)  # new device ids beyond it are refused (counted) until one expires
    max_queued_windows: int = Field(default=2048, ge=1)  # windows waiting for inference; the oldest go first
    max_queued_events: int = Field(default=20000, ge=1)  # events waiting for the broker; then new ones are dropped


class StateTable(_Table):
    path: Path = Path("flowfm-edge-gateway.state")
    heartbeat_s: float = Field(default=5.0, gt=0)  # how often the run marker records what a kill -9 would lose
    drain_timeout_s: float = Field(default=20.0, ge=0)  # how long a stop waits for the broker to take the last events


class MetricsTable(_Table):
    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=0, le=65535)  # 0: no metrics endpoint
    progress_s: Optional[float] = Field(default=None, ge=0)  # plain status line period (default $FLOWFM_EDGE_PROGRESS_S or 30)


class GatewayConfig(_Table):
    model: ModelTable = Field(default_factory=ModelTable)
    mqtt: MqttTable = Field(default_factory=MqttTable)
    stream: StreamTable = Field(default_factory=StreamTable)
    limits: LimitsTable = Field(default_factory=LimitsTable)
    state: StateTable = Field(default_factory=StateTable)
    metrics: MetricsTable = Field(default_factory=MetricsTable)

    def stream_config(self) -> StreamConfig:
        return self.stream.stream_config(self.model.embed, self.limits.max_devices)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(path: str | Path | None, overrides: dict | None = None) -> GatewayConfig:
    """Defaults < the TOML file at ``path`` < ``overrides`` (the command line's options, None left out)."""
    raw: dict = {}
    source = "gateway options"
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"--config {path}: no such file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from None
    raw = _merge(raw, overrides or {})
    try:
        cfg = GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        secret = "password" in field
        given = f" (got {err['input']!r})" if err["type"] not in ("extra_forbidden", "missing") and not isinstance(
            err["input"], dict) and not secret else ""
        more = f"; and {exc.error_count() - 1} more" if exc.error_count() > 1 else ""
        raise ValueError(f"{source}: field {field}: {err['msg']}{given}{more}") from None
    if cfg.model.bundle is None:
        raise ValueError(f"{source}: no bundle: pass BUNDLE or set [model] bundle")
    try:
        cfg.stream_config()
    except ValueError as exc:
        raise ValueError(f"{source}: [stream] {exc}") from None
    return cfg
