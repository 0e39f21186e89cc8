"""The jetson target on the host: operator check, Q/DQ placement, FP16 readiness, recipes, manifest, CLI."""

import json
import shlex

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from flowfm_edge.export import ExportOptions, export_bundle
from flowfm_edge.bundle.manifest import read_manifest
from flowfm_edge.export.tensorrt.ops import OPS, check_ops, opset_release
from flowfm_edge.export.tensorrt.quantize import qdq_placement
from flowfm_edge.bundle.recipes import golden_tolerance, parse_profile, profile_shapes, recipe, trtexec_line


@pytest.fixture(scope="module")
def jetson_bundle(nano_run, tmp_path_factory, activity):
    pytest.importorskip("onnxruntime")
    out = tmp_path_factory.mktemp("jetson") / "bundle"
    opts = ExportOptions(target="jetson", precisions=["fp32", "fp16", "int8"], steps=[2], calib=activity,
                         calib_size=32, val_size=36, batch_profile=(1, 4, 16))
    export_bundle(nano_run, out, opts)
    return out


def _graph(nodes, inits=(), opset=17, inputs=("x",)):
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in inputs]
    out = helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)
    g = helper.make_graph(nodes, "g", ins, [out], initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _save(model, tmp_path, name="m.onnx"):
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def test_table_is_data():
    assert OPS["MatMul"].since == "8.6" and OPS["Gelu"].since == "10.0"
    assert OPS["MatMulInteger"].since is None and "QDQ" in OPS["MatMulInteger"].note
    assert "JetPack 5.1" in OPS["LayerNormalization"].note
    assert opset_release(17) == "8.6" and opset_release(18) == "10.0" and opset_release(30) is None


def test_op_check_names_unsupported_ops(tmp_path):
    w = numpy_helper.from_array(np.ones((4, 4), np.int8), "w")
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="ok_relu"),
             helper.make_node("MatMulInteger", ["a", "w"], ["b"], name="mmi"),
             helper.make_node("Gelu", ["b"], ["c"], name="gelu"),
             helper.make_node("MyOp", ["c"], ["d"], name="custom", domain="com.example")]
    report = check_ops(_save(_graph(nodes, [w], opset=20), tmp_path))
    assert not report["passed"] and report["ops"]["Relu"] == 1
    text = " | ".join(report["problems"])
    assert "opset 20: TensorRT 8.6 parses ONNX opsets up to 17 (opset 20 needs TensorRT 10.0)" in text
    assert "MatMulInteger node 'mmi': integer ops: use QuantizeLinear/DequantizeLinear" in text
    assert "Gelu node 'gelu': needs TensorRT 10.0 or newer" in text
    assert "MyOp node 'custom': custom domain 'com.example' needs a TensorRT plugin" in text
    assert check_ops(_save(_graph(nodes[:1], opset=17), tmp_path, "ok.onnx"))["passed"]


def test_op_check_qdq_and_constant_rules(tmp_path):
    scale = numpy_helper.from_array(np.array(0.1, np.float32), "s")
    u8 = numpy_helper.from_array(np.array(128, np.uint8), "zp_u8")
    axes = helper.make_tensor_value_info("axes", TensorProto.INT64, [1])
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp_u8"], ["q"], name="asym_q"),
             helper.make_node("DequantizeLinear", ["q", "s", "zp_u8"], ["dq"], name="asym_dq"),
             helper.make_node("Unsqueeze", ["dq", "axes"], ["u"], name="dyn_axes")]
    model = _graph(nodes, [scale, u8])
    model.graph.input.append(axes)
    report = check_ops(_save(model, tmp_path))
    text = " | ".join(report["problems"])
    assert "asym_q': zero point type 2 is not int8" in text
    assert "Unsqueeze node 'dyn_axes': input 1 ('axes') must be a build-time constant" in text


