"""The gateway's parts without a broker: the payload parser (fuzzed), the typed config, the state file, and an
import path free of torch, scipy, scikit-learn and matplotlib."""

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowfm_edge.runtimes.gateway_config import load_config
from flowfm_edge.runtimes.gateway_payload import REASONS, PayloadError, device_from_topic, parse_payload
from flowfm_edge.runtimes.gateway_state import StateError, in_progress, load_state, save_state
from flowfm_edge.runtimes.stream import StreamConfig
from flowfm_edge.runtimes.stream_device import DeviceStream

T0 = 1_700_000_000.0


# ---- payloads -----------------------------------------------------------------------------------
def test_a_json_batch_and_its_senml_pack_give_the_same_samples(harness):
    t = T0 + np.arange(30) / 30
    xyz = harness.activity_signal(1, seed=0)
    batch = parse_payload(harness.batch_payload(t, xyz))
    pack = parse_payload(harness.senml_payload("wrist-7", t, xyz))
    np.testing.assert_array_equal(batch.t, t)
    np.testing.assert_array_equal(batch.xyz, xyz)
    np.testing.assert_allclose(pack.t, t, rtol=0, atol=1e-6)
    np.testing.assert_allclose(pack.xyz, xyz, rtol=1e-12)  # m/s2 back to g


def test_senml_base_fields_relative_times_and_missing_axes():
    pack = [{"bn": "urn:dev:w7:", "bt": 100.0, "bu": "m/s2", "bv": 9.80665, "n": "accX", "v": 0.0},
            {"n": "accY", "v": -9.80665}, {"n": "accZ", "v": 0.0, "t": 0.5}]
    s = parse_payload(json.dumps(pack).encode(), now=T0)
    assert s.t.tolist() == [T0 + 100.0, T0 + 100.5]  # below 2**28: seconds relative to now (RFC 8428)
    assert s.xyz[0, :2].tolist() == [1.0, 0.0] and math.isnan(s.xyz[0, 2])  # x and y at t, z only later
    assert s.xyz[1, 2] == pytest.approx(1.0) and np.isnan(s.xyz[1, :2]).all()


@pytest.mark.parametrize("payload, reason, words", [
    (b'{"t": [1], "x": [1], "y": [1], "z": [1], "u": "g"}' + b" " * 70_000, "oversize", "over the limit"),
    (b'{"t": [1, 2', "malformed", "Invalid JSON"),
    (b"\xff\xfe", "malformed", "neither a JSON batch"),
    (b"[" * 5000, "malformed", "recursion limit"),
    (b'{"t": ["1"], "x": [1], "y": [1], "z": [1]}', "wrong_type", "t.0: Input should be a valid number"),
    (b'{"t": [1], "x": [1], "y": [1]}', "wrong_type", "z: Field required"),
    (b'{"t": [1, 2], "x": [1], "y": [1, 2], "z": [1, 2]}', "wrong_type", "hold 2, 1, 2, 2 values"),
    (b'{"t": [1], "x": [1], "y": [1], "z": [1], "ts": 1}', "wrong_type", "ts: Extra inputs"),
    (b'[{"n": "x", "vb": true}]', "wrong_type", "no numeric value v"),
    (b'[{"n": "temp", "v": 1}]', "wrong_type", "does not end in x, y or z"),
    (b'[{"n": "x", "v": 1, "t": 0}, {"n": "x", "v": 2, "t": 0}]', "wrong_type", "same axis at the same time"),
    (b'[{"n": "x", "v": 1, "new_": 1}]', "wrong_type", "must be understood"),
    (b'[{"n": "x", "u": "g", "v": 1}]', "unknown_unit", "registers m/s2"),
    (b'{"t": [1], "x": [1], "y": [1], "z": [1], "u": "G"}', "unknown_unit", "use one of g"),
])
def test_bad_payloads_name_their_reason(payload, reason, words):
    with pytest.raises(PayloadError) as err:
        parse_payload(payload)
    assert err.value.reason == reason and words in str(err.value)


def test_nan_and_inf_pass_through_for_the_stream_to_count():
    s = parse_payload(b'{"t": [1, NaN, 3], "x": [NaN, 0, Infinity], "y": [0, 0, 0], "z": [1, 1, 1]}')
    assert np.isnan(s.t[1]) and np.isnan(s.xyz[0, 0]) and np.isinf(s.xyz[2, 0])


