"""The prior over r in the bundle: prior.npz with its sha256, golden draws, numpy-PyTorch parity, validate."""

import json
import shutil

import numpy as np
import pytest
import torch

from flowfm_edge.bundle.manifest import read_manifest, sha256, verify_files
from flowfm_edge.bundle.prior import PARITY_TOLERANCE, BundlePrior, sample_prior
from flowfm_edge.runtimes import validate_bundle
from flowfm_edge.training import load_model


def test_manifest_lists_the_prior_with_its_hash(guided_bundle, nano_run):
    m = read_manifest(guided_bundle)
    p = m["prior"]
    info = json.loads((nano_run / "checkpoint" / "prior.json").read_text())
    K = info["components"]
    assert p["kind"] == "gaussian-mixture" and p["components"] == K and p["r_dim"] == 64
    assert p["covariance_type"] == info["covariance_type"] and p["dtype"] == "float32"
    assert p["file"]["path"] == "prior/prior.npz" and sha256(guided_bundle / p["file"]["path"]) == p["file"]["sha256"]
    assert p["arrays"] == {"weights": [K], "means": [K, 64], "chol": [K, 64, 64]}
    assert p["fit"]["data_hash"] == m["model"]["training_data"]["hash"] and "grid" not in p["fit"]
    with np.load(guided_bundle / p["file"]["path"]) as z:
        assert {k: z[k].dtype for k in z.files} == {"weights": np.float32, "means": np.float32, "chol": np.float32}
    assert p["parity"]["metric"] == "max_abs" and p["parity"]["value"] <= p["parity"]["tolerance"] == PARITY_TOLERANCE
    assert set(p["golden"]["files"]) == {"u", "eps", "r"}
    assert {f["path"] for f in m["torch"]["files"]} >= {"torch/checkpoint/prior.safetensors", "torch/checkpoint/prior.json"}


def test_numpy_prior_matches_pytorch_on_fresh_draws(guided_bundle, nano_run):
    """Same (u, eps) -> same r: the bundle's numpy sampler against the run's torch module."""
    prior = load_model(nano_run)[0].prior
    bundle_prior = BundlePrior(guided_bundle, read_manifest(guided_bundle)["prior"])
    rng = np.random.default_rng(123)
    u, eps = rng.random(2000), rng.standard_normal((2000, 64)).astype(np.float32)
    u[:3] = 0.0, 0.5, np.nextafter(1.0, 0.0)
    ref = prior.sample(torch.from_numpy(u), torch.from_numpy(eps)).numpy()
    out = bundle_prior.sample(u, eps)
    assert out.dtype == np.float32 and out.shape == (2000, 64)
    assert np.abs(out - ref).max() <= PARITY_TOLERANCE
    np.testing.assert_array_equal(out, sample_prior(*(prior.arrays()[k] for k in ("weights", "means", "chol")), u, eps))


def test_validate_checks_the_prior(guided_bundle, tmp_path):
    report = validate_bundle(guided_bundle)
    row = next(c for c in report["checks"] if c["artefact"] == "prior")
    assert report["passed"] and row["passed"] and row["metric"] == "max_abs" and row["value"] <= 1e-5
    # drift: golden r that no longer matches, its hash updated so only drift remains
    drift = tmp_path / "drift"
    shutil.copytree(guided_bundle, drift)
    path = drift / "golden" / "prior" / "r.npy"
    np.save(path, np.load(path) + 1e-3)
    manifest = json.loads((drift / "manifest.json").read_text())
    manifest["prior"]["golden"]["files"]["r"]["sha256"] = sha256(path)
    (drift / "manifest.json").write_text(json.dumps(manifest))
    report = validate_bundle(drift)
    assert not report["passed"] and [c["artefact"] for c in report["checks"] if not c["passed"]] == ["prior"]
    # tampering: the prior file itself
    tampered = tmp_path / "tampered"
    shutil.copytree(guided_bundle, tampered)
    with open(tampered / "prior" / "prior.npz", "ab") as f:
        f.write(b"\0")
    assert verify_files(tampered) == ["prior/prior.npz: sha256 mismatch (the file was modified after export)"]
    assert not validate_bundle(tampered)["passed"]


def test_validate_command_prints_the_prior_check(guided_bundle):
    from typer.testing import CliRunner

    from flowfm_edge.cli import app

    res = CliRunner().invoke(app, ["validate", str(guided_bundle)])
    assert res.exit_code == 0, res.output
    line = next(s for s in res.output.splitlines() if " prior " in s)
    assert "max_abs" in line and "tolerance 1e-05" in line


@pytest.mark.litert
def test_android_bundle_carries_the_prior(litert_bundle):
    from flowfm_edge import runtimes

    m = read_manifest(litert_bundle)
    assert m["prior"]["file"]["path"] == "prior/prior.npz"
    report = validate_bundle(litert_bundle, backend="litert")
    assert report["passed"] and any(c["artefact"] == "prior" and c["passed"] for c in report["checks"])
    rt = runtimes.load(litert_bundle, backend="litert")
    np.testing.assert_allclose(rt.generate(n=2, steps=2, seed=4), rt.generate(r=rt.unconditional_r(2, 4), steps=2, seed=4),
                               rtol=0, atol=0)


@pytest.mark.parametrize("target", ["cpu", "jetson"])
def test_every_target_exports_the_prior(nano_run, tmp_path, target):
    from flowfm_edge.export import ExportOptions, export_bundle

    out = tmp_path / target
    export_bundle(nano_run, out, ExportOptions(target=target, precisions=["fp32"], graphs=["sampler"], steps=[1]))
    m = read_manifest(out)
    assert m["prior"]["components"] >= 1 and not verify_files(out)
    assert validate_bundle(out)["passed"]