def test_bundle_manifest_and_recipes(jetson_bundle):
    m = read_manifest(jetson_bundle)
    assert m["target"]["name"] == "jetson"
    names = {(a["name"], a["precision"]) for a in m["artefacts"]}
    assert ("encoder", "fp32") in names and ("sampler-euler-2", "int8") in names
    assert not any("tensorrt_recipes" in a for a in m["artefacts"])
    build = m["build"]
    assert build["backend"] == "tensorrt" and build["tensorrt_range"] == "8.6-11.x" and build["onnx_opset"] == 17
    assert build["profile"]["batch"] == {"min": 1, "opt": 4, "max": 16} and m["engines"] == []
    assert all(r["passed"] for r in build["op_support"].values())
    recipes = {(r["name"], r["precision"]): r for r in build["recipes"]}
    assert set(recipes) == {(g, p) for g in ("encoder", "classifier", "velocity", "sampler-euler-2")
                            for p in ("fp32", "fp16", "int8")}
    fp16 = recipes[("velocity", "fp16")]
    assert fp16["onnx"] == "onnx/velocity.fp32.onnx" and fp16["plan"] == "engines/velocity.fp16.plan"
    assert fp16["builder_flags"] == ["FP16"] and fp16["signal_input"] == "z_t"
    assert fp16["profile"]["shapes"]["t"] == {"min": [1], "opt": [4], "max": [16]}
    assert fp16["profile"]["shapes"]["z_t"]["max"] == [16, 3, 300]
    pinned = fp16["fp32_layers"]["onnx_nodes"]
    assert any("time" in n and n.endswith("Sin") for n in pinned) and any("LayerNormalization" in n for n in pinned)
    assert fp16["host_check"]["gate"]["passed"] and fp16["host_check"]["fp16_readiness"]["beyond_headroom"] == []
    assert fp16["golden_check"]["against"] == "reference" and fp16["golden_check"]["tolerance"] >= 1e-2
    int8 = recipes[("encoder", "int8")]
    assert int8["onnx"] == "onnx/encoder.int8.onnx" and int8["builder_flags"] == ["INT8", "FP16"]
    assert recipes[("encoder", "fp32")]["fp32_layers"] is None and "--noTF32" in recipes[("encoder", "fp32")]["trtexec"]
    for r in recipes.values():
        args = shlex.split(r["trtexec"])
        assert args[0] == "trtexec" and f"--onnx={r['onnx']}" in args and f"--saveEngine={r['plan']}" in args
        assert any(a.startswith("--minShapes=") for a in args) and "--memPoolSize=workspace:1024M" in args


def test_int8_qdq_placed_for_tensorrt(jetson_bundle):
    m = read_manifest(jetson_bundle)
    for a in m["artefacts"]:
        if a["precision"] != "int8":
            continue
        q = a["quantisation"]
        assert q["symmetric"] and q["activation_type"] == "int8" and q["zero_point"] == 0 and q["bias"] == "float"
        p = q["placement"]
        assert p["problems"] == [] and p["dedicated_pairs"] and p["symmetric_int8"] and p["quantised"]["MatMul"] > 0
        assert qdq_placement(jetson_bundle / a["file"]["path"]) == p
        # checked with Q/DQ in float, as TensorRT computes it, not with onnxruntime's saturating x86 kernels
        assert a["onnxruntime"]["graph_optimization"] == "disabled"
    classifier = next(a for a in m["artefacts"] if a["name"] == "classifier" and a["precision"] == "int8")
    assert classifier["quantisation"]["float_head"]
    assert not any(a["quantisation"]["float_head"] for a in m["artefacts"]
                   if a["precision"] == "int8" and a["name"] in ("encoder", "velocity"))
    graph = onnx.load(str(jetson_bundle / classifier["file"]["path"])).graph
    producer = {o: n for n in graph.node for o in n.output}
    head = producer[graph.output[0].name]
    while head.op_type not in ("Gemm", "MatMul"):
        head = producer[head.input[0]]
    assert head.input[1] in {i.name for i in graph.initializer}  # a float weight, no Q/DQ pair in front of it
    assert producer[head.input[0]].op_type != "DequantizeLinear"  # and a float activation
    velocity = next(a for a in m["artefacts"] if a["name"] == "velocity" and a["precision"] == "int8")
    assert "Gemm" not in velocity["quantisation"]["placement"]["quantised"]  # adaLN conditioning stays float
    graph = onnx.load(str(jetson_bundle / "onnx" / "velocity.int8.onnx")).graph
    inits = {i.name: i for i in graph.initializer}
    for n in graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            zp = inits[n.input[2]]
            assert zp.data_type == TensorProto.INT8 and not numpy_helper.to_array(zp).any()