@pytest.mark.parametrize("topic, ok", [("wearables/wrist-7/acc", True), ("wearables/a.b:c_d-9/acc", True),
                                       ("wearables//acc", False), ("wearables/../acc", False),
                                       ("wearables/" + "a" * 65 + "/acc", False), ("wearables/w r/acc", False),
                                       ("wearables/\x1b[2J/acc", False), ("wearables/ü/acc", False)])
def test_device_ids_from_the_topic(topic, ok):
    if ok:
        assert device_from_topic(topic, "wearables/+/acc") == topic.split("/")[1]
    else:
        with pytest.raises(PayloadError) as err:
            device_from_topic(topic, "wearables/+/acc")
        assert err.value.reason == "bad_device_id" and "\x1b" not in str(err.value)


def _check(payload: bytes) -> None:
    try:
        s = parse_payload(payload, max_bytes=1 << 14, now=T0)
    except PayloadError as exc:
        assert exc.reason in REASONS and str(exc)
        return
    assert s.t.dtype == s.xyz.dtype == np.float64 and s.t.ndim == 1 and s.xyz.shape == (len(s.t), 3)


JSON = st.recursive(st.none() | st.booleans() | st.floats() | st.integers(-2 ** 70, 2 ** 70) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
                        st.sampled_from(["t", "x", "y", "z", "u", "n", "v", "bn", "bt", "bu", "bv", "vs", "q_"]),
                        inner, max_size=6), max_leaves=30)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_bytes_never_escape_as_anything_but_a_payload_error(payload):
    _check(payload)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_fuzz_json_shapes_never_escape_as_anything_but_a_payload_error(value):
    _check(json.dumps(value).encode())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(*[st.floats(allow_nan=True, allow_infinity=True)] * 4), max_size=40))
def test_fuzz_well_formed_batches_keep_every_value(rows):
    body = {k: [r[i] for r in rows] for i, k in enumerate("txyz")}
    s = parse_payload(json.dumps(body).encode())
    np.testing.assert_array_equal(s.t, np.array(body["t"], np.float64))
    np.testing.assert_array_equal(s.xyz, np.array([body["x"], body["y"], body["z"]], np.float64).T.reshape(-1, 3))


# ---- config -------------------------------------------------------------------------------------
def test_config_file_with_the_command_line_winning(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text('[model]\nbundle = "b"\n[mqtt]\nhost = "broker"\nport = 1884\nprotocol = "3.1.1"\n'
                    '[stream]\nhop_s = 2.5\n[limits]\nmax_devices = 7\n')
    cfg = load_config(path, {"mqtt": {"port": 1999}})
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.protocol) == ("broker", 1999, "3.1.1")
    assert cfg.stream.hop_s == 2.5 and cfg.limits.max_devices == 7
    assert cfg.stream_config().max_devices == 8 and cfg.stream_config().reorder_s == 0.0


@pytest.mark.parametrize("text, words", [
    ('[mqtt]\nprot = "5"\n', "field mqtt.prot: Extra inputs are not permitted"),
    ('[mqtt]\nport = 70000\n', "field mqtt.port: Input should be less than or equal to 65535 (got 70000)"),
    ('[mqtt]\ntopics = ["wearables/#"]\n', "must hold exactly one +"),
    ('[mqtt]\nevents = "out/activity"\n', "must contain {device}"),
    ('[mqtt]\nca_file = "/nonexistent.pem"\n', "ca_file /nonexistent.pem: no such file"),
    ('[stream]\nhop_s = 0.01\n', "hop 0.01 s is not a positive whole number"),
    ('[stream]\nunits = "furlong"\n', "units 'furlong'"),
    ('[mqtt\n', "not valid TOML"),
])
def test_config_errors_name_the_file_and_field(tmp_path, text, words):
    path = tmp_path / "gateway.toml"
    path.write_text('[model]\nbundle = "b"\n' + text if not text.startswith("[mqtt\n") else text)
    with pytest.raises(ValueError) as err:
        load_config(path)
    assert str(path) in str(err.value) and words in str(err.value)


def test_a_bundle_is_required():
    with pytest.raises(ValueError, match="no bundle: pass BUNDLE or set"):
        load_config(None, {})


# ---- the state file -----------------------------------------------------------------------------
def _feed(ds, t, v, chunk=45):
    out = []
    for i in range(0, len(t), chunk):
        out += ds.push(t[i:i + chunk], v[i:i + chunk])
    return out + ds.finish()


