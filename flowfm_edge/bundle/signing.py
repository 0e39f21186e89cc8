"""Signed bundles: an OpenSSF ``model-signing`` signature over the manifest and every file.

``sign_bundle`` writes ``BUNDLE/bundle.sig``: a Sigstore bundle (DSSE envelope, in-toto
statement) holding the sha256 of every file in the directory, signed offline with an
elliptic-curve private key (PEM; P-256, P-384 or P-521, encrypted ones with their password). The key
is opened and its type checked first, so an RSA or Ed25519 key or a wrong password is one error
naming the key. ``verify_bundle`` re-hashes the directory and checks it
against the signature with the public key: a modified manifest, weight, golden file, an
added or a removed file all fail. Which key to trust comes from ``--trust PUBKEY``, else
``$FLOWFM_EDGE_TRUST_KEY``, else ``~/.config/flowfm-edge/trusted_key.pem``; once a key is
trusted, an unsigned bundle is refused too. Needs the ``[signing]`` extra.

>>> sign_bundle("bundle", "key.pem")                  # doctest: +SKIP
>>> verify_bundle("bundle", "key.pub")                 # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

from .manifest import check_files, read_manifest

from .schema import BundleError

SIGNATURE = "bundle.sig"
TRUST_ENV = "FLOWFM_EDGE_TRUST_KEY"


def _model_signing():
    try:
        import model_signing
    except ImportError as exc:
        raise ImportError(f"signed bundles need the model-signing library ({exc}); "
                          "install it with: pip install 'flowfm-edge[signing]'") from None
    return model_signing


def _hashing(ms):
    # the signature file is the only path left out; .git and every other file are covered
    return ms.hashing.Config().set_ignored_paths(paths=[SIGNATURE], ignore_git_paths=False)


def _key_file(path: str | Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    head = path.read_bytes()[:64]
    if b"-----BEGIN" not in head:
        raise BundleError(f"{path}: not a PEM {what} (no '-----BEGIN' line); make a key pair with "
                          "`openssl ecparam -name prime256v1 -genkey -noout -out key.pem && "
                          "openssl ec -in key.pem -pubout -out key.pub`")
    return path


EC_SIZES = (256, 384, 521)  # the curves model-signing signs with: P-256, P-384, P-521


def _ec_private_key(key: Path, password: str | None) -> bytes | None:
    """The password as bytes, after checking that ``key`` opens with it and is an elliptic-curve key."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    secret = None if password is None else password.encode()
    try:
        loaded = serialization.load_pem_private_key(key.read_bytes(), secret)
    except TypeError:  # cryptography: a password for a plain key, or none for an encrypted one
        need = "is encrypted: pass its --password" if password is None else "is not encrypted: leave out --password"
        raise BundleError(f"{key}: the private key {need}") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise BundleError(f"{key}: cannot open the private key ({_short(str(exc), 160)}); a wrong --password, or "
                          "not a PEM private key") from None
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        kind = type(loaded).__name__.removeprefix("_").replace("PrivateKey", "")
        raise BundleError(f"{key}: an {kind} key; bundles are signed with an elliptic-curve key (P-256, P-384 or "
                          "P-521), e.g. `openssl ecparam -name prime256v1 -genkey -noout -out key.pem`")
    if loaded.curve.key_size not in EC_SIZES:
        raise BundleError(f"{key}: an elliptic-curve key on {loaded.curve.name}; model-signing signs with P-256, "
                          "P-384 or P-521")
    return secret


def sign_bundle(bundle: str | Path, key: str | Path, password: str | None = None) -> Path:
    """Sign ``bundle`` with the EC private key ``key`` (PEM); returns the signature path. Refuses a tampered bundle."""
    bundle = Path(bundle)
    ms = _model_signing()
    check_files(bundle, read_manifest(bundle))
    key = _key_file(key, "private key")
    secret = _ec_private_key(key, password)
    signature = bundle / SIGNATURE
    try:  # model-signing hands the password to cryptography, which takes bytes
        ms.signing.Config().use_elliptic_key_signer(private_key=key, password=secret).set_hashing_config(
            _hashing(ms)).sign(bundle, signature)
    except (ValueError, TypeError) as exc:
        raise BundleError(f"{key}: could not sign with this key ({exc}); it must be an elliptic-curve private key "
                          "(PEM), with --password if it is encrypted") from None
    return signature


def trusted_key(explicit: str | Path | None = None) -> Path | None:
    """The public key to verify bundles with: ``explicit``, ``$FLOWFM_EDGE_TRUST_KEY``, or the configured file."""
    if explicit:
        return _key_file(explicit, "public key (--trust)")
    if os.environ.get(TRUST_ENV):
        return _key_file(os.environ[TRUST_ENV], f"public key (${TRUST_ENV})")
    configured = Path(os.environ.get("XDG_CONFIG_HOME", "~/.config")).expanduser() / "flowfm-edge" / "trusted_key.pem"
    return _key_file(configured, "public key") if configured.is_file() else None


def verify_bundle(bundle: str | Path, public_key: str | Path) -> None:
    """Raise a BundleError unless ``bundle`` carries a valid signature by the holder of ``public_key``."""
    bundle = Path(bundle)
    ms = _model_signing()
    public_key = _key_file(public_key, "public key")
    signature = bundle / SIGNATURE
    if not signature.is_file():
        raise BundleError(f"{bundle}: unsigned ({SIGNATURE} is missing) and a trust key is configured "
                          f"({public_key}); sign it with `flowfm-edge sign {bundle} --key KEY`")
    try:
        ms.verifying.Config().use_elliptic_key_verifier(public_key=public_key).set_hashing_config(
            _hashing(ms)).verify(bundle, signature)
    except Exception as exc:  # noqa: BLE001 - model-signing raises ValueError, but also parser and crypto errors
        raise BundleError(f"{bundle}: signature check against {public_key} failed ({type(exc).__name__}: "
                          f"{_short(str(exc))}); the bundle was changed after signing or signed by another key") from None


def _short(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."
