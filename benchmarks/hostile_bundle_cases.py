"""Hostile inputs to bundles and the runtime API: tampered files, signatures, paths out, malformed manifests, garbage windows.

One function per input; each returns (outcome, what happened). See ``hostile_workspace.py``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from hostile_workspace import (Outcome, cli, cli_error, edit_classifier_weights, raises, read_manifest_file,
                               write_manifest_file)


# ---- bundles ------------------------------------------------------------------------------------

def weights_edited_load(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.bundle.manifest import BundleError

    b = ws.fresh()
    edit_classifier_weights(b, rehash=False)
    return raises(lambda: runtimes.load(b), BundleError, "sha256 mismatch")


def weights_edited_stream(ws):
    b = ws.fresh()
    edit_classifier_weights(b, rehash=False)
    src = ws.tmp / "one-minute.csv"
    src.write_text(ws.sample_csv(minutes=0.5, devices=1))
    return cli_error(["stream", b, "--input", src], "sha256 mismatch")


def weights_rehashed_tolerance_1e9(ws):
    b = ws.fresh()
    edit_classifier_weights(b, rehash=True)
    m = read_manifest_file(b)
    for a in m["artefacts"]:
        a["golden_check"]["tolerance"] = 1e9
    write_manifest_file(b, m)
    return cli_error(["validate", b], "golden_check.tolerance' is malformed")


def weights_rehashed_signed_bundle(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.bundle.manifest import BundleError

    b = ws.fresh("signed")
    edit_classifier_weights(b, rehash=True)
    return raises(lambda: runtimes.load(b, trust=ws.public_key), BundleError, "signature check")


def tolerance_edit_signed(ws):
    b = ws.fresh("signed")
    m = read_manifest_file(b)
    m["artefacts"][0]["golden_check"]["tolerance"] = 0.9
    write_manifest_file(b, m)
    code, out, err = cli(["validate", b, "--trust", ws.public_key])
    text = " ".join((out + err).split())
    if code == 1 and "signature check against" in text and "the signature does not match" in text:
        return Outcome.ERROR, text[text.index("signature check"):][:160]
    return (Outcome.WRONG if code == 0 else Outcome.CRASH), text[:160]


def golden_edit_signed(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.bundle.manifest import BundleError, file_entry

    b = ws.fresh("signed")
    p = b / "golden" / "classifier" / "reference.npy"
    np.save(p, np.zeros_like(np.load(p)))
    m = read_manifest_file(b)
    m["golden"]["classifier"]["files"]["reference"] = file_entry(b, p)
    write_manifest_file(b, m)
    return raises(lambda: runtimes.load(b, trust=ws.public_key), BundleError, "signature check")


def added_file_signed(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.bundle.manifest import BundleError

    b = ws.fresh("signed")
    (b / "onnx" / "extra.onnx").write_bytes(b"\x08\x07")
    return raises(lambda: runtimes.load(b, trust=ws.public_key), BundleError, "signature check")


def removed_file_signed(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.bundle.manifest import BundleError

    b = ws.fresh("signed")
    (b / "golden" / "encoder" / "output.fp32.npy").unlink()
    m = read_manifest_file(b)
    del m["golden"]["encoder"]["files"]["output.fp32"]
    write_manifest_file(b, m)
    return raises(lambda: runtimes.load(b, trust=ws.public_key), BundleError, "signature check")


def unsigned_with_trust_key(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.bundle.manifest import BundleError

    return raises(lambda: runtimes.load(ws.fresh(), trust=ws.public_key), BundleError, "unsigned")


def signed_by_other_key(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.bundle.manifest import BundleError
    from flowfm_edge.bundle.signing import sign_bundle

    b = ws.fresh()
    other, _ = ws.key_pair("other")
    sign_bundle(b, other)
    return raises(lambda: runtimes.load(b, trust=ws.public_key), BundleError, "signature check")


def _path_case(ws, path: str, expect: str):
    from flowfm_edge import runtimes
    from flowfm_edge.bundle.manifest import BundleError, sha256

    b = ws.fresh()
    outside = b.parent / "outside"
    outside.mkdir(exist_ok=True)
    shutil.copy(b / "onnx" / "classifier.fp32.onnx", outside / "evil.onnx")
    m = read_manifest_file(b)
    entry = next(a for a in m["artefacts"] if a["name"] == "classifier")
    entry["file"]["path"] = path
    target = (b / path) if not path.startswith("/") else Path(path)
    if target.is_file():
        entry["file"]["sha256"] = sha256(target)
    write_manifest_file(b, m)
    return raises(lambda: runtimes.load(b).classify(np.ones((1, 3, 300), np.float32)), BundleError, expect)


def path_dotdot(ws):
    return _path_case(ws, "../outside/evil.onnx", "climbs out with '..'")


def path_absolute(ws):
    return _path_case(ws, "/etc/passwd", "is absolute")


def path_symlink_out(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.bundle.manifest import BundleError

    b = ws.fresh()
    target = b.parent / f"elsewhere-{ws.n}.onnx"
    shutil.move(b / "onnx" / "classifier.fp32.onnx", target)
    os.symlink(target, b / "onnx" / "classifier.fp32.onnx")
    return raises(lambda: runtimes.load(b), BundleError, "outside the bundle")


def torch_path_other_run(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.bundle.manifest import BundleError

    b = ws.fresh()
    m = read_manifest_file(b)
    m["torch"]["path"] = os.path.relpath(ws.run, b)
    write_manifest_file(b, m)
    return raises(lambda: runtimes.load(b, backend="torch"), BundleError, "torch.path")


def _manifest_case(ws, edit, expect):
    b = ws.fresh()
    write_manifest_file(b, edit(read_manifest_file(b)))
    return cli_error(["validate", b], expect)


def manifest_is_a_list(ws):
    return _manifest_case(ws, lambda m: [m], "JSON list")


def manifest_entry_without_sha256(ws):
    def edit(m):
        del m["artefacts"][0]["file"]["sha256"]
        return m
    return _manifest_case(ws, edit, "field 'artefacts[0].file.sha256' is missing")


def manifest_without_signal(ws):
    def edit(m):
        del m["signal"]
        return m
    return _manifest_case(ws, edit, "field 'signal' is missing")


def onnx_invalid_protobuf(ws):
    from flowfm_edge.bundle.manifest import file_entry

    b = ws.fresh()
    p = b / "onnx" / "classifier.fp32.onnx"
    p.write_bytes(b"\x00garbage" * 100)
    m = read_manifest_file(b)
    for a in m["artefacts"]:
        if a["file"]["path"] == "onnx/classifier.fp32.onnx":
            a["file"] = file_entry(b, p)
    write_manifest_file(b, m)
    return cli_error(["validate", b], "onnxruntime cannot load")


# ---- garbage windows ----------------------------------------------------------------------------

def predict_nan_fp32(ws):
    from flowfm_edge import runtimes

    rt = runtimes.load(ws.bundle)
    return raises(lambda: rt.predict(np.full((1, 3, 300), np.nan, "f4")), runtimes.NonFiniteError, "windows 0 of 1")


def predict_nan_torch(ws):
    from flowfm_edge import runtimes

    rt = runtimes.load(ws.bundle, backend="torch")
    return raises(lambda: rt.predict(np.full((2, 3, 300), np.inf, "f4")), runtimes.NonFiniteError, "windows 0, 1 of 2")


def embed_huge_values(ws):
    X = ws.activity.X[:8].copy()
    X[3] = 3e38
    path = ws.tmp / "huge.npz"
    np.savez(path, X=X, pid=np.zeros(8))
    out = ws.tmp / "huge-r.npz"
    outcome, detail = cli_error(["embed", ws.run, "--data", path, "--out", out], "windows 3 of 8")
    return (Outcome.WRONG, "wrote " + str(out)) if out.exists() else (outcome, detail)

CASES = [(fn.__name__.replace("_", " "), fn) for fn in (
    weights_edited_load, weights_edited_stream, weights_rehashed_tolerance_1e9, weights_rehashed_signed_bundle,
    tolerance_edit_signed, golden_edit_signed, added_file_signed, removed_file_signed,
    unsigned_with_trust_key, signed_by_other_key, path_dotdot, path_absolute,
    path_symlink_out, torch_path_other_run, manifest_is_a_list, manifest_entry_without_sha256,
    manifest_without_signal, onnx_invalid_protobuf, predict_nan_fp32, predict_nan_torch,
    embed_huge_values,
)]