@pytest.mark.parametrize("rate", [30, 50, 100])  # 50 and 100 Hz: the anti-alias filter's tail is saved too
def test_a_saved_device_stream_continues_exactly(harness, tmp_path, rate):
    cfg = StreamConfig(reorder_s=0.3)
    xyz = harness.activity_signal(40, seed=1, rate=rate) * 9.80665  # m/s^2: the unit probe is saved too
    t = T0 + np.arange(len(xyz)) / rate
    whole = _feed(DeviceStream("d", cfg), t, xyz)
    cut = 23 * rate + 7
    first = DeviceStream("d", cfg)
    before = [w for i in range(0, cut, 45) for w in first.push(t[i:min(i + 45, cut)], xyz[i:min(i + 45, cut)])]
    assert in_progress(first) == 2
    info = save_state(tmp_path / "gw.state", {"d": first}, [("wearables/d/activity", '{"x": 1}')], cfg)
    assert info["windows_in_progress"] == 2 and not list(tmp_path.glob(".*tmp*"))
    saved = load_state(tmp_path / "gw.state", cfg)
    assert saved.outbox == [("wearables/d/activity", '{"x": 1}')]
    after = _feed(saved.devices["d"], t[cut:], xyz[cut:])
    resumed = before + after
    assert [(w.index, w.start) for w in resumed] == [(w.index, w.start) for w in whole]
    np.testing.assert_array_equal(np.stack([w.x for w in resumed]), np.stack([w.x for w in whole]))
    assert saved.devices["d"].stats.units == "m/s^2"


def test_state_from_other_settings_is_dropped_and_counted(tmp_path):
    cfg = StreamConfig()
    ds = DeviceStream("d", cfg)
    ds.push(T0 + np.arange(400) / 30, np.tile([0.0, 0.0, 1.0], (400, 1)))
    save_state(tmp_path / "gw.state", {"d": ds}, [], cfg)
    saved = load_state(tmp_path / "gw.state", StreamConfig(hop_s=2.5))
    assert saved.devices == {} and saved.dropped_devices == 1 and saved.dropped_windows == in_progress(ds) > 0


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_an_unreadable_state_file_is_refused_clearly(tmp_path, damage):
    cfg = StreamConfig()
    path = tmp_path / "gw.state"
    ds = DeviceStream("d", cfg)
    ds.push(T0 + np.arange(100) / 30, np.tile([0.0, 0.0, 1.0], (100, 1)))
    save_state(path, {"d": ds}, [], cfg)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 1000)
    else:  # a well-formed npz naming a class the loader does not know
        tree = {"version": 1, "info": {}, "stream": {}, "outbox": [],
                "devices": {"d": {"__object__": "Popen", "fields": {}}}}
        np.savez(open(path, "wb"), __tree__=np.frombuffer(json.dumps(tree).encode(), np.uint8))
    with pytest.raises(StateError, match=str(path)):
        load_state(path, cfg)


