"""Signed hot updates through a real Mosquitto: a tampered or an unsigned bundle is refused with its reason while
the old one keeps serving; a good one takes over between two batches and no window is lost."""

import json
import shutil
import time

import pytest


def key_pair(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = tmp_path / "key.pem", tmp_path / "key.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def variant(source, out, note: str):
    """A copy of ``source`` whose manifest differs by a note: another bundle id, the same graphs."""
    shutil.copytree(source, out)
    (out / "bundle.sig").unlink(missing_ok=True)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["note"] = note
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out


def test_refused_updates_keep_the_old_bundle_and_a_good_one_takes_over(harness, broker, gateway_bundle, tmp_path):
    pytest.importorskip("model_signing", reason="needs the [signing] extra")
    from flowfm_edge.bundle.signing import sign_bundle

    private, public = key_pair(tmp_path)
    old = variant(gateway_bundle, tmp_path / "v1", "v1")
    sign_bundle(old, private)
    new = variant(gateway_bundle, tmp_path / "v2", "v2")
    sign_bundle(new, private)
    tampered = variant(gateway_bundle, tmp_path / "v3", "v3")
    sign_bundle(tampered, private)
    onnx = sorted((tampered / "onnx").glob("classifier.*.onnx"))[0]
    onnx.write_bytes(onnx.read_bytes()[:-1] + bytes([onnx.read_bytes()[-1] ^ 1]))  # one bit
    unsigned = variant(gateway_bundle, tmp_path / "v4", "v4")
    config = tmp_path / "gateway.toml"
    config.write_text(f'[model]\nbundle = "{old}"\n')

    devices = {f"wrist-{k}": harness.activity_signal(60, seed=40 + k) for k in range(2)}
    collector = harness.Collector(broker.port)
    gw = harness.GatewayProcess(old, broker.port, tmp_path / "gw", "--trust", str(public))
    gw.cmd.remove(str(old))  # the bundle comes from --config, so SIGHUP re-reads it there
    gw.cmd += ["--config", str(config)]
    gw.start()
    pub = harness.Publisher(broker.port)
    control = "flowfm-edge/gw-test/control"

    def updates(n):
        """The first ``n`` update results the retained status reported (waiting for them)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            seen = [s["update"] for s in collector.statuses() if isinstance(s, dict) and s.get("update")]
            if len(seen) >= n:
                return seen[:n]
            time.sleep(0.05)
        raise AssertionError(f"{n} updates not reported: {gw.log()[-1500:]}")

    try:
        pub.seconds(devices, 0, 20)
        pub.publish(control, json.dumps({"update": str(tampered)}).encode())
        pub.flush()
        updates(1)
        pub.seconds(devices, 20, 30)
        config.write_text(f'[model]\nbundle = "{unsigned}"\n')
        gw.hup()
        updates(2)
        pub.seconds(devices, 30, 40, flush=False)  # windows keep flowing while the good bundle is checked
        pub.publish(control, json.dumps({"update": str(new)}).encode())
        seen = updates(3)
        pub.seconds(devices, 40, 60)
        events = collector.wait_events(2 * 11)
        metrics = gw.metrics()
        assert gw.term() == 0
    finally:
        gw.stop()
    tampered_refusal, unsigned_refusal, accepted = seen[:3]
    assert tampered_refusal["result"] == "refused" and "sha256 mismatch" in tampered_refusal["reason"]
    assert tampered_refusal["source"] == "control topic" and onnx.name in tampered_refusal["reason"]
    assert unsigned_refusal["result"] == "refused" and "unsigned" in unsigned_refusal["reason"]
    assert unsigned_refusal["source"] == "SIGHUP"
    assert accepted["result"] == "accepted" and accepted["bundle"] == str(new.resolve())
    assert metrics["flowfm_gateway_bundle_updates_total{result=refused}"] == 2
    assert metrics["flowfm_gateway_bundle_updates_total{result=accepted}"] == 1
    # every window exactly once, before and after the swap; each event names the bundle that made it
    assert harness.window_ids(events) == sorted((d, round(harness.T0 + 5 * k, 3)) for d in devices for k in range(11))
    ids = [e["bundle"]["id"] for e in events]  # in the order published: the swap falls between two batches
    first_new = ids.index(next(i for i in ids if i != ids[0]))
    assert ids[:first_new] == [ids[0]] * first_new and set(ids[first_new:]) == {ids[-1]} and ids[0] != ids[-1]
    assert first_new >= 2 * 3  # windows of the first 20 s came from the old bundle, through both refusals
    assert "keeps serving" in gw.log() and "now serving" in gw.log()
    collector.close()
    pub.close()
