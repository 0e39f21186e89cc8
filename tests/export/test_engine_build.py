"""build-engine without a GPU: recipe choice, FP32 pinning, manifest records, device facts, refusals.

A small fake of the TensorRT Python API stands in for the real one (it records what the
builder was asked to do); the real build is the ``gpu``-marked test at the end.
"""

import json
import shlex
import shutil
import sys
import types
from pathlib import Path

import pytest

from flowfm_edge.runtimes import engine_build
from flowfm_edge.runtimes.engine_build import build_engines, pin_fp32_layers, select_recipes
from flowfm_edge.bundle.manifest import read_manifest, verify_files
from flowfm_edge.bundle.schema import BundleError
from flowfm_edge.runtimes.trt_device import (clocks, device_facts, engine_problem, jetson, missing_tensorrt_message,
                                           power_mode)


class _Tensor:
    def __init__(self, name, dtype="f32"):
        self.name, self.dtype = name, dtype


class _Layer:
    def __init__(self, name, type_, inputs, outputs, dtype="f32"):
        self.name, self.type, self.precision, self.output_types = name, type_, None, {}
        self._in = [_Tensor(i) for i in inputs]
        self._out = [_Tensor(o, dtype) for o in outputs]
        self.num_inputs, self.num_outputs = len(self._in), len(self._out)

    def get_input(self, j):
        return self._in[j]

    def get_output(self, k):
        return self._out[k]

    def set_output_type(self, k, dtype):
        self.output_types[k] = dtype


def fake_network():
    """x -> conv -> norm -> matmul(+cond) ; t -> sin -> gemm (cond) ; a constant and a shape layer."""
    return [_Layer("conv", "CONV", ["x"], ["c"]), _Layer("norm", "NORMALIZATION", ["c"], ["n"]),
            _Layer("sin", "UNARY", ["t"], ["s"]), _Layer("ada", "MATMUL", ["s"], ["a"]),
            _Layer("w", "CONSTANT", [], ["wt"]), _Layer("shape", "SHAPE", ["t"], ["sh"], dtype="i64"),
            _Layer("mix", "ELEMENTWISE", ["n", "a"], ["v"])]


def fake_tensorrt(version="10.3.0", parse_ok=True, dla_cores=2):
    trt = types.SimpleNamespace(__version__=version, float32="f32", calls=[])
    trt.LayerType = types.SimpleNamespace(CONSTANT="CONSTANT", SHAPE="SHAPE", QUANTIZE="Q", DEQUANTIZE="DQ",
                                          NORMALIZATION="NORMALIZATION")
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level=2: None})
    trt.BuilderFlag = types.SimpleNamespace(**{f: f for f in ("FP16", "INT8", "TF32", "PREFER_PRECISION_CONSTRAINTS",
                                                              "GPU_FALLBACK")})
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
    trt.DeviceType = types.SimpleNamespace(DLA="DLA")
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(EXPLICIT_BATCH=0)

    class Network:
        def __init__(self):
            self.layers = fake_network()
            self.num_layers = len(self.layers)

        def get_layer(self, i):
            return self.layers[i]

    class Parser:
        def __init__(self, network, logger):
            self.num_errors = 0 if parse_ok else 1

        def parse_from_file(self, path):
            trt.calls.append(("parse", Path(path).name))
            return parse_ok

        def get_error(self, i):
            return "In node 3 (Gelu): UNSUPPORTED_NODE"

    class Cache:
        def __init__(self, data):
            self.data = data

        def serialize(self):
            return self.data + b"+"

    class Config:
        def __init__(self):
            self.flags, self.cache = set(), None

        def set_memory_pool_limit(self, pool, size):
            trt.calls.append(("workspace", size))

        def set_flag(self, f):
            self.flags.add(f)

        def clear_flag(self, f):
            trt.calls.append(("clear", f))

        def create_timing_cache(self, data):
            return Cache(data)

        def set_timing_cache(self, cache, ignore_mismatch):
            self.cache = cache

        def get_timing_cache(self):
            return self.cache

        def add_optimization_profile(self, profile):
            trt.calls.append(("profile", dict(profile.shapes)))

    class Profile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, lo, opt, hi):
            self.shapes[name] = (lo, opt, hi)

    class Builder:
        num_DLA_cores = dla_cores

        def __init__(self, logger):
            pass

        def create_network(self, flags):
            return Network()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            trt.calls.append(("flags", sorted(config.flags)))
            return b"PLAN:" + ",".join(sorted(config.flags)).encode()

    trt.Builder, trt.OnnxParser = Builder, Parser
    return trt


GPU = {"name": "Orin", "compute_capability": "8.7", "via": "fake"}