# ---- no heavy imports on the gateway's path -------------------------------------------------------
def test_the_gateway_imports_no_training_stack():
    code = textwrap.dedent("""
        import sys
        import flowfm_edge.runtimes.gateway, flowfm_edge.cli.main
        from flowfm_edge.cli.main import main
        try:
            main(["gateway", "--help"])
        except SystemExit:
            pass
        import paho.mqtt.client, prometheus_client  # imported lazily by the gateway: load them too
        heavy = [m for m in ("torch", "scipy", "sklearn", "matplotlib") if m in sys.modules]
        print("HEAVY", heavy)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "HEAVY []" in res.stdout, res.stdout[-500:]


def test_stream_prints_progress_lines_on_stderr_without_a_terminal(harness, gateway_bundle, tmp_path):
    csv = tmp_path / "s.csv"
    csv.write_text(harness.csv_of({"a": harness.activity_signal(30, seed=0), "b": harness.activity_signal(30, seed=1)}))
    env = {**os.environ, "PYTHONPATH": str(harness.REPO), "FLOWFM_EDGE_PROGRESS_S": "0"}
    res = subprocess.run([sys.executable, "-m", "flowfm_edge", "stream", str(gateway_bundle), "-i", str(csv)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == 2 * 5  # the events stay alone on stdout
    last = res.stderr.splitlines()[-1]
    assert last.startswith("stream 0:00:") and "lines 1,800 windows 10 devices 0 malformed 0" in last


# ---- deployment files ---------------------------------------------------------------------------
def test_the_example_config_loads_and_names_every_setting(harness):
    from flowfm_edge.runtimes.gateway_config import GatewayConfig

    path = harness.REPO / "deploy" / "gateway.toml"
    cfg = load_config(path)
    assert cfg.state.path.name == "gateway.state" and cfg.mqtt.topics == ["wearables/+/acc"]
    text = path.read_text()
    for table, field in GatewayConfig.model_fields.items():
        assert f"[{table}]" in text
        for key in field.annotation.model_fields:
            assert f"{key} = " in text, f"deploy/gateway.toml does not show [{table}] {key}"


def test_the_systemd_unit_verifies(harness, tmp_path):
    import shutil

    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (the unit is checked where systemd is)")
    unit = (harness.REPO / "deploy" / "flowfm-edge-gateway.service").read_text()
    assert "ExecStart=/opt/flowfm-edge/bin/python -m flowfm_edge gateway --config" in unit
    copy = tmp_path / "flowfm-edge-gateway.service"  # the same unit, run by this interpreter (it exists here)
    copy.write_text(unit.replace("/opt/flowfm-edge/bin/python", sys.executable))
    res = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr


# ---- the stream's hole wait (MQTT resends behind newer messages) -------------------------------------
@pytest.mark.parametrize("hole_wait_s, split", [(0.0, True), (5.0, False)])
def test_a_late_chunk_fills_its_hole_when_the_stream_waits_for_it(harness, hole_wait_s, split):
    cfg = StreamConfig(reorder_s=0.0, hole_wait_s=hole_wait_s)
    xyz = harness.activity_signal(40, seed=2)
    t = T0 + np.arange(len(xyz)) / 30
    order = list(range(40))
    order[18], order[19] = 19, 18  # second 18 comes after second 19, as after a reconnect
    ds = DeviceStream("d", cfg)
    windows = [w for s in order for w in ds.push(t[s * 30:(s + 1) * 30], xyz[s * 30:(s + 1) * 30])] + ds.finish()
    whole = _feed(DeviceStream("d", StreamConfig(reorder_s=0.0)), t, xyz, chunk=30)
    if split:
        assert [w.start for w in windows] != [w.start for w in whole]
        assert ds.stats.segments > 1 or ds.stats.clock_resets > 0
    else:
        assert [(w.index, w.start) for w in windows] == [(w.index, w.start) for w in whole]
        np.testing.assert_array_equal(np.stack([w.x for w in windows]), np.stack([w.x for w in whole]))
        assert ds.stats.segments == 1 and ds.stats.dropped == 0 and ds.stats.reordered == 30


def test_without_holes_nothing_waits(harness):
    cfg = StreamConfig(reorder_s=0.0, hole_wait_s=5.0)
    xyz = harness.activity_signal(20, seed=3)
    t = T0 + np.arange(len(xyz)) / 30
    ds = DeviceStream("d", cfg)
    got = [len(ds.push(t[s * 30:(s + 1) * 30], xyz[s * 30:(s + 1) * 30])) for s in range(20)]
    assert got[9] == 1 and got[14] == 1 and got[19] == 1  # each window as soon as its last second arrives
    ds.push(t[-1] + 3 + np.arange(30) / 30, xyz[:30])  # a real 3 s gap: held until 5 s of newer samples
    assert len(ds.pending_t) == 30 and ds.stats.segments == 1
    for k in range(1, 6):
        ds.push(t[-1] + 3 + k + np.arange(30) / 30, xyz[:30])
    assert ds.stats.segments == 2 and ds.stats.gaps == 1 and len(ds.pending_t) == 0


@pytest.mark.parametrize("missing", ["paho", "prometheus_client"])
def test_a_missing_gateway_extra_is_named_in_one_line(gateway_bundle, tmp_path, missing):
    code = (f"import sys; sys.modules[{missing!r}] = None\n"
            "from flowfm_edge.cli.main import main\nmain(sys.argv[1:])\n")
    res = subprocess.run([sys.executable, "-c", code, "gateway", str(gateway_bundle), "--metrics-port", "0"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "install it with: pip install 'flowfm-edge[gateway]'" in " ".join(res.stderr.split())
