"""Fixtures of the MQTT gateway tests: a real Mosquitto per test, the harness, the nano stream bundle."""

import pytest

from benchmarks.kit import mqtt as harness_module


@pytest.fixture
def harness():
    return harness_module


@pytest.fixture
def broker(tmp_path):
    """Mosquitto on a free loopback port with persistence in tmp_path/broker; skips without the mosquitto package."""
    harness_module.need_mosquitto()
    pytest.importorskip("paho.mqtt", reason="needs the [gateway] extra: pip install 'flowfm-edge[gateway]'")
    pytest.importorskip("prometheus_client", reason="needs the [gateway] extra: pip install 'flowfm-edge[gateway]'")
    b = harness_module.Broker(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def gateway_bundle(small_bundle):
    """Encoder + classifier of the nano run, FP32 and static INT8 (the stream tests' bundle)."""
    return small_bundle("nano-stream-bundle", ["fp32", "int8"], ["encoder", "classifier"])
