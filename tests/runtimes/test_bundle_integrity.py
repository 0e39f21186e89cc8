"""A bundle that cannot be fooled: sha256 at load, paths kept inside, one manifest schema, signatures, no label for garbage."""

import json
import os
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from flowfm_edge import runtimes
from flowfm_edge.bundle.manifest import file_entry, read_manifest, sha256
from flowfm_edge.bundle.schema import BundleError

runner = CliRunner()


@pytest.fixture(scope="session")
def base_bundle(small_bundle):
    """Encoder + classifier of the nano run, FP32 only."""
    return small_bundle("nano-integrity-bundle", ["fp32"], ["encoder", "classifier"])


@pytest.fixture
def bundle(base_bundle, tmp_path):
    """A fresh copy per test, free to tamper with."""
    return shutil.copytree(base_bundle, tmp_path / "bundle")


def _manifest(bundle):
    return json.loads((bundle / "manifest.json").read_text())


def _write(bundle, manifest):
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def _key_pair(tmp_path, name="key"):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = tmp_path / f"{name}.pem", tmp_path / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _tamper_weights(bundle, rehash: bool):
    """Flip bytes in the middle of the classifier's weights (as an onnx edit would); optionally re-hash the manifest."""
    path = bundle / "onnx" / "classifier.fp32.onnx"
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(b ^ 0x55 for b in data[mid:mid + 64])
    path.write_bytes(bytes(data))
    if rehash:
        m = _manifest(bundle)
        for a in m["artefacts"]:
            if a["file"]["path"] == "onnx/classifier.fp32.onnx":
                a["file"] = file_entry(bundle, path)
        _write(bundle, m)


# ---- integrity at load -------------------------------------------------------------------------

def test_load_refuses_modified_weights(bundle):
    _tamper_weights(bundle, rehash=False)
    with pytest.raises(BundleError, match=r"refusing to run .*onnx/classifier\.fp32\.onnx: sha256 mismatch"):
        runtimes.load(bundle)
    with pytest.raises(BundleError, match="sha256 mismatch"):
        runtimes.load(bundle, backend="torch")  # every backend, not only onnxruntime


def test_load_refuses_a_missing_file(bundle):
    (bundle / "golden" / "encoder" / "x.npy").unlink()
    with pytest.raises(BundleError, match=r"golden/encoder/x\.npy: missing"):
        runtimes.load(bundle)


@pytest.mark.parametrize("path, problem", [("../outside/evil.onnx", "climbs out with '..'"),
                                           ("/etc/passwd", "is absolute"),
                                           ("onnx/../../evil.onnx", "climbs out with '..'")])
def test_manifest_paths_outside_the_bundle_are_refused(bundle, path, problem):
    outside = bundle.parent / "outside"
    outside.mkdir(exist_ok=True)
    shutil.copy(bundle / "onnx" / "classifier.fp32.onnx", outside / "evil.onnx")
    m = _manifest(bundle)
    m["artefacts"][1]["file"]["path"] = path
    _write(bundle, m)
    with pytest.raises(BundleError, match=f"field 'artefacts\\[1\\].file.path' is malformed .*{problem}"):
        runtimes.load(bundle)


def test_symlinks_out_of_the_bundle_are_refused(bundle):
    target = bundle.parent / "elsewhere.onnx"
    shutil.move(bundle / "onnx" / "classifier.fp32.onnx", target)
    os.symlink(target, bundle / "onnx" / "classifier.fp32.onnx")  # same bytes, same sha256, outside the bundle
    with pytest.raises(BundleError, match="resolves to .*elsewhere.onnx, outside the bundle"):
        runtimes.load(bundle)
    report = runtimes.validate_bundle(bundle)
    assert not report["passed"] and "outside the bundle" in report["files"][0]


def test_torch_path_to_another_run_is_refused(bundle, nano_run):
    m = _manifest(bundle)
    m["torch"]["path"] = os.path.relpath(nano_run, bundle)
    _write(bundle, m)
    with pytest.raises(BundleError, match=r"field 'torch.path' is malformed .*climbs out"):
        runtimes.load(bundle, backend="torch")


