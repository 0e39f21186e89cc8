"""`sign` with the keys a user has at hand: encrypted EC keys (with --password), wrong passwords, RSA and Ed25519."""

import shutil

import pytest
from typer.testing import CliRunner

from flowfm_edge import runtimes
from flowfm_edge.cli import app

pytest.importorskip("model_signing", reason="needs the [signing] extra")
serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa  # noqa: E402

runner = CliRunner()


@pytest.fixture
def bundle(small_bundle, tmp_path):
    return shutil.copytree(small_bundle("nano-integrity-bundle", ["fp32"], ["encoder", "classifier"]),
                           tmp_path / "bundle")


def write_key(path, key, password=None):
    crypt = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, crypt))
    return path


def sign(bundle, key, *extra):
    res = runner.invoke(app, ["sign", str(bundle), "--key", str(key), *extra])
    return res.exit_code, " ".join(res.output.split()), res.output


def test_an_encrypted_key_signs_with_its_password(bundle, tmp_path):
    key = ec.generate_private_key(ec.SECP384R1())
    private = write_key(tmp_path / "key.pem", key, password="correct horse")
    public = tmp_path / "key.pub"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    code, text, raw = sign(bundle, private, "--password", "correct horse")
    assert code == 0, raw
    assert runtimes.load(bundle, trust=public).classes


@pytest.mark.parametrize("case, message", [
    ("wrong password", "cannot open the private key"),
    ("no password", "the private key is encrypted: pass its --password"),
    ("password for a plain key", "the private key is not encrypted: leave out --password"),
    ("rsa", "an RSA key; bundles are signed with an elliptic-curve key"),
    ("ed25519", "an Ed25519 key; bundles are signed with an elliptic-curve key"),
    ("garbage PEM", "cannot open the private key"),
])
def test_keys_that_cannot_sign_are_one_line(bundle, tmp_path, case, message):
    path = tmp_path / "key.pem"
    if case == "wrong password":
        write_key(path, ec.generate_private_key(ec.SECP256R1()), "right")
        extra = ["--password", "wrong"]
    elif case == "no password":
        write_key(path, ec.generate_private_key(ec.SECP256R1()), "right")
        extra = []
    elif case == "password for a plain key":
        write_key(path, ec.generate_private_key(ec.SECP256R1()))
        extra = ["--password", "x"]
    elif case == "rsa":
        write_key(path, rsa.generate_private_key(public_exponent=65537, key_size=2048))
        extra = []
    elif case == "ed25519":
        write_key(path, ed25519.Ed25519PrivateKey.generate())
        extra = []
    else:
        path.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
        extra = []
    code, text, raw = sign(bundle, path, *extra)
    assert code == 1 and text.startswith("error:") and str(path) in text and message in text, raw
    assert "Traceback" not in raw and not (bundle / "bundle.sig").exists()
