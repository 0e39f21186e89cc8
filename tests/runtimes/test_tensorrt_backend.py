"""The tensorrt backend without a GPU: refusals, chunking and padding, golden rows (fake TensorRT and CUDA).

The fake engine doubles its input, so the plumbing (shapes, batches, buffers, CUDA graphs)
is checked without TensorRT; the real run is the ``gpu``-marked test at the end.
"""

import json
import sys
import types

import numpy as np
import pytest

from flowfm_edge.bundle.manifest import file_entry, write_manifest

from flowfm_edge.bundle.schema import BundleError
from flowfm_edge.runtimes import tensorrt_backend
from flowfm_edge.runtimes.tensorrt_backend import EngineMismatch, TensorRTBackend, load_tensorrt

HERE = {"name": "Orin", "compute_capability": "8.7", "via": "fake"}


class FakeMem:
    graphs = True
    stream_handle = 7

    def __init__(self):
        self.buffers, self.captures, self.launches = {}, 0, 0

    def alloc(self, nbytes):
        ptr = len(self.buffers) + 1
        self.buffers[ptr] = np.zeros(nbytes // 4, np.float32)
        return ptr

    def h2d(self, ptr, host):
        self.buffers[ptr][: host.size] = host.ravel()

    def d2h(self, host, ptr):
        host.ravel()[:] = self.buffers[ptr][: host.size]

    def sync(self):
        pass

    def capture(self, enqueue):
        self.captures += 1
        return enqueue

    def launch(self, graph):
        self.launches += 1
        graph()


def fake_tensorrt(mem, version="10.3.0", batch=(2, 4, 8)):
    trt = types.SimpleNamespace(__version__=version, TensorIOMode=types.SimpleNamespace(INPUT="in", OUTPUT="out"))
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level=2: None})
    trt.nptype = lambda dtype: np.float32

    class Context:
        def __init__(self):
            self.shapes = {}

        def set_input_shape(self, name, shape):
            self.shapes[name] = tuple(shape)

        def get_tensor_shape(self, name):
            return self.shapes["x"] if name == "y" else self.shapes[name]

        def set_tensor_address(self, name, ptr):
            self.shapes.setdefault("ptr", {})[name] = ptr

        def execute_async_v3(self, stream):
            ptrs, n = self.shapes["ptr"], int(np.prod(self.shapes["x"]))
            mem.buffers[ptrs["y"]][:n] = 2 * mem.buffers[ptrs["x"]][:n]
            return True

    class Engine:
        num_io_tensors = 2

        def get_tensor_name(self, i):
            return ["x", "y"][i]

        def get_tensor_mode(self, name):
            return "in" if name == "x" else "out"

        def get_tensor_dtype(self, name):
            return "float32"

        def get_tensor_profile_shape(self, name, k):
            return [(b, 3) for b in batch]

        def create_execution_context(self):
            return Context()

    trt.Runtime = lambda logger: types.SimpleNamespace(deserialize_cuda_engine=lambda data: Engine() if data else None)
    return trt


def fake_bundle(tmp_path, device=None):
    """A manifest with one 'sampler' engine record and its plan file."""
    (tmp_path / "engines").mkdir(parents=True)
    plan = tmp_path / "engines" / "sampler-euler-4.fp16.plan"
    plan.write_bytes(b"PLAN")
    manifest = {"schema_version": 1, "signal": {"channels": ["x", "y", "z"], "window": 300, "units": "g", "sample_rate_hz": 30},
                "model": {"config": {"r_dim": 3}}, "graphs": {"sampler-euler-4": {"graph": "sampler"}},
                "artefacts": [], "golden": {},
                "samplers": [{"name": "sampler-euler-4", "solver": "euler", "steps": 4, "guidance": None}],
                "engines": [{"name": "sampler-euler-4", "precision": "fp16", "requested": "fp16",
                             "file": file_entry(tmp_path, plan),
                             "device": device or {"tensorrt": "10.3.0", "compute_capability": "8.7", "gpu": "Orin"},
                             "golden_check": {"against": "reference", "metric": "rel_l2", "tolerance": 0.01}}]}
    write_manifest(tmp_path, manifest)
    return tmp_path


@pytest.fixture
def fakes(monkeypatch):
    mem = FakeMem()
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(mem))
    monkeypatch.setitem(sys.modules, "flowfm_edge.runtimes.cuda_mem", types.SimpleNamespace(open_cuda=lambda: mem))
    monkeypatch.setattr(tensorrt_backend, "gpu", lambda: HERE)
    return mem


