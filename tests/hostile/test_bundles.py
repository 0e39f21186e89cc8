"""Hostile bundles and windows: tampered files, signatures, paths out of the bundle, malformed manifests, garbage.

Each input ends in a clear error, through the Python API or the CLI a user would call; nothing tampered
or garbage runs without a word.
"""

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from flowfm_edge import runtimes
from flowfm_edge.runtimes import BundleError, NonFiniteError

pytestmark = pytest.mark.slow


def refused(fn, error: type, expect: str):
    with pytest.raises(error, match=re.escape(expect)):
        fn()


# ---- edited files -------------------------------------------------------------------------------

def test_edited_weights_are_refused_on_load(ws):
    b = ws.fresh()
    ws.edit_classifier_weights(b, rehash=False)
    refused(lambda: runtimes.load(b), BundleError, "sha256 mismatch")


def test_edited_weights_stop_the_stream(ws):
    b = ws.fresh()
    ws.edit_classifier_weights(b, rehash=False)
    src = ws.tmp / "half-minute.csv"
    src.write_text(ws.sample_csv(minutes=0.5, devices=1))
    ws.clear_error(["stream", b, "--input", src], "sha256 mismatch")


def test_edited_weights_rehashed_with_a_huge_tolerance_are_refused(ws):
    b = ws.fresh()
    ws.edit_classifier_weights(b, rehash=True)
    m = ws.manifest(b)
    for a in m["artefacts"]:
        a["golden_check"]["tolerance"] = 1e9
    ws.write_manifest(b, m)
    ws.clear_error(["validate", b], "golden_check.tolerance' is malformed")


# ---- signed bundles -----------------------------------------------------------------------------

def test_edited_weights_rehashed_in_a_signed_bundle_fail_its_signature(ws):
    b = ws.fresh("signed")
    ws.edit_classifier_weights(b, rehash=True)
    refused(lambda: runtimes.load(b, trust=ws.public_key), BundleError, "signature check")


def test_a_tolerance_edited_in_a_signed_bundle_fails_validate(ws):
    b = ws.fresh("signed")
    m = ws.manifest(b)
    m["artefacts"][0]["golden_check"]["tolerance"] = 0.9
    ws.write_manifest(b, m)
    code, out, err = ws.cli(["validate", b, "--trust", ws.public_key])
    text = " ".join((out + err).split())
    assert code == 1 and "signature check against" in text and "the signature does not match" in text, text[:300]


def test_a_golden_file_edited_in_a_signed_bundle_fails_its_signature(ws):
    from flowfm_edge.bundle.manifest import file_entry

    b = ws.fresh("signed")
    p = b / "golden" / "classifier" / "reference.npy"
    np.save(p, np.zeros_like(np.load(p)))
    m = ws.manifest(b)
    m["golden"]["classifier"]["files"]["reference"] = file_entry(b, p)
    ws.write_manifest(b, m)
    refused(lambda: runtimes.load(b, trust=ws.public_key), BundleError, "signature check")


def test_a_file_added_to_a_signed_bundle_fails_its_signature(ws):
    b = ws.fresh("signed")
    (b / "onnx" / "extra.onnx").write_bytes(b"\x08\x07")
    refused(lambda: runtimes.load(b, trust=ws.public_key), BundleError, "signature check")


def test_a_file_removed_from_a_signed_bundle_fails_its_signature(ws):
    b = ws.fresh("signed")
    (b / "golden" / "encoder" / "output.fp32.npy").unlink()
    m = ws.manifest(b)
    del m["golden"]["encoder"]["files"]["output.fp32"]
    ws.write_manifest(b, m)
    refused(lambda: runtimes.load(b, trust=ws.public_key), BundleError, "signature check")


def test_an_unsigned_bundle_is_refused_under_a_trust_key(ws):
    refused(lambda: runtimes.load(ws.fresh(), trust=ws.public_key), BundleError, "unsigned")


def test_a_bundle_signed_by_another_key_is_refused(ws):
    from flowfm_edge.bundle.signing import sign_bundle

    b = ws.fresh()
    other, _ = ws.key_pair("other")
    sign_bundle(b, other)
    refused(lambda: runtimes.load(b, trust=ws.public_key), BundleError, "signature check")