@pytest.mark.parametrize("edit, field, problem", [
    (lambda m: [m], None, "the manifest is a JSON list"),
    (lambda m: {k: v for k, v in m.items() if k != "signal"}, "signal", "is missing"),
    (lambda m: (m["artefacts"][0]["file"].pop("sha256"), m)[1], "artefacts[0].file.sha256", "is missing"),
    (lambda m: (m["artefacts"][0]["file"].update(sha256="abc"), m)[1], "artefacts[0].file.sha256", "is malformed"),
    (lambda m: (m["artefacts"][0]["golden_check"].update(tolerance=1e9), m)[1],
     "artefacts[0].golden_check.tolerance", "is malformed"),
    (lambda m: (m["signal"].update(window="300 samples"), m)[1], "signal.window", "is malformed"),
    (lambda m: (m.update(schema_version=2), m)[1], "schema_version", "is malformed"),
    (lambda m: (m["model"]["config"].pop("r_dim"), m)[1], "model.config.r_dim", "is missing"),
    (lambda m: (m.update(graphs=["encoder"]), m)[1], "graphs", "is malformed"),
])
def test_malformed_manifest_fields_are_named(bundle, edit, field, problem):
    _write(bundle, edit(_manifest(bundle)))
    expected = problem if field is None else f"field '{field}' {problem}"
    with pytest.raises(BundleError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        read_manifest(bundle)
    res = runner.invoke(_app(), ["validate", str(bundle)])
    assert res.exit_code == 1 and res.output.startswith("error:") and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) <= 3  # one red line (soft-wrapped at most)


