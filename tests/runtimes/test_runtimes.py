"""One runtime API over the onnxruntime and torch backends, without torch at run time."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from flowfm_edge import runtimes
from flowfm_edge.runtimes import BACKENDS, BackendInfo, BackendUnavailable, BundleError, backend_class, register_backend


@pytest.fixture(scope="module")
def x(activity):
    return activity.X[::11][:5]


@pytest.mark.parametrize("precision", ["fp32", "int8", "int8-dynamic"])
def test_onnxruntime_shapes_and_dtypes(bundle, x, precision):
    rt = runtimes.load(bundle, backend="onnxruntime", precision=precision)
    r, logits = rt.embed(x), rt.classify(x)
    assert r.shape == (5, 64) and r.dtype == np.float32
    assert logits.shape == (5, 3) and logits.dtype == np.float32
    assert set(rt.predict(x)) <= {"still", "walk", "run"}
    assert rt.embed(x[0]).shape == (1, 64)  # one window (3, 300) is a batch of one
    gen = rt.generate(n=2, steps=4, seed=1)
    assert gen.shape == (2, 3, 300) and gen.dtype == np.float32 and np.isfinite(gen).all()
    assert rt.generate(r=r[:3], steps=4, solver="heun").shape == (3, 3, 300)


def test_backends_agree(bundle, x):
    ort_rt = runtimes.load(bundle, backend="onnxruntime")
    torch_rt = runtimes.load(bundle, backend="torch")
    for method in ("embed", "classify"):
        a, b = getattr(ort_rt, method)(x), getattr(torch_rt, method)(x)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    r = torch_rt.embed(x[:2])
    for kwargs in (dict(n=3, steps=4, seed=7), dict(r=r, steps=4, seed=7, solver="heun")):
        np.testing.assert_allclose(ort_rt.generate(**kwargs), torch_rt.generate(**kwargs), rtol=1e-4, atol=1e-4)
    assert not np.allclose(ort_rt.generate(n=1, steps=4, seed=1), ort_rt.generate(n=1, steps=4, seed=2))


def test_torch_backend_is_self_contained(bundle, tmp_path, x):
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)  # nothing outside the bundle is read
    rt = runtimes.load(copy, backend="torch")
    assert rt.embed(x).shape == (5, 64)
    assert runtimes.validate_bundle(copy, backend="torch")["passed"]


def test_runtime_errors(bundle, x):
    rt = runtimes.load(bundle)
    with pytest.raises(ValueError, match=r"x has shape \(5, 300, 3\); expected \(batch, 3, 300\)"):
        rt.embed(x.transpose(0, 2, 1))
    with pytest.raises(BundleError, match="no fused sampler for solver=any, steps=16; the bundle has: euler x 4, heun x 4"):
        rt.generate(n=1, steps=16)
    with pytest.raises(ValueError, match="exactly one of n"):
        rt.generate(n=2, r=np.zeros((2, 64)))
    with pytest.raises(BundleError, match="exported without guidance; re-export with --guidance"):
        rt.generate(n=1, steps=4, guidance=2.0)
    with pytest.raises(BundleError, match="no fp16 artefact for backend 'onnxruntime'; available precisions: fp32, int8, int8-dynamic"):
        runtimes.load(bundle, precision="fp16").embed(x)
    with pytest.raises(BundleError, match="runs fp32 only|no int8 artefact"):
        runtimes.load(bundle, backend="torch", precision="int8").embed(x)
    with pytest.raises(BundleError, match="not a bundle"):
        runtimes.load(bundle / "onnx")


def test_guided_generate(guided_bundle):
    rt = runtimes.load(guided_bundle)
    a, b = rt.generate(n=2, steps=16, seed=0), rt.generate(n=2, steps=16, seed=0, guidance=1.0)
    np.testing.assert_array_equal(a, b)  # w defaults to 1, the plain conditional field
    with pytest.raises(BundleError, match="no 'encoder' graph"):
        rt.embed(np.zeros((1, 3, 300), np.float32))


def test_registry():
    assert {"onnxruntime", "torch", "tensorrt", "litert"} <= set(BACKENDS)
    with pytest.raises(ValueError, match="unknown backend 'tvm'; choose from onnxruntime, torch"):
        backend_class("tvm")
    with pytest.raises(BackendUnavailable, match="backend 'tensorrt' needs the Python package 'tensorrt'.*JetPack"):
        backend_class("tensorrt")
    register_backend(BackendInfo("fake", "flowfm_edge.runtimes.fake", "Fake", ("no_such_module_xyz",), "fake", ("onnx",)))
    try:
        with pytest.raises(BackendUnavailable, match=r"needs the Python package 'no_such_module_xyz'.*pip install 'flowfm-edge\[fake\]'"):
            backend_class("fake")
    finally:
        del BACKENDS["fake"]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


def test_onnxruntime_backend_never_imports_torch(bundle):
    res = _run(f"""
        import sys, json
        import numpy as np
        from flowfm_edge import runtimes
        rt = runtimes.load({str(bundle)!r}, backend="onnxruntime", precision="int8")
        x = np.ones((2, 3, 300), np.float32)
        rt.embed(x); rt.classify(x); rt.generate(n=2, steps=4)
        report = runtimes.validate_bundle({str(bundle)!r})
        print(json.dumps({{"torch": "torch" in sys.modules, "passed": report["passed"]}}))
    """)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1]) == {"torch": False, "passed": True}


def test_missing_onnxruntime_names_the_extra(bundle):
    res = _run(f"""
        import sys
        sys.modules["onnxruntime"] = None  # as if it were not installed
        from flowfm_edge import runtimes
        try:
            runtimes.load({str(bundle)!r}, backend="onnxruntime")
        except ImportError as exc:
            print(exc)
    """)
    assert res.returncode == 0, res.stderr
    assert "backend 'onnxruntime' needs the Python package 'onnxruntime'" in res.stdout
    assert "pip install onnxruntime" in res.stdout
