"""The gateway's MQTT side, with paho-mqtt (the ``[gateway]`` extra): session, delivery and status.

- **Session**: MQTT 5 with clean start off and a session expiry, or MQTT 3.1.1 with
  ``clean_session=False``: while the gateway is away (reconnecting, restarting) the broker
  keeps its subscriptions and queues what devices publish, and delivers it afterwards.
  paho reconnects by itself with an exponential backoff (``reconnect_min_s`` to ``reconnect_max_s``).
- **Delivery**: QoS 1 both ways. A sample message is acknowledged only after its samples
  are in their device's stream (paho's manual acknowledgement), and not at all once a stop
  has begun: the broker then redelivers it to the next run, so nothing falls between a
  stop and a start. Events are published at QoS 1; paho keeps and resends them across a
  reconnect; :meth:`MqttLink.wait_published` tells which the broker has not acknowledged.
- **Status**: ``online`` (retained) on every connect, ``offline`` (retained) at a graceful
  stop, and the same ``offline`` as the last will, so a dashboard sees a dead gateway.
- **TLS** (CA file, client certificate) and username/password.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Callable

from .gateway_config import LimitsTable, MqttTable


def paho():
    """The paho.mqtt.client module, or an ImportError naming the extra to install."""
    try:
        import paho.mqtt.client as mqtt
    except ImportError as exc:
        raise ImportError(f"the gateway needs paho-mqtt ({exc}); install it with: pip install 'flowfm-edge[gateway]'") \
            from None
    return mqtt


class MqttLink:
    """One paho client: subscribes the sample and control topics, publishes events and status.

    ``on_sample(topic, payload, arrived)`` runs in paho's network thread for every sample
    message while accepting; ``on_control(payload)`` for control messages; ``on_connect(first)``
    after each (re)connect.
    """

    def __init__(self, cfg: MqttTable, limits: LimitsTable, on_sample: Callable, on_control: Callable,
                 metrics, log=print, on_connect: Callable | None = None):
        mqtt = paho()
        from paho.mqtt.enums import CallbackAPIVersion

        self.cfg, self.metrics, self.log = cfg, metrics, log
        self.on_sample, self.on_control, self.on_connected = on_sample, on_control, on_connect
        self.v5 = cfg.protocol == "5"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id,
                                  clean_session=None if self.v5 else False,
                                  protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311, manual_ack=True)
        self.client.max_queued_messages_set(limits.max_queued_events)
        self.client.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_max_s)
        if cfg.username is not None:
            self.client.username_pw_set(cfg.username, cfg.secret())
        if cfg.tls:
            self.client.tls_set(ca_certs=_str(cfg.ca_file), certfile=_str(cfg.cert_file), keyfile=_str(cfg.key_file))
        self.status_topic, self.control_topic = cfg.topic(cfg.status), cfg.topic(cfg.control)
        self.client.will_set(self.status_topic, json.dumps({"state": "offline", "clean": False}), qos=1, retain=True)
        self.client.on_connect, self.client.on_disconnect = self._connected, self._disconnected
        self.client.on_message, self.client.on_publish = self._message, self._acknowledged
        self.accepting = True
        self.connected = self.closing = False
        self.connects = 0
        self.unacked: dict[int, tuple[str, str, bool]] = {}  # mid -> (topic, payload, is an event), not acknowledged
        self._early: set[int] = set()  # acknowledged before publish() returned its mid
        self._unacked_lock = threading.Lock()  # never held while calling paho: paho calls on_publish under its own lock
        self.max_payload = limits.max_payload_bytes
        self.status_body: dict = {}

    # ---- connection -----------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (retrying with backoff until the broker answers) and start paho's thread."""
        kwargs = {}
        if self.v5:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.cfg.session_expiry_s
            props.ReceiveMaximum = self.cfg.receive_maximum
            props.MaximumPacketSize = self.max_payload * 16 + 65536  # bigger ones never reach memory; smaller are counted
            kwargs = {"clean_start": False, "properties": props}
        self.client.connect_async(self.cfg.host, self.cfg.port, self.cfg.keepalive_s, **kwargs)
        self.client.loop_start()

    def _connected(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            self.log(f"broker {self.cfg.host}:{self.cfg.port} refused the connection: {reason}")
            return
        self.connected = True
        self.connects += 1
        self.metrics.connected.set(1)
        resumed = flags.session_present
        self.log(f"connected to {self.cfg.host}:{self.cfg.port} (MQTT {self.cfg.protocol}, "
                 f"{'session resumed' if resumed else 'new session'})")
        client.subscribe([(t, 1) for t in self.cfg.topics] + [(self.control_topic, 1)])
        self.publish(self.status_topic, json.dumps({**self.status_body, "state": "online"}), retain=True)
        if self.on_connected is not None:
            self.on_connected(self.connects == 1)

    def _disconnected(self, client, userdata, flags, reason, properties) -> None:
        if self.connected and not self.closing:
            self.log(f"disconnected from {self.cfg.host}:{self.cfg.port} ({reason}); reconnecting with backoff")
        self.connected = False
        self.metrics.connected.set(0)

    # ---- input ------------------------------------------------------------------------------
    def _message(self, client, userdata, msg) -> None:
        arrived = time.perf_counter()
        if msg.topic == self.control_topic:
            client.ack(msg.mid, msg.qos)
            self.on_control(msg.payload)
            return
        if not self.accepting:
            return  # a stop has begun: unacknowledged, the broker redelivers it to the next run
        try:
            self.on_sample(msg.topic, msg.payload, arrived)
        finally:
            client.ack(msg.mid, msg.qos)

    def pause(self) -> None:
        """Stop taking sample messages: those arriving from now on stay with the broker."""
        self.accepting = False

    # ---- output -----------------------------------------------------------------------------
    def publish(self, topic: str, payload: str, retain: bool = False, event: bool = False) -> bool:
        """Publish at QoS 1; False (dropped) when paho's queue holds ``max_queued_events`` already."""
        mqtt = paho()
        info = self.client.publish(topic, payload, qos=1, retain=retain)  # queued by paho while disconnected
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            return False
        with self._unacked_lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
                self.metrics.events.inc(event)
            else:
                self.unacked[info.mid] = (topic, payload, event)
            self.metrics.unacked.set(len(self.unacked))
        return True

    def _acknowledged(self, client, userdata, mid, reason, properties) -> None:
        with self._unacked_lock:
            entry = self.unacked.pop(mid, None)
            if entry is None:
                self._early.add(mid)
            elif entry[2]:
                self.metrics.events.inc()
            self.metrics.unacked.set(len(self.unacked))

    def wait_published(self, timeout: float) -> list[tuple[str, str]]:
        """Wait up to ``timeout`` s for the broker to acknowledge everything; returns (topic, payload) of the events
        it has not."""
        deadline = time.monotonic() + timeout
        while True:
            with self._unacked_lock:
                rest = list(self.unacked.values())
            if not rest or time.monotonic() >= deadline:
                return [(t, p) for t, p, event in rest if event]
            time.sleep(0.02)

    def status(self, body: dict) -> None:
        """Publish the retained status (``state`` online unless given); later connects repeat it."""
        self.status_body = {k: v for k, v in body.items() if k != "state"}
        self.publish(self.status_topic, json.dumps({"state": "online", **body}), retain=True)

    def close(self, body: dict, timeout: float = 5.0) -> None:
        """Publish ``offline`` (retained), wait for it, disconnect keeping the session, stop paho's thread."""
        self.publish(self.status_topic, json.dumps({**self.status_body, **body, "state": "offline", "clean": True}),
                     retain=True)
        if self.connected:
            self.wait_published(timeout)
        self.closing = True
        self.client.disconnect()
        self.client.loop_stop()
        self.metrics.connected.set(0)


def _str(path) -> str | None:
    return None if path is None else str(path)
