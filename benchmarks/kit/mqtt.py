"""A real Mosquitto, the gateway as a process, simulated wearables and an event collector.

Shared by the gateway tests and ``benchmarks.perf.gateway_mqtt``. Nothing here stands in for the broker: it
is the mosquitto binary (Debian package ``mosquitto``), started on a free loopback port.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from .program import CHECKOUT as REPO
from .program import command

T0 = 1_700_000_000.0


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
                                              if os.access(p, os.X_OK)), None)


def need_mosquitto() -> str:
    """The broker binary; in a test, skips it where the binary is absent (fails in CI, where ``.ci/run`` installs it)."""
    import pytest

    path = mosquitto_binary()
    if path is None:
        reason = "needs the MQTT broker from the Debian package mosquitto (apt-get install mosquitto)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI installs it in .ci/run")
        pytest.skip(reason)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """Mosquitto on a free loopback port, persistence on in ``folder``; restartable with its queued messages."""

    def __init__(self, folder: Path, port: int | None = None, extra: tuple[str, ...] = ("allow_anonymous true",)):
        self.binary = mosquitto_binary()
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.conf = self.folder / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", *extra, "persistence true",
                 f"persistence_location {self.folder}/", "max_queued_messages 1000000", "max_inflight_messages 100",
                 f"log_dest file {self.folder}/mosquitto.log"]
        if os.geteuid() == 0:  # as root mosquitto would switch to the user "mosquitto", who cannot write here
            lines.append(f"user {getpass.getuser()}")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Broker":
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()  # (a TLS port too)
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"mosquitto exited: {self.log()[-500:]}")
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not open its port in 10 s")

    def stop(self) -> None:
        """A graceful stop: mosquitto saves its sessions and queued messages."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)

    def restart(self, down_s: float = 0.5) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()

    def log(self) -> str:
        p = self.folder / "mosquitto.log"
        return p.read_text(errors="replace") if p.is_file() else ""