@pytest.fixture
def small_bundle(nano_run, tmp_path_factory, activity):
    pytest.importorskip("onnxruntime")
    base = tmp_path_factory.getbasetemp() / "engine-build-bundle"
    if not (base / "manifest.json").is_file():
        from flowfm_edge.export import ExportOptions, export_bundle

        export_bundle(nano_run, base, ExportOptions(target="jetson", precisions=["fp16", "int8"], graphs=["encoder", "velocity"],
                                                    calib=activity, calib_size=32, val_size=36))
    return base


@pytest.fixture
def fake_trt(monkeypatch):
    trt = fake_tensorrt()
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(engine_build, "gpu", lambda: GPU)
    return trt


def test_select_recipes():
    build = {"recipes": [{"name": "encoder", "precision": p} for p in ("fp16", "int8")] + [{"name": "velocity", "precision": "fp16"}]}
    assert [(r["name"], r["precision"], q) for r, q in select_recipes(build, "best")] == [
        ("encoder", "int8", "best"), ("velocity", "fp16", "best")]
    assert len(select_recipes(build, "fp16")) == 2
    with pytest.raises(BundleError, match=r"no fp32 recipes \(it has: fp16, int8\); re-export .*--precision fp32"):
        select_recipes(build, "fp32")
    with pytest.raises(ValueError, match="choose from fp32, fp16, int8, best"):
        select_recipes(build, "fp8")


def test_pin_fp32_layers():
    trt = fake_tensorrt()
    network = types.SimpleNamespace(layers=fake_network())
    network.num_layers, network.get_layer = len(network.layers), network.layers.__getitem__
    assert pin_fp32_layers(trt, network, "x") == ["norm", "sin", "ada"]
    layers = {layer.name: layer for layer in network.layers}
    assert layers["sin"].precision == "f32" and layers["sin"].output_types == {0: "f32"}
    assert layers["conv"].precision is None and layers["mix"].precision is None and layers["shape"].precision is None


def test_build_engines_writes_plans_and_records(small_bundle, tmp_path, fake_trt, monkeypatch):
    bundle = tmp_path / "b"
    shutil.copytree(small_bundle, bundle)
    lines = []
    records = build_engines(bundle, "best", workspace_gib=0.5, log=lines.append)
    assert [(r["name"], r["precision"], r["requested"]) for r in records] == [("encoder", "int8", "best"),
                                                                             ("velocity", "int8", "best")]
    assert ("flags", ["FP16", "INT8", "PREFER_PRECISION_CONSTRAINTS"]) in fake_trt.calls
    assert ("workspace", 1 << 29) in fake_trt.calls and ("parse", "encoder.int8.onnx") in fake_trt.calls
    plan = bundle / "engines" / "encoder.int8.plan"
    assert plan.read_bytes().startswith(b"PLAN:")  # the serialised plan as TensorRT returned it, no header
    assert (bundle / "engines" / "timing.cache").read_bytes() == b"++"  # one cache, updated by each build
    m = read_manifest(bundle)
    rec = m["engines"][0]
    assert rec["device"]["tensorrt"] == "10.3.0" and rec["device"]["compute_capability"] == "8.7"
    assert rec["format"] == "tensorrt-plan" and rec["build"]["fp32_layers"] == ["norm", "sin", "ada"]
    assert rec["build"]["timing_cache"] == "engines/timing.cache" and m["build"]["built_on"]["gpu"] == "Orin"
    args = shlex.split(rec["build"]["trtexec"])
    assert "--saveEngine=engines/encoder.int8.plan" in args and "--layerPrecisions=norm:fp32,sin:fp32,ada:fp32" in args
    assert verify_files(bundle, m) == []
    build_engines(bundle, "fp16", log=lines.append)  # adds fp16 engines, keeps the int8 ones
    m = read_manifest(bundle)
    assert sorted((e["name"], e["precision"]) for e in m["engines"]) == [
        ("encoder", "fp16"), ("encoder", "int8"), ("velocity", "fp16"), ("velocity", "int8")]
    plan.write_bytes(b"tampered")
    with pytest.raises(BundleError, match="refusing to build from modified or missing files: engines/encoder.int8.plan"):
        build_engines(bundle, "fp16")


def test_build_errors(small_bundle, tmp_path, monkeypatch):
    bundle = tmp_path / "b"
    shutil.copytree(small_bundle, bundle)
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(parse_ok=False))
    monkeypatch.setattr(engine_build, "gpu", lambda: GPU)
    with pytest.raises(engine_build.EngineBuildError, match="could not parse the graph: In node 3 \\(Gelu\\)"):
        build_engines(bundle, "fp16")
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(dla_cores=0))
    with pytest.raises(engine_build.EngineBuildError, match="--dla-core 0: this device has 0 DLA cores"):
        build_engines(bundle, "fp16", dla_core=0)
    cpu = tmp_path / "cpu"
    shutil.copytree(small_bundle, cpu)
    m = json.loads((cpu / "manifest.json").read_text())
    del m["build"]
    m["target"]["name"] = "cpu"
    (cpu / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="exported for target 'cpu', which has no TensorRT build recipe.*--target jetson"):
        build_engines(cpu)


