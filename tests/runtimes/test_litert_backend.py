"""The litert backend: same API, shapes and dtypes as the others, parity with torch, golden checks, no torch.

Needs the [litert] extra (ai-edge-litert, and litert-torch to build the bundle); skips without it.
"""

import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

from flowfm_edge import runtimes
from flowfm_edge.cli import app
from flowfm_edge.runtimes import BundleError

pytestmark = pytest.mark.litert

# relative L2 to the torch backend allowed per precision (nano model, real windows)
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2, "int8-dynamic": 0.1, "int8": 0.1}


@pytest.fixture(scope="module")
def x(activity):
    return activity.X[::11][:5]


@pytest.fixture(scope="module")
def torch_rt(litert_bundle):
    return runtimes.load(litert_bundle, backend="torch")


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("precision", list(TOLERANCE))
def test_shapes_dtypes_and_parity_with_torch(litert_bundle, torch_rt, x, precision):
    rt = runtimes.load(litert_bundle, backend="litert", precision=precision, threads=2)
    r, logits = rt.embed(x), rt.classify(x)
    assert r.shape == (5, 64) and r.dtype == np.float32  # batch 5 through a batch-1 model, in chunks
    assert logits.shape == (5, 3) and logits.dtype == np.float32
    assert rt.embed(x[0]).shape == (1, 64)
    assert _rel(r, torch_rt.embed(x)) < TOLERANCE[precision]
    assert _rel(logits, torch_rt.classify(x)) < TOLERANCE[precision]
    assert (logits.argmax(1) == torch_rt.classify(x).argmax(1)).mean() >= 0.8
    gen = rt.generate(n=3, steps=2, seed=4)
    assert gen.shape == (3, 3, 300) and gen.dtype == np.float32 and np.isfinite(gen).all()
    cond = rt.generate(r=torch_rt.embed(x[:2]), steps=2, seed=4)
    ref = torch_rt.generate(r=torch_rt.embed(x[:2]), steps=2, seed=4)
    norm = rt.manifest["signal"]["normalisation"]
    mean, std = np.reshape(norm["mean"], (1, -1, 1)), np.reshape(norm["std"], (1, -1, 1))
    assert _rel((cond - mean) / std, (ref - mean) / std) < TOLERANCE[precision]


def test_validate_cli_passes_and_catches_tampering(litert_bundle, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["validate", str(litert_bundle), "--backend", "litert", "--threads", "2"])
    assert res.exit_code == 0, res.output
    # 4 graphs x 4 precisions, and the prior over r (numpy, the same on every backend)
    assert "17 golden checks passed with litert" in " ".join(res.output.split())  # a long path may wrap the line
    for precision in ("fp32", "fp16", "int8-dynamic", "int8"):
        assert f"classifier             {precision}" in res.output
    assert "ok   prior" in res.output
    copy = tmp_path / "bundle"
    shutil.copytree(litert_bundle, copy)
    shutil.copy(copy / "litert" / "encoder.fp32.tflite", copy / "litert" / "encoder.int8.tflite")
    res = runner.invoke(app, ["validate", str(copy), "--backend", "litert"])
    assert res.exit_code == 1 and "litert/encoder.int8.tflite: sha256 mismatch" in res.output
    with pytest.raises(BundleError, match=r"encoder.int8.tflite: sha256 mismatch"):
        runtimes.load(copy, backend="litert", precision="int8").embed(np.zeros((1, 3, 300), np.float32))


def test_malformed_model_is_caught_in_a_child_process(tmp_path):
    pytest.importorskip("ai_edge_litert", reason="needs the [litert] extra: pip install 'flowfm-edge[litert]'")
    from flowfm_edge.runtimes.litert_interpreter import LiteRTCrash, run_isolated

    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"TFL3" + bytes(range(256)) * 4)
    with pytest.raises(LiteRTCrash, match=r"while loading or running .*bad.tflite: the model is malformed"):
        run_isolated([(bad, {"x": np.zeros((1, 3, 300), np.float32)})])


def test_errors_name_the_fix(litert_bundle, bundle):
    rt = runtimes.load(litert_bundle, backend="litert", precision="int8")
    with pytest.raises(BundleError, match="no fused sampler for solver=any, steps=8; the bundle has: euler x 2"):
        rt.generate(n=1, steps=8)
    with pytest.raises(BundleError, match="no LiteRT models in this bundle.*--target android"):
        runtimes.load(bundle, backend="litert").embed(np.zeros((1, 3, 300), np.float32))
    with pytest.raises(BundleError, match="has no int8 artefact for backend 'onnxruntime'|no ONNX artefact"):
        runtimes.load(litert_bundle, backend="onnxruntime", precision="int8").embed(np.zeros((1, 3, 300), np.float32))


def test_litert_backend_never_imports_torch(litert_bundle):
    code = f"""
        import sys, json
        import numpy as np
        from flowfm_edge import runtimes
        rt = runtimes.load({str(litert_bundle)!r}, backend="litert", precision="int8")
        x = np.ones((2, 3, 300), np.float32)
        rt.embed(x); rt.classify(x); rt.generate(n=2, steps=2)
        print(json.dumps({{"torch": "torch" in sys.modules}}))
    """
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert '"torch": false' in res.stdout