def client(port: int, client_id: str, persistent: bool = True, protocol: str = "5", tls: dict | None = None,
           auth: tuple[str, str] | None = None):
    """A connected paho client with its network thread running (``tls``: paho's tls_set arguments)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    v5 = protocol == "5"
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                    clean_session=None if v5 else not persistent)
    c.reconnect_delay_set(1, 2)
    c.max_inflight_messages_set(100)
    if tls:
        c.tls_set(**tls)
    if auth:
        c.username_pw_set(*auth)
    kwargs = {}
    if v5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600 if persistent else 0
        kwargs = {"clean_start": not persistent, "properties": props}
    ready = threading.Event()
    c.on_connect = lambda *a: ready.set()
    c.connect("127.0.0.1", port, 30, **kwargs)
    c.loop_start()
    if not ready.wait(10):
        raise RuntimeError(f"client {client_id} could not connect to port {port}")
    return c


class Collector:
    """Subscribes to events (and statuses) on a persistent session; keeps every message in arrival order."""

    def __init__(self, port: int, topics=("wearables/+/activity", "flowfm-edge/+/status"), client_id="collector",
                 **connect):
        self.messages: list[tuple[str, dict | str, float]] = []
        self.redelivered: list[tuple[str, dict | str]] = []  # the broker's resends (DUP flag): QoS 1 is at least once
        self.lock = threading.Lock()
        self.c = client(port, client_id, **connect)
        self.c.on_message = self._message
        subscribed = threading.Event()
        self.c.on_subscribe = lambda *a: subscribed.set()
        self.c.subscribe([(t, 1) for t in topics])
        subscribed.wait(10)

    def _message(self, c, userdata, msg) -> None:
        now = time.time()
        try:
            body = json.loads(msg.payload)
        except ValueError:
            body = msg.payload.decode(errors="replace")
        with self.lock:
            self.messages.append((msg.topic, body, now))
            if msg.dup:
                self.redelivered.append((msg.topic, body))

    def events(self) -> list[dict]:
        with self.lock:
            return [b for t, b, _ in self.messages if t.endswith("/activity")]

    def statuses(self) -> list[dict]:
        with self.lock:
            return [b for t, b, _ in self.messages if t.endswith("/status")]

    def wait_events(self, n: int, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.events()) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.events()

    def wait_status(self, predicate, timeout: float = 30.0) -> dict | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hit = next((s for s in self.statuses() if isinstance(s, dict) and predicate(s)), None)
            if hit is not None:
                return hit
            time.sleep(0.05)
        return None

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


class GatewayProcess:
    """``python -m flowfm_edge gateway`` (torch, scipy, scikit-learn and matplotlib blocked) against
    ``port``, or the ``gateway`` command of an installed ``flowfm-edge`` (``program``, run as installed: no
    PYTHONPATH); its output kept in ``folder/gateway.<run>.err``."""

    def __init__(self, bundle: Path, port: int, folder: Path, *args: str, env: dict | None = None,
                 program: str | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.metrics_port = free_port()
        self.state = self.folder / "gateway.state"
        # the torch-free entry point with the training stack made unimportable: every gateway test shows it runs without
        self.cmd = [*([program] if program else command("flowfm_edge", torch_free=True)), "gateway",
                    str(bundle), "--port", str(port), "--client-id", "gw-test", "--state", str(self.state),
                    "--metrics-port", str(self.metrics_port), *args]
        base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} if program else \
            {**os.environ, "PYTHONPATH": str(REPO)}
        self.env = {**base, "FLOWFM_EDGE_PROGRESS_S": "2", **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.runs = 0

    def start(self, ready: bool = True) -> "GatewayProcess":
        self.runs += 1
        self.err = open(self.folder / f"gateway.{self.runs}.err", "w")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self.err, stderr=subprocess.STDOUT, cwd=self.folder)
        if ready:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=1) as r:
                    return json.loads(r.read())
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gateway not healthy in {timeout} s: {self.log()[-2000:]}")

    def health(self) -> tuple[int, dict]:
        """(HTTP status, body) of /healthz: 200 while connected and inferring, else 503."""
        import urllib.error

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=2) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def metrics(self) -> dict[str, float]:
        """{"name{label=value,...}": value} of every sample on /metrics."""
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        out = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
        return out

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))

    def term(self, timeout: float = 60.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def hup(self) -> None:
        self.proc.send_signal(signal.SIGHUP)

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.folder.glob("gateway.*.err")))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


# ---- simulated wearables ---------------------------------------------------------------------------
def activity_signal(seconds: int, seed: int, rate: int = 30) -> np.ndarray:
    """(seconds * rate, 3) g: 10 s stretches of still, walking (1.8 Hz) and running (2.8 Hz), gravity on z."""
    rng = np.random.default_rng(seed)
    n = seconds * rate
    t = np.arange(n) / rate
    kind = rng.integers(0, 3, size=seconds // 10 + 1)[(t // 10).astype(int)]
    f, amp = np.array([0.0, 1.8, 2.8])[kind], np.array([0.0, 0.3, 0.8])[kind]
    phase = rng.uniform(0, 2 * np.pi)
    xyz = np.stack([amp * np.sin(2 * np.pi * f * t + phase), 0.5 * amp * np.cos(2 * np.pi * f * t + phase),
                    np.ones(n)], 1)
    return xyz + 0.02 * rng.standard_normal((n, 3))


def batch_payload(t: np.ndarray, xyz: np.ndarray) -> bytes:
    return json.dumps({"t": t.tolist(), "x": xyz[:, 0].tolist(), "y": xyz[:, 1].tolist(),
                       "z": xyz[:, 2].tolist()}).encode()


def senml_payload(device: str, t: np.ndarray, xyz: np.ndarray) -> bytes:
    """The same samples as a SenML pack: base name and time once, x/y/z records per sample, unit m/s2."""
    records = []
    for i, ti in enumerate(t):
        for a, axis in enumerate("xyz"):
            r = {"n": axis, "u": "m/s2", "v": float(xyz[i, a]) * 9.80665, "t": float(ti - t[0])}
            if i == 0 and a == 0:
                r.update(bn=f"urn:dev:{device}:acc", bt=float(t[0]))
            records.append(r)
    return json.dumps(records).encode()


class Publisher:
    """Simulated wearables on one persistent paho session; :meth:`flush` waits until the broker acknowledged all."""

    def __init__(self, port: int, client_id: str = "devices", protocol: str = "5", **connect):
        self.sent = self.acked = 0
        self.lock = threading.Lock()
        self.c = client(port, client_id, protocol=protocol, **connect)
        self.c.on_publish = self._acked
        self.times: dict[tuple[str, int], float] = {}  # (device, second) -> time.time() of its publish

    def _acked(self, *args) -> None:
        with self.lock:
            self.acked += 1

    def publish(self, topic: str, body: bytes) -> None:
        with self.lock:
            self.sent += 1
        self.c.publish(topic, body, qos=1)  # paho queues it while the broker is away and resends it later

    def flush(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.acked < self.sent:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the broker acknowledged {self.acked} of {self.sent} messages in {timeout} s")
            time.sleep(0.02)

    def seconds(self, devices: dict[str, np.ndarray], first: int, last: int, rate: int = 30, senml=(),
                topic: str = "wearables/{device}/acc", flush: bool = True) -> None:
        """Publish seconds ``first``..``last - 1`` of every device's signal, one message per device and second."""
        for s in range(first, last):
            for device, xyz in devices.items():
                rows = slice(s * rate, (s + 1) * rate)
                t = T0 + np.arange(s * rate, (s + 1) * rate) / rate
                body = senml_payload(device, t, xyz[rows]) if device in senml else batch_payload(t, xyz[rows])
                self.times[device, s] = time.time()
                self.publish(topic.format(device=device), body)
        if flush:
            self.flush()

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def csv_of(devices: dict[str, np.ndarray], rate: int = 30) -> str:
    """The same samples as ``device,timestamp,x,y,z`` lines for ``flowfm-edge stream``."""
    rows = []
    for device, xyz in devices.items():
        t = T0 + np.arange(len(xyz)) / rate
        rows += [f"{device},{ti!r},{v[0]!r},{v[1]!r},{v[2]!r}" for ti, v in zip(t.tolist(), xyz.tolist())]
    return "\n".join(rows) + "\n"


def window_ids(events: list[dict]) -> list[tuple[str, float]]:
    """(device, start) of each event, sorted: a window's identity, stable across gateway restarts."""
    return sorted((e["device"], round(e["start"], 3)) for e in events)