def test_golden_files_and_onnxruntime_validation(jetson_bundle):
    from flowfm_edge.runtimes import validate_bundle

    m = read_manifest(jetson_bundle)
    assert {"reference", "output.fp32", "output.fp16", "output.int8"} <= set(m["golden"]["encoder"]["files"])
    report = validate_bundle(jetson_bundle)
    assert m["prior"]["file"]["path"] == "prior/prior.npz"  # the run's prior over r, checked like the artefacts
    assert report["passed"] and len(report["checks"]) == len(m["artefacts"]) + 1


def test_recipe_and_profile_helpers():
    assert parse_profile("1, 8,64") == (1, 8, 64)
    for bad, msg in (("1,8", "three batch sizes"), ("8,4,16", "MIN <= OPT <= MAX"), ("0,1,2", "1 <= MIN")):
        with pytest.raises(ValueError, match=msg):
            parse_profile(bad)
    shapes = profile_shapes({"noise": ["batch", 3, 300], "w": ["batch"]}, (2, 4, 8))
    assert shapes["w"] == {"min": [2], "opt": [4], "max": [8]}
    line = trtexec_line("onnx/s.int8.onnx", "engines/s.int8.plan", "int8", shapes, ["/a b", "c"], 2.0, None, dla_core=0)
    args = shlex.split(line)
    assert args[1:4] == ["--onnx=onnx/s.int8.onnx", "--saveEngine=engines/s.int8.plan", "--int8"]
    assert "--minShapes=noise:2x3x300,w:2" in args and "--memPoolSize=workspace:2048M" in args
    assert "--useDLACore=0" in args and "--allowGPUFallback" in args and "--precisionConstraints=prefer" in args
    assert "--layerPrecisions=/a b:fp32,c:fp32" in args and not any("timingCache" in a for a in args)
    r = recipe("encoder", "encoder", "fp16", "onnx/encoder.fp32.onnx", {"x": ["batch", 3, 300]}, (1, 1, 1), [])
    assert r["fp32_layers"] == {"rule": r["fp32_layers"]["rule"], "onnx_nodes": []} and "--precisionConstraints" not in r["trtexec"]
    assert golden_tolerance("fp16", 0.01)["tolerance"] == 0.04 and golden_tolerance("int8", 0.001)["tolerance"] == 0.05


def test_export_cli_jetson(nano_run, tmp_path, activity):
    from flowfm_edge.cli import app
    from flowfm_edge.data import save_npz

    pytest.importorskip("onnxruntime")
    calib = save_npz(tmp_path / "calib.npz", activity)
    out = tmp_path / "b"
    res = CliRunner().invoke(app, ["export", str(nano_run), "--out", str(out), "--target", "jetson", "--graphs",
                                   "encoder", "--calib", str(calib), "--batch-profile", "1,2,4"])
    assert res.exit_code == 0, res.output
    m = json.loads((out / "manifest.json").read_text())
    assert sorted(r["precision"] for r in m["build"]["recipes"]) == ["fp16", "int8"]  # the target's defaults
    assert m["build"]["profile"]["batch"] == {"min": 1, "opt": 2, "max": 4}
    res = CliRunner().invoke(app, ["export", str(nano_run), "--out", str(tmp_path / "c"), "--target", "jetson",
                                   "--batch-profile", "4,2,1"])
    assert res.exit_code == 1 and "--batch-profile '4,2,1': need 1 <= MIN <= OPT <= MAX" in " ".join(res.output.split())
