"""Hostile traffic against the gateway through a real Mosquitto: every bad message counted under its reason, no
crash, memory bounded through a flood of 10,000 device ids, and the honest device still served exactly."""

import json
import time

import numpy as np

LIMIT = 4096  # --max-payload-bytes
MAX_DEVICES = 100

MALFORMED = [b'{"t": [1, 2', b"not json", b"\xff\xfe\x00", b"[" * 3000, b"", b"42", b"null"]
WRONG_TYPE = [b'{"t": ["a"], "x": [1], "y": [1], "z": [1]}', b'{"t": [1], "x": [1], "y": [1]}',
              b'{"t": 5, "x": 1, "y": 1, "z": 1}', b'{"t": [1, 2], "x": [1], "y": [1, 2], "z": [1, 2]}',
              b'{"t": [true], "x": [1], "y": [1], "z": [1]}', b'[{"n": "x", "v": "1"}]', b'[{"n": "x", "vb": true}]',
              b'[{"n": "speed", "v": 1}]', b'[{"n": "x", "v": 1, "ext_": 2}]', b"[1, 2, 3]"]
UNKNOWN_UNIT = [b'[{"n": "x", "u": "g", "v": 1}]', b'[{"bu": "Cel", "n": "x", "v": 21.5}]',
                b'{"t": [1], "x": [1], "y": [1], "z": [1], "u": "furlong"}']
# (control characters never get this far: Mosquitto disconnects a client that puts them in a topic)
BAD_IDS = ["<script>", "a" * 100, "..", "-lead", "wr ist", "", "w\u00fcrst", "x';DROP"]


def wait_for(gw, name, value, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gw.metrics().get(name, 0) >= value:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} did not reach {value}: {gw.metrics().get(name)}; {gw.log()[-1500:]}")


def test_hostile_payloads_are_counted_and_the_gateway_serves_on(harness, broker, gateway_bundle, tmp_path):
    collector = harness.Collector(broker.port)
    gw = harness.GatewayProcess(gateway_bundle, broker.port, tmp_path / "gw", "--max-devices", str(MAX_DEVICES),
                                "--max-payload-bytes", str(LIMIT)).start()
    pub = harness.Publisher(broker.port)
    honest = {"wrist-0": harness.activity_signal(60, seed=3)}
    try:
        pub.seconds(honest, 0, 30)
        noisy = harness.activity_signal(30, seed=4)
        nan_rows = np.arange(5, 900, 60)
        noisy[nan_rows, 1] = np.nan
        pub.seconds({"nan-dev": noisy}, 0, 30)
        topic = "wearables/evil/acc"
        for body in MALFORMED + WRONG_TYPE + UNKNOWN_UNIT:
            pub.publish(topic, body)
        t = harness.T0 + np.arange(200) / 30
        big = harness.batch_payload(t, np.ones((200, 3)))
        assert LIMIT < len(big) < 16 * LIMIT
        pub.publish(topic, big)  # over the limit: refused and counted
        for device in BAD_IDS:
            pub.publish(f"wearables/{device}/acc", harness.batch_payload(t[:30], np.ones((30, 3))))
        pub.publish("flowfm-edge/gw-test/control", b"{not json")
        pub.flush()
        counted = len(MALFORMED) + len(WRONG_TYPE) + len(UNKNOWN_UNIT) + 1 + len(BAD_IDS)
        wait_for(gw, "flowfm_gateway_messages_received_total", 60 + counted)
        rss_before = gw.rss_mb()
        one = harness.batch_payload(t[:1], np.ones((1, 3)))
        for i in range(10_000):  # a flood of device ids
            pub.publish(f"wearables/flood-{i:05d}/acc", one)
        pub.flush()
        wait_for(gw, "flowfm_gateway_messages_received_total", 60 + counted + 10_000)
        rss_after = gw.rss_mb()
        pub.seconds(honest, 30, 60)
        events = collector.wait_events(11)
        health = gw.wait_healthy()
        metrics = gw.metrics()
        assert gw.term() == 0
    finally:
        gw.stop()

    def drops(what, reason):
        return metrics.get(f"flowfm_gateway_drops_total{{reason={reason},what={what}}}", 0)

    assert drops("message", "malformed") == len(MALFORMED)
    assert drops("message", "wrong_type") == len(WRONG_TYPE)
    assert drops("message", "unknown_unit") == len(UNKNOWN_UNIT)
    assert drops("message", "oversize") == 1
    assert drops("message", "bad_device_id") == len(BAD_IDS)
    assert drops("message", "control") == 1
    assert drops("sample", "nan") == len(nan_rows)
    assert drops("message", "device_limit") == 10_000 - (MAX_DEVICES - 2)  # wrist-0 and nan-dev held two places
    assert health["devices_active"] == MAX_DEVICES and health["status"] == "ok"
    assert rss_after - rss_before < 25, (rss_before, rss_after)  # MB: bounded by --max-devices
    mine = sorted((e for e in events if e["device"] == "wrist-0"), key=lambda e: e["start"])
    assert [e["window"] for e in mine] == list(range(11))  # the honest device lost nothing
    refused = [s for s in collector.statuses() if isinstance(s, dict) and (s.get("update") or {}).get("result")]
    assert refused and "control message not understood" in refused[-1]["update"]["reason"]
    log = gw.log()
    assert "\x1b" not in log and "Traceback" not in log
    collector.close()
    pub.close()


def test_an_oversize_message_on_mqtt_3_is_counted_in_bounded_memory(harness, broker, gateway_bundle, tmp_path):
    """MQTT 3.1.1 has no maximum packet size: a 2 MB payload reaches the gateway, which counts and drops it."""
    gw = harness.GatewayProcess(gateway_bundle, broker.port, tmp_path / "gw", "--protocol", "3.1.1").start()
    pub = harness.Publisher(broker.port, protocol="3.1.1")
    try:
        body = json.dumps({"t": [0.0] * 400_000}).encode()
        pub.publish("wearables/big/acc", body)
        pub.flush()
        wait_for(gw, "flowfm_gateway_drops_total{reason=oversize,what=message}", 1)
        assert gw.wait_healthy()["status"] == "ok"
        assert gw.term() == 0
    finally:
        gw.stop()
    pub.close()
