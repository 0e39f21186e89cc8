"""Runtime.generate(n=...): r from the bundle's prior with numpy, r = 0 without one or with prior=False."""

import json
import shutil

import numpy as np
import pytest
import torch

from flowfm_edge import runtimes
from flowfm_edge.training import load_model


def test_generate_n_draws_r_from_the_prior(guided_bundle, nano_run):
    rt = runtimes.load(guided_bundle)
    assert rt.has_prior
    x = rt.generate(n=4, steps=4, seed=3)
    assert x.shape == (4, 3, 300) and x.dtype == np.float32 and np.isfinite(x).all()
    r = rt.unconditional_r(4, seed=3)
    assert r.shape == (4, 64) and r.dtype == np.float32 and np.abs(r).sum() > 0
    np.testing.assert_array_equal(x, rt.generate(r=r, steps=4, seed=3))
    # the documented stream: one default_rng(seed) gives the noise, then u, then eps; PyTorch maps them to the same r
    rng = np.random.default_rng(3)
    rng.standard_normal((4, 3, 300))
    u, eps = rng.random(4), rng.standard_normal((4, 64)).astype(np.float32)
    ref = load_model(nano_run)[0].prior.sample(torch.from_numpy(u), torch.from_numpy(eps)).numpy()
    assert np.abs(r - ref).max() <= 1e-5
    zero = rt.generate(n=4, steps=4, seed=3, prior=False)
    np.testing.assert_array_equal(zero, rt.generate(r=np.zeros((4, 64), np.float32), steps=4, seed=3))
    assert not np.allclose(x, zero)
    assert np.isfinite(rt.generate(n=2, steps=4, seed=0, guidance=2.0)).all()  # guidance v0 + w (v_r - v0)


def test_backends_draw_the_same_r(guided_bundle):
    ort_rt, torch_rt = runtimes.load(guided_bundle), runtimes.load(guided_bundle, backend="torch")
    np.testing.assert_array_equal(ort_rt.unconditional_r(3, 5), torch_rt.unconditional_r(3, 5))
    np.testing.assert_allclose(ort_rt.generate(n=3, steps=4, seed=5), torch_rt.generate(n=3, steps=4, seed=5),
                               rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def priorless_bundle(nano_run, tmp_path_factory):
    """An exported bundle of the nano run with its prior removed: fused euler x 1 only, FP32."""
    from flowfm_edge.export import ExportOptions, export_bundle

    base = tmp_path_factory.mktemp("priorless")
    run = base / "run"
    shutil.copytree(nano_run, run)
    for name in ("prior.safetensors", "prior.json"):
        (run / "checkpoint" / name).unlink()
    out = base / "bundle"
    export_bundle(run, out, ExportOptions(precisions=["fp32"], graphs=["sampler"], steps=[1]))
    return out


def test_a_bundle_without_prior_generates_from_r_zero(priorless_bundle):
    manifest = json.loads((priorless_bundle / "manifest.json").read_text())
    assert manifest["prior"] is None and not (priorless_bundle / "prior").exists()
    assert not (priorless_bundle / "torch" / "checkpoint" / "prior.json").exists()
    rt = runtimes.load(priorless_bundle)
    assert not rt.has_prior and not np.abs(rt.unconditional_r(2)).any()
    np.testing.assert_array_equal(rt.generate(n=2, steps=1, seed=1), rt.generate(r=np.zeros((2, 64)), steps=1, seed=1))
    report = runtimes.validate_bundle(priorless_bundle)
    assert report["passed"] and not any(c["artefact"] == "prior" for c in report["checks"])
    with pytest.raises(runtimes.BundleError, match="no prior over r; fit one with `flowfm-edge fit-prior RUN`"):
        rt.prior()


def test_prior_draws_never_import_torch(guided_bundle):
    import subprocess
    import sys
    import textwrap

    code = f"""
        import sys
        from flowfm_edge import runtimes
        rt = runtimes.load({str(guided_bundle)!r})
        rt.generate(n=2, steps=4)
        assert runtimes.validate_bundle({str(guided_bundle)!r})["passed"]
        print("torch" in sys.modules)
    """
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "False"