def test_runs_in_chunks_pads_and_replays_cuda_graphs(tmp_path, fakes):
    bundle = fake_bundle(tmp_path)
    backend = TensorRTBackend(bundle, json.loads((bundle / "manifest.json").read_text()), cuda_graph=True)
    assert backend.precisions("sampler-euler-4") == ["fp16"]
    x = np.arange(11 * 3, dtype=np.float32).reshape(11, 3)
    out = backend.run("sampler-euler-4", "fp16", {"x": x})  # chunks of 8 and 3
    np.testing.assert_array_equal(out, 2 * x)
    one = backend.run("sampler-euler-4", "fp16", {"x": x[:1]})  # padded to the profile's minimum batch 2
    np.testing.assert_array_equal(one, 2 * x[:1])
    assert fakes.captures == 3 and fakes.launches == 3  # recaptured whenever the batch size changed
    backend.run("sampler-euler-4", "fp16", {"x": x[:1]})
    assert fakes.captures == 3 and fakes.launches == 4
    assert backend.golden_rows() == [("sampler-euler-4", "fp16", {"against": "reference", "metric": "rel_l2",
                                                                  "tolerance": 0.01})]


def test_refuses_other_tensorrt_or_gpu(tmp_path, fakes):
    bundle = fake_bundle(tmp_path, device={"tensorrt": "8.6.2", "compute_capability": "7.2", "gpu": "Xavier"})
    rt = load_tensorrt(bundle, precision="fp16")
    with pytest.raises(EngineMismatch) as err:
        rt.generate(n=1, steps=4)
    msg = str(err.value)
    assert "TensorRT 8.6.2 built it and this machine has TensorRT 10.3.0" in msg
    assert "compute capability 7.2 (Xavier) and this GPU is 8.7 (Orin)" in msg
    assert f"flowfm-edge build-engine {bundle} --precision fp16" in msg


def test_missing_engines_and_tampered_plan(tmp_path, fakes):
    bundle = fake_bundle(tmp_path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    with pytest.raises(BundleError, match="no TensorRT engines yet; build them on this device with `flowfm-edge build-engine"):
        TensorRTBackend(bundle, {**manifest, "engines": []})
    backend = TensorRTBackend(bundle, manifest)
    with pytest.raises(BundleError, match="no int8 engine for 'sampler-euler-4'; built: fp16"):
        backend.run("sampler-euler-4", "int8", {"x": np.zeros((2, 3), np.float32)})
    (bundle / "engines" / "sampler-euler-4.fp16.plan").write_bytes(b"other")
    with pytest.raises(BundleError, match="missing or modified since it was built; rebuild"):
        backend.run("sampler-euler-4", "fp16", {"x": np.zeros((2, 3), np.float32)})


def test_no_cuda_binding_names_both(monkeypatch):
    from flowfm_edge.runtimes import BackendUnavailable
    from flowfm_edge.runtimes.cuda_mem import open_cuda

    monkeypatch.setitem(sys.modules, "cuda", None)
    monkeypatch.setitem(sys.modules, "cuda.bindings", None)
    monkeypatch.setitem(sys.modules, "pycuda", None)
    monkeypatch.setitem(sys.modules, "pycuda.autoinit", None)
    with pytest.raises(BackendUnavailable, match="pip install cuda-python.*pycuda"):
        open_cuda()


@pytest.mark.gpu
def test_tensorrt_runtime_on_a_real_gpu(tmp_path):
    """Build a jetson bundle's engines and run them through the one runtime API; needs TensorRT and a GPU."""
    pytest.importorskip("tensorrt", reason="needs TensorRT (JetPack on a Jetson) and an NVIDIA GPU")
    pytest.importorskip("cuda", reason="needs cuda-python for device buffers")
    from flowfm_edge import runtimes
    from flowfm_edge.export import ExportOptions, export_bundle
    from flowfm_edge.runtimes.engine_build import build_engines

    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("fx", Path(__file__).parents[1] / "export" / "fixtures.py")
    fx = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fx)
    out = tmp_path / "bundle"
    export_bundle(fx.nano_run(tmp_path), out, ExportOptions(target="jetson", precisions=["fp16"], steps=[4],
                                                            calib=fx.activity_windows(seed=1)))
    build_engines(out, "fp16")
    rt = runtimes.load(out, backend="tensorrt", precision="fp16")
    x = fx.activity_windows(seed=2).X[:5]
    ref = runtimes.load(out, backend="onnxruntime", precision="fp32")
    np.testing.assert_allclose(rt.embed(x), ref.embed(x), rtol=0.05, atol=0.05)
    assert rt.generate(n=3, steps=4, seed=1).shape == (3, 3, 300)
    assert runtimes.validate_bundle(out, backend="tensorrt")["passed"]