def test_manifest_that_is_not_json_or_utf8(bundle):
    (bundle / "manifest.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(BundleError, match="not valid JSON"):
        read_manifest(bundle)
    (bundle / "manifest.json").write_text("[" * 100_000)
    with pytest.raises(BundleError, match="not valid JSON"):
        read_manifest(bundle)


def test_an_artefact_onnxruntime_cannot_load_is_a_bundle_error(bundle):
    path = bundle / "onnx" / "classifier.fp32.onnx"
    path.write_bytes(b"not a protobuf at all" * 10)
    m = _manifest(bundle)
    m["artefacts"][1]["file"] = file_entry(bundle, path)
    _write(bundle, m)
    rt = runtimes.load(bundle)
    with pytest.raises(BundleError, match="onnxruntime cannot load this artefact"):
        rt.classify(np.zeros((1, 3, 300), np.float32))


# ---- signed bundles ----------------------------------------------------------------------------

def test_sign_then_load_and_validate_with_the_trusted_key(bundle, tmp_path):
    pytest.importorskip("model_signing", reason="needs the [signing] extra")
    private, public = _key_pair(tmp_path)
    res = runner.invoke(_app(), ["sign", str(bundle), "--key", str(private)])
    assert res.exit_code == 0, res.output
    assert (bundle / "bundle.sig").is_file()
    rt = runtimes.load(bundle, trust=public)
    assert rt.predict(np.ones((1, 3, 300), np.float32))[0] in rt.classes
    res = runner.invoke(_app(), ["validate", str(bundle), "--trust", str(public)])
    out = " ".join(res.output.split())
    assert res.exit_code == 0 and "signature valid" in out and "golden checks passed" in out


def _tampers():
    def tolerance(b):  # within the schema's bounds, hashes intact: only the signature catches it
        m = _manifest(b)
        m["artefacts"][0]["golden_check"]["tolerance"] = 0.9
        _write(b, m)

    def golden(b):
        p = b / "golden" / "classifier" / "reference.npy"
        np.save(p, np.zeros_like(np.load(p)))
        m = _manifest(b)
        m["golden"]["classifier"]["files"]["reference"] = file_entry(b, p)
        _write(b, m)

    def added(b):
        (b / "onnx" / "extra.onnx").write_bytes(b"\x08\x07")

    def removed(b):
        (b / "golden" / "encoder" / "output.fp32.npy").unlink()
        m = _manifest(b)
        del m["golden"]["encoder"]["files"]["output.fp32"]
        _write(b, m)

    return {"weights": lambda b: _tamper_weights(b, rehash=True), "manifest tolerance": tolerance,
            "golden file": golden, "added file": added, "removed file": removed}


@pytest.mark.parametrize("what", list(_tampers()))
def test_tampered_signed_bundle_is_refused(bundle, tmp_path, what):
    pytest.importorskip("model_signing", reason="needs the [signing] extra")
    from flowfm_edge.bundle.signing import sign_bundle

    private, public = _key_pair(tmp_path)
    sign_bundle(bundle, private)
    _tampers()[what](bundle)
    read_manifest(bundle)  # still a well-formed bundle: only the signature tells
    with pytest.raises(BundleError, match="signature check against .* failed"):
        runtimes.load(bundle, trust=public)
    res = runner.invoke(_app(), ["validate", str(bundle), "--trust", str(public)])
    assert res.exit_code == 1 and "signature check" in " ".join(res.output.split())


def test_unsigned_or_other_key_is_refused_when_a_key_is_configured(bundle, tmp_path, monkeypatch):
    pytest.importorskip("model_signing", reason="needs the [signing] extra")
    from flowfm_edge.bundle.signing import sign_bundle

    private, public = _key_pair(tmp_path)
    monkeypatch.setenv("FLOWFM_EDGE_TRUST_KEY", str(public))
    with pytest.raises(BundleError, match=r"unsigned \(bundle.sig is missing\)"):
        runtimes.load(bundle)
    other, _ = _key_pair(tmp_path, "other")
    sign_bundle(bundle, other)
    with pytest.raises(BundleError, match="signature check against .* failed"):
        runtimes.load(bundle)
    sign_bundle(bundle, private)
    runtimes.load(bundle)  # the configured key's own signature passes


def test_sign_refuses_a_tampered_bundle_and_a_bad_key(bundle, tmp_path):
    pytest.importorskip("model_signing", reason="needs the [signing] extra")
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    res = runner.invoke(_app(), ["sign", str(bundle), "--key", str(bad)])
    assert res.exit_code == 1 and "not a PEM private key" in " ".join(res.output.split())
    _tamper_weights(bundle, rehash=False)
    private, _ = _key_pair(tmp_path)
    res = runner.invoke(_app(), ["sign", str(bundle), "--key", str(private)])
    assert res.exit_code == 1 and "sha256 mismatch" in " ".join(res.output.split()) and not (bundle / "bundle.sig").exists()


# ---- no label for garbage ----------------------------------------------------------------------

def test_non_finite_windows_are_refused_by_index(base_bundle):
    rt = runtimes.load(base_bundle)
    x = np.ones((4, 3, 300), np.float32)
    x[1, 0, 5] = np.nan
    x[3, 2, 0] = np.inf
    for call in (rt.predict, rt.classify, rt.embed):
        with pytest.raises(runtimes.NonFiniteError, match=r"windows 1, 3 of 4 hold NaN or Inf"):
            call(x)
    labels, valid = rt.predict(x, invalid="mask")
    assert valid.tolist() == [True, False, True, False]
    assert labels[1] is None and labels[3] is None and labels[0] == rt.predict(x[:1])[0]
    r, valid = rt.embed(x, invalid="mask")
    assert np.isnan(r[[1, 3]]).all() and np.isfinite(r[[0, 2]]).all()
    np.testing.assert_allclose(r[2], rt.embed(x[2:3])[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="invalid must be one of raise, mask"):
        rt.embed(x, invalid="ignore")


def test_generate_refuses_non_finite_r(base_bundle, tmp_path):
    rt = runtimes.load(base_bundle)
    r = np.zeros((3, rt.r_dim), np.float32)
    r[2, 0] = np.nan
    with pytest.raises(runtimes.NonFiniteError, match="r rows 2 of 3 hold NaN or Inf"):
        rt.generate(r=r)


def test_overflowing_windows_give_no_output(base_bundle):
    rt = runtimes.load(base_bundle)
    x = np.ones((2, 3, 300), np.float32)
    x[1] = 3e38  # finite float32, but the first matmul overflows
    with pytest.raises(runtimes.NonFiniteError, match=r"windows 1 of 2 give non-finite encoder output"):
        rt.embed(x)
    _, valid = rt.embed(x, invalid="mask")
    assert valid.tolist() == [True, False]


def test_embed_and_generate_commands_never_write_non_finite_values(nano_run, tmp_path, sine_windows):
    X = sine_windows(4)
    X[2] = 1e30
    np.savez(tmp_path / "huge.npz", X=X, pid=np.zeros(4))
    res = runner.invoke(_app(), ["embed", str(nano_run), "--data", str(tmp_path / "huge.npz"),
                                 "--out", str(tmp_path / "r.npz")])
    assert res.exit_code == 1 and "the embeddings of windows 2 of 4 hold NaN or Inf" in " ".join(res.output.split())
    assert not (tmp_path / "r.npz").exists()
    X[2] = np.nan
    np.savez(tmp_path / "nan.npz", X=X, pid=np.zeros(4))
    res = runner.invoke(_app(), ["generate", str(nano_run), "--like", str(tmp_path / "nan.npz"), "--steps", "2",
                                 "--out", str(tmp_path / "g.npz")])
    assert res.exit_code == 1 and "field 'X' has 1 window(s) with NaN or inf (first at index [2])" in res.output
    assert not (tmp_path / "g.npz").exists()


def test_export_refuses_an_out_inside_the_run(nano_run, tmp_path):
    for out in (nano_run, nano_run / "bundle", nano_run.parent):
        res = runner.invoke(_app(), ["export", str(nano_run), "--out", str(out), "--force", "--precision", "fp32"])
        out = " ".join(res.output.split())
        assert res.exit_code == 1 and ("the run" in out or "holds the run" in out), res.output
    assert (nano_run / "checkpoint" / "config.json").is_file()


def _app():
    from flowfm_edge.cli import app

    return app


def test_sha256_helper_matches_hashlib(tmp_path):
    import hashlib

    p = tmp_path / "f"
    p.write_bytes(b"abc" * 1000)
    assert sha256(p) == hashlib.sha256(b"abc" * 1000).hexdigest()