# ---- paths out of the bundle --------------------------------------------------------------------

@pytest.mark.parametrize("path, expect", [("../outside/evil.onnx", "climbs out with '..'"),
                                          ("/etc/passwd", "is absolute")])
def test_an_artefact_path_out_of_the_bundle_is_refused(ws, path, expect):
    from flowfm_edge.bundle.manifest import sha256

    b = ws.fresh()
    outside = b.parent / "outside"
    outside.mkdir(exist_ok=True)
    shutil.copy(b / "onnx" / "classifier.fp32.onnx", outside / "evil.onnx")
    m = ws.manifest(b)
    entry = next(a for a in m["artefacts"] if a["name"] == "classifier")
    entry["file"]["path"] = path
    target = (b / path) if not path.startswith("/") else Path(path)
    if target.is_file():
        entry["file"]["sha256"] = sha256(target)  # a forger's manifest: the hash matches the file it names
    ws.write_manifest(b, m)
    refused(lambda: runtimes.load(b).classify(np.ones((1, 3, 300), np.float32)), BundleError, expect)


def test_an_artefact_symlinked_out_of_the_bundle_is_refused(ws):
    b = ws.fresh()
    target = b.parent / f"elsewhere-{ws.n}.onnx"
    shutil.move(b / "onnx" / "classifier.fp32.onnx", target)
    os.symlink(target, b / "onnx" / "classifier.fp32.onnx")
    refused(lambda: runtimes.load(b), BundleError, "outside the bundle")


def test_a_torch_path_into_another_run_is_refused(ws):
    b = ws.fresh()
    m = ws.manifest(b)
    m["torch"]["path"] = os.path.relpath(ws.run, b)
    ws.write_manifest(b, m)
    refused(lambda: runtimes.load(b, backend="torch"), BundleError, "torch.path")


# ---- malformed manifests ------------------------------------------------------------------------

def without(*keys):
    def edit(m):
        parent = m
        for k in keys[:-1]:
            parent = parent[k]
        del parent[keys[-1]]
        return m
    return edit


@pytest.mark.parametrize("edit, expect", [
    (lambda m: [m], "JSON list"),
    (without("artefacts", 0, "file", "sha256"), "field 'artefacts[0].file.sha256' is missing"),
    (without("signal"), "field 'signal' is missing"),
], ids=["a list", "an entry without sha256", "without signal"])
def test_a_malformed_manifest_is_named_by_validate(ws, edit, expect):
    b = ws.fresh()
    ws.write_manifest(b, edit(ws.manifest(b)))
    ws.clear_error(["validate", b], expect)


def test_an_artefact_onnxruntime_cannot_parse_is_named_by_validate(ws):
    from flowfm_edge.bundle.manifest import file_entry

    b = ws.fresh()
    p = b / "onnx" / "classifier.fp32.onnx"
    p.write_bytes(b"\x00garbage" * 100)
    m = ws.manifest(b)
    for a in m["artefacts"]:
        if a["file"]["path"] == "onnx/classifier.fp32.onnx":
            a["file"] = file_entry(b, p)
    ws.write_manifest(b, m)
    ws.clear_error(["validate", b], "onnxruntime cannot load")


# ---- garbage windows ----------------------------------------------------------------------------

def test_nan_windows_are_refused_by_onnxruntime(ws):
    rt = runtimes.load(ws.bundle)
    refused(lambda: rt.predict(np.full((1, 3, 300), np.nan, "f4")), NonFiniteError, "windows 0 of 1")


def test_infinite_windows_are_refused_by_the_torch_backend(ws):
    rt = runtimes.load(ws.bundle, backend="torch")
    refused(lambda: rt.predict(np.full((2, 3, 300), np.inf, "f4")), NonFiniteError, "windows 0, 1 of 2")


def test_embed_refuses_values_that_overflow_and_writes_nothing(ws):
    X = ws.activity.X[:8].copy()
    X[3] = 3e38
    path = ws.tmp / "huge.npz"
    np.savez(path, X=X, pid=np.zeros(8))
    out = ws.tmp / "huge-r.npz"
    ws.clear_error(["embed", ws.run, "--data", path, "--out", out], "windows 3 of 8")
    assert not out.exists()
