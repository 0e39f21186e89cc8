"""The gateway against a Mosquitto that wants TLS, a client certificate and a password: served with the right
credentials, refused (and unhealthy, saying why) with a wrong password."""

import datetime
import ipaddress
import shutil
import subprocess
import time

import pytest


def pki(folder):
    """A CA, a server certificate for localhost / 127.0.0.1 and a client certificate, as PEM files in ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def cert(cn, key, issuer, issuer_key, ca=False, san=None):
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(issuer).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    def write(stem, key, crt):
        (folder / f"{stem}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                              serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()))
        (folder / f"{stem}.pem").write_bytes(crt.public_bytes(serialization.Encoding.PEM))

    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = cert("flowfm test CA", ca_key, name("flowfm test CA"), ca_key, ca=True)
    write("ca", ca_key, ca)
    for stem, san in (("server", [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                      ("client", None)):
        key = ec.generate_private_key(ec.SECP256R1())
        write(stem, key, cert(stem, key, ca.subject, ca_key, san=san))
    return folder


def test_tls_client_certificate_and_password(harness, gateway_bundle, tmp_path):
    harness.need_mosquitto()
    pytest.importorskip("paho.mqtt", reason="needs the [gateway] extra: pip install 'flowfm-edge[gateway]'")
    pytest.importorskip("cryptography", reason="needs the [dev] extra (cryptography) to make test certificates")
    passwd_tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    if not shutil.which(passwd_tool):
        pytest.skip("needs mosquitto_passwd (Debian package mosquitto)")
    certs = pki(tmp_path / "pki")
    passwd = tmp_path / "passwd"
    subprocess.run([passwd_tool, "-c", "-b", str(passwd), "gateway", "s3cret"], check=True, capture_output=True)
    subprocess.run([passwd_tool, "-b", str(passwd), "tester", "t3ster"], check=True, capture_output=True)
    broker = harness.Broker(tmp_path / "broker", extra=(
        f"cafile {certs / 'ca.pem'}", f"certfile {certs / 'server.pem'}", f"keyfile {certs / 'server.key'}",
        "require_certificate true", "allow_anonymous false", f"password_file {passwd}")).start()
    tls = {"ca_certs": str(certs / "ca.pem"), "certfile": str(certs / "client.pem"), "keyfile": str(certs / "client.key")}
    args = ["--ca-file", str(certs / "ca.pem"), "--cert-file", str(certs / "client.pem"), "--key-file",
            str(certs / "client.key"), "--username", "gateway"]
    try:
        wrong = harness.GatewayProcess(gateway_bundle, broker.port, tmp_path / "wrong", *args,
                                       env={"FLOWFM_EDGE_MQTT_PASSWORD": "guess"}).start(ready=False)
        deadline = time.monotonic() + 30
        while "refused the connection" not in wrong.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        status, body = wrong.health()
        wrong.kill()
        assert "refused the connection: Not authorized" in wrong.log()
        assert status == 503 and body["broker_connected"] is False and body["status"] == "unhealthy"

        collector = harness.Collector(broker.port, tls=tls, auth=("tester", "t3ster"))
        gw = harness.GatewayProcess(gateway_bundle, broker.port, tmp_path / "gw", *args,
                                    env={"FLOWFM_EDGE_MQTT_PASSWORD": "s3cret"}).start()
        pub = harness.Publisher(broker.port, tls=tls, auth=("tester", "t3ster"))
        pub.seconds({"wrist-0": harness.activity_signal(30, seed=5)}, 0, 30)
        events = collector.wait_events(5)
        assert gw.term() == 0
        assert [e["window"] for e in events] == [0, 1, 2, 3, 4]
        collector.close()
        pub.close()
    finally:
        broker.stop()