def test_missing_tensorrt_explains_jetpack(small_bundle, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(ImportError, match="TensorRT's Python bindings are not installed.*JetPack.*never installs TensorRT"):
        build_engines(small_bundle, "fp16")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "nv_tegra_release").write_text("# R36 (release), REVISION: 4.3\n")
    msg = missing_tensorrt_message(root=tmp_path)
    assert "this is a Jetson" in msg and "sudo apt install nvidia-jetpack" in msg and "pip install" not in msg


def test_device_facts_from_files(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "nv_tegra_release").write_text("# R36 (release), REVISION: 3.0, GCID: 1, BOARD: generic\n")
    gpu_dev = tmp_path / "sys" / "class" / "devfreq" / "17000000.gpu"
    gpu_dev.mkdir(parents=True)
    for key, hz in (("cur_freq", "918000000"), ("max_freq", "1300500000"), ("min_freq", "306000000")):
        (gpu_dev / key).write_text(hz + "\n")
    commands = {"nvpmodel": "NV Power Mode: MAXN\n0\n", "dpkg-query": None, "nvidia-smi": None}
    run = lambda cmd: commands.get(cmd[0])  # noqa: E731
    facts = device_facts("10.3.0", GPU, root=tmp_path, run=run)
    assert facts["jetson"]["l4t"] == "36.3.0" and facts["jetson"]["jetpack"] == "6.0"
    assert facts["jetson"]["jetpack_source"] == "L4T release table"
    assert facts["power_mode"] == {"name": "MAXN", "id": 0, "source": "nvpmodel -q"}
    assert facts["clocks"]["devfreq/17000000.gpu"] == {"cur_hz": 918000000, "min_hz": 306000000, "max_hz": 1300500000}
    assert jetson(tmp_path, lambda cmd: "6.2.1+b38")["jetpack"] == "6.2.1"
    assert jetson(tmp_path / "nowhere") is None and power_mode(lambda cmd: None) is None
    assert clocks(tmp_path / "nowhere", lambda cmd: "1410, 1593\n")["nvidia_smi"] == {"sm_mhz": 1410.0, "mem_mhz": 1593.0}


def test_engine_refusal_messages():
    record = {"name": "encoder", "precision": "fp16", "requested": "fp16", "file": {"path": "engines/encoder.fp16.plan"},
              "device": {"tensorrt": "10.3.0", "compute_capability": "8.7", "gpu": "Orin"}}
    assert engine_problem(record, {"tensorrt": "10.3.0", "compute_capability": "8.7", "gpu": "Orin"}) is None
    msg = engine_problem(record, {"tensorrt": "10.7.0", "compute_capability": "8.9", "gpu": "RTX 4090"}, "b")
    assert msg.startswith("engines/encoder.fp16.plan: refusing to load this TensorRT engine")
    assert "TensorRT 10.3.0 built it and this machine has TensorRT 10.7.0" in msg
    assert "built for compute capability 8.7 (Orin) and this GPU is 8.9 (RTX 4090)" in msg
    assert msg.endswith("`flowfm-edge build-engine b --precision fp16`")


@pytest.mark.gpu
def test_build_on_a_real_gpu(small_bundle, tmp_path):
    """The real TensorRT build and golden checks; runs only where TensorRT and a GPU exist."""
    pytest.importorskip("tensorrt", reason="needs TensorRT (JetPack on a Jetson) and an NVIDIA GPU")
    from flowfm_edge.runtimes import validate_bundle

    bundle = tmp_path / "b"
    shutil.copytree(small_bundle, bundle)
    records = build_engines(bundle, "fp16")
    assert records and all((bundle / r["file"]["path"]).stat().st_size > 0 for r in records)
    assert validate_bundle(bundle, backend="tensorrt")["passed"]


def test_tensorrt_11_builds_strongly_typed_and_refuses_fp16_recipes():
    from flowfm_edge.runtimes.engine_build import EngineBuildError, check_typing

    recipe = {"name": "encoder", "precision": "int8"}
    assert check_typing(types.SimpleNamespace(__version__="10.3.0"), recipe) is False
    assert check_typing(types.SimpleNamespace(__version__="11.5.0"), recipe) is True
    assert check_typing(types.SimpleNamespace(__version__="11.0.1"), {**recipe, "precision": "fp32"}) is True
    with pytest.raises(EngineBuildError, match="strongly typed.*build --precision int8 or fp32"):
        check_typing(types.SimpleNamespace(__version__="11.0.1"), {**recipe, "precision": "fp16"})
    assert check_typing(types.SimpleNamespace(__version__="10.15.1"), {**recipe, "precision": "fp16"}) is False
