"""The bundle: parity of every graph, INT8 gates, the fused sampler against FlowFM.sample, the manifest."""

import json
import shutil

import numpy as np
import pytest
import torch

from flowfm_edge.export import ExportOptions, Limits, QualityGateError, export_bundle
from flowfm_edge.bundle.manifest import read_manifest, sha256
from flowfm_edge.bundle.metrics import compare, trajectory_error
from flowfm_edge.export.validation import run_onnx
from flowfm_edge.runtimes import validate_bundle
from flowfm_edge.training import load_classifier, load_model


def artefact(manifest, name, precision):
    return next(a for a in manifest["artefacts"] if a["name"] == name and a["precision"] == precision)


def test_every_artefact_present_and_validated(bundle):
    manifest = read_manifest(bundle)
    names = {(a["name"], a["precision"]) for a in manifest["artefacts"]}
    for name in ("encoder", "classifier", "velocity", "sampler-euler-4", "sampler-heun-4"):
        for precision in ("fp32", "int8", "int8-dynamic"):
            assert (name, precision) in names
    for a in manifest["artefacts"]:
        assert a["validation"]["gate"]["passed"]
        assert sha256(bundle / a["file"]["path"]) == a["file"]["sha256"]
        if a["precision"] == "fp32":
            assert a["validation"]["rel_l2"] < 1e-4 and a["validation"]["cosine"] > 0.99999
    assert artefact(manifest, "encoder", "fp32")["export"]["exporter"] == "dynamo"
    assert artefact(manifest, "sampler-euler-4", "fp32")["export"]["exporter"] == "legacy"


def test_fp32_parity_on_fresh_inputs(bundle, nano_run, activity):
    """Every FP32 graph against PyTorch on windows the export never saw: relative error within 1e-4."""
    model, _ = load_model(nano_run)
    clf, _ = load_classifier(nano_run)
    x = activity.X[::9][:12]
    rng = np.random.default_rng(5)
    z, t, r = rng.standard_normal((5, 3, 300)).astype(np.float32), rng.random(5).astype(np.float32), None
    with torch.no_grad():
        r = model.embed(torch.from_numpy(x[:5])).numpy()
        refs = {"encoder": model.embed(torch.from_numpy(x)).numpy(), "classifier": clf(torch.from_numpy(x)).numpy(),
                "velocity": model.velocity(*map(torch.from_numpy, (z, t, r))).numpy()}
    feeds = {"encoder": {"x": x}, "classifier": {"x": x}, "velocity": {"z_t": z, "t": t, "r": r}}
    for name, ref in refs.items():
        out = run_onnx(bundle / "onnx" / f"{name}.fp32.onnx", feeds[name])
        assert compare(out, ref)["rel_l2"] < 1e-4, name


@pytest.mark.parametrize("solver", ["euler", "heun"])
def test_fused_sampler_equals_python_loop(bundle, nano_run, solver):
    model, _ = load_model(nano_run)
    rng = np.random.default_rng(11)
    noise = rng.standard_normal((3, 3, 300)).astype(np.float32)
    r = rng.standard_normal((3, model.cfg.r_dim)).astype(np.float32)
    r[0] = 0  # unconditional
    ref = model.sample(torch.from_numpy(r), steps=4, solver=solver, noise=torch.from_numpy(noise)).numpy()
    out = run_onnx(bundle / "onnx" / f"sampler-{solver}-4.fp32.onnx", {"noise": noise, "r": r})
    assert compare(out, ref)["rel_l2"] < 1e-4
    assert trajectory_error(out, ref, model.cfg.norm_mean, model.cfg.norm_std) < 1e-4
    int8 = run_onnx(bundle / "onnx" / f"sampler-{solver}-4.int8.onnx", {"noise": noise, "r": r})
    assert trajectory_error(int8, ref, model.cfg.norm_mean, model.cfg.norm_std) < Limits().max_traj_error


def test_int8_within_gates(bundle):
    manifest = read_manifest(bundle)
    limits = manifest["gates"]
    assert limits == {"max_f1_drop": 0.01, "max_traj_error": 0.1, "max_rel_error": 0.1}
    for precision in ("int8", "int8-dynamic"):
        clf = artefact(manifest, "classifier", precision)["validation"]
        assert clf["gate"]["metric"] == "f1_drop" and clf["f1_drop"] <= 0.01 and clf["n_real"] > 0
        for name in ("encoder", "velocity"):
            assert artefact(manifest, name, precision)["validation"]["rel_l2"] <= 0.1
        sampler = artefact(manifest, "sampler-euler-4", precision)["validation"]
        assert sampler["gate"]["metric"] == "trajectory_error" and sampler["trajectory_error"] <= 0.1


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_calibration_methods(bundle, activity, tmp_path, method):
    from flowfm_edge.calibration import ArrayReader
    from flowfm_edge.export.onnx.quantize import quantize_static

    src, dst = bundle / "onnx" / "encoder.fp32.onnx", tmp_path / f"encoder.{method}.onnx"
    info = quantize_static(src, dst, ArrayReader({"x": activity.X[::4]}), "x", method)
    assert info["method"] == method and info["quantised"]["MatMul"] > 0
    x = activity.X[1::9]
    assert compare(run_onnx(dst, {"x": x}), run_onnx(src, {"x": x}))["rel_l2"] < 0.1


def test_quantisation_recorded(bundle):
    manifest = read_manifest(bundle)
    q = artefact(manifest, "velocity", "int8")["quantisation"]
    assert q["mode"] == "static" and q["method"] == "minmax" and q["per_channel"]
    assert q["quantised"]["MatMul"] > 0 and q["op_types"] == ["MatMul", "Conv", "Gemm"]
    # the time embedding and adaLN conditioning (all Gemm here) stay float
    assert q["excluded_conditioning_nodes"] > 0 and q["float"].get("Gemm", 0) > 0 and "Gemm" not in q["quantised"]
    assert q["calibration_set"]["size"] > 0 and len(q["calibration_set"]["hash"]) == 64
    qs = artefact(manifest, "sampler-heun-4", "int8")["quantisation"]  # the step, on (z, c) of every call
    assert qs["calibration_set"]["inputs"]["z"][1:] == [3, 300] and qs["calibration_set"]["size"] % 8 == 0
    assert qs["loop"]["steps"] == 4 and qs["loop"]["step_calls_per_step"] == 2
    qd = artefact(manifest, "encoder", "int8-dynamic")["quantisation"]
    assert qd["mode"] == "dynamic" and qd["quantised"].get("MatMulInteger", 0) > 0
    cal = manifest["calibration"]
    # the export's default 128 calibration windows, drawn by class and subject from 8 subjects
    assert cal["windows"] == 128 and cal["classes"] == 3 and cal["subjects"] == 8 and cal["method"] == "minmax"


def test_classifier_head_stays_float(bundle):
    """The probe head folds 1 / std of every feature into its weights; INT8 graphs keep it float."""
    import onnx

    manifest = read_manifest(bundle)
    for precision in ("int8", "int8-dynamic"):
        a = artefact(manifest, "classifier", precision)
        assert a["quantisation"]["float_head"]
        graph = onnx.load(str(bundle / a["file"]["path"])).graph
        producer = {o: n for n in graph.node for o in n.output}
        node = producer[graph.output[0].name]
        while node.op_type not in ("Gemm", "MatMul", "MatMulInteger", "DynamicQuantizeMatMul"):
            node = producer[node.input[0]]
        weights = {i.name: i for i in graph.initializer}
        assert node.op_type in ("Gemm", "MatMul") and weights[node.input[1]].data_type == onnx.TensorProto.FLOAT
    encoder = artefact(manifest, "encoder", "int8")["quantisation"]
    assert not encoder["float_head"] and "Gemm" not in encoder["float"]  # only the classifier's head


def test_int8_weights_fit_7_bits(bundle):
    """Every INT8 weight lies in [-64, 64]: onnxruntime's U8S8 kernels on x86 without VNNI cannot saturate."""
    import onnx
    from onnx import TensorProto, numpy_helper

    manifest = read_manifest(bundle)
    for a in manifest["artefacts"]:
        if not a["precision"].startswith("int8"):
            continue
        assert a["quantisation"]["weight_bits"] == 7
        graphs = [onnx.load(str(bundle / a["file"]["path"])).graph]
        graphs += [at.g for n in graphs[0].node for at in n.attribute if at.type == onnx.AttributeProto.GRAPH]  # Loop bodies
        weights = [numpy_helper.to_array(i) for g in graphs for i in g.initializer if i.data_type == TensorProto.INT8]
        assert weights, a["name"]
        assert all(w.min() >= -64 and w.max() <= 64 for w in weights), (a["name"], a["precision"])


def test_manifest_contents(bundle, nano_run):
    manifest = read_manifest(bundle)
    config = json.loads((nano_run / "checkpoint" / "config.json").read_text())
    m = manifest["model"]
    assert manifest["schema_version"] == 1 and m["preset"] == "nano"
    assert m["config"] == config["model"] and m["training_data"]["hash"] == config["data"]["hash"]
    assert len(m["config_hash"]) == 16
    sig = manifest["signal"]
    assert sig["sample_rate_hz"] == 30 and sig["window"] == 300 and sig["units"] == "g"
    assert sig["normalisation"]["mean"] == config["model"]["norm_mean"]
    enc = manifest["graphs"]["encoder"]
    assert enc["inputs"][0]["shape"] == ["batch", 3, 300] and enc["outputs"][0]["name"] == "r"
    assert [s["name"] for s in manifest["samplers"]] == ["sampler-euler-4", "sampler-heun-4"]
    heun = manifest["samplers"][1]
    assert heun["nfe"] == 8 and heun["time_grid"] == [0.0, 0.25, 0.5, 0.75, 1.0] and heun["guidance"] is None
    env = manifest["environment"]
    assert env["onnx_opset"] == 18 and env["torch"] and env["onnxruntime"]
    assert manifest["classes"] == ["still", "walk", "run"]
    assert {f["path"] for f in manifest["torch"]["files"]} >= {"torch/checkpoint/config.json",
                                                               "torch/checkpoint/ema.safetensors"}


def test_sampler_size_does_not_grow_with_weights(guided_bundle):
    """Unrolled steps reuse one set of weights: 12 more steps add graph nodes, never weight copies."""
    import onnx

    paths = {n: guided_bundle / "onnx" / f"sampler-euler-{n}.fp32.onnx" for n in (4, 16)}
    inits = {n: onnx.load(str(p)).graph.initializer for n, p in paths.items()}
    weights = {n: sum(i.ByteSize() for i in inits[n]) for n in inits}
    table = 12 * 64 * 4  # the time-embedding table gains one (64,) row per extra evaluation
    assert weights[16] - weights[4] <= table + 1024
    growth_per_step = (paths[16].stat().st_size - paths[4].stat().st_size) / 12
    assert growth_per_step < 0.05 * weights[4]  # the nodes of one step, not a copy of the weights


def test_guided_sampler_matches_flowfm(guided_bundle, nano_run):
    model, _ = load_model(nano_run)
    rng = np.random.default_rng(3)
    noise = rng.standard_normal((2, 3, 300)).astype(np.float32)
    r = rng.standard_normal((2, 64)).astype(np.float32)
    w = np.array([1.0, 2.5], np.float32)
    ref = model.sample(torch.from_numpy(r), steps=4, noise=torch.from_numpy(noise),
                       guidance=torch.from_numpy(w)[:, None, None]).numpy()
    out = run_onnx(guided_bundle / "onnx" / "sampler-euler-4.fp32.onnx", {"noise": noise, "r": r, "w": w})
    assert compare(out, ref)["rel_l2"] < 1e-4
    assert read_manifest(guided_bundle)["samplers"][0]["guidance"].startswith("input w")


def test_tampering_and_drift_detected(bundle, tmp_path):
    assert validate_bundle(bundle)["passed"]
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    with open(copy / "onnx" / "velocity.int8.onnx", "ab") as f:
        f.write(b"\0")
    (copy / "golden" / "encoder" / "x.npy").unlink()
    report = validate_bundle(copy)
    assert not report["passed"] and not report["checks"]
    assert sorted(report["files"]) == ["golden/encoder/x.npy: missing",
                                       "onnx/velocity.int8.onnx: sha256 mismatch (the file was modified after export)"]
    # drift: a golden expectation that no longer matches, with its hash updated so only drift remains
    copy2 = tmp_path / "c"
    shutil.copytree(bundle, copy2)
    path = copy2 / "golden" / "encoder" / "reference.npy"
    np.save(path, np.load(path) * 1.01)
    manifest = json.loads((copy2 / "manifest.json").read_text())
    manifest["golden"]["encoder"]["files"]["reference"]["sha256"] = sha256(path)
    (copy2 / "manifest.json").write_text(json.dumps(manifest))
    report = validate_bundle(copy2)
    failed = [(c["artefact"], c["precision"]) for c in report["checks"] if not c["passed"]]
    assert not report["passed"] and failed == [("encoder", "fp32")]


def test_failed_gate_stops_the_export(nano_run, activity, tmp_path):
    out = tmp_path / "strict"
    opts = ExportOptions(precisions=["int8"], graphs=["sampler"], steps=[2], calib=activity,
                         limits=Limits(max_traj_error=1e-6))
    with pytest.raises(QualityGateError, match=r"sampler-euler-2 int8: trajectory_error = .* exceeds the allowed 1e-06.*--max-traj-error"):
        export_bundle(nano_run, out, opts)
    assert not out.exists() and not list(tmp_path.glob(".strict*"))  # nothing half-written


def test_int8_calibrates_on_the_data_the_run_was_trained_on(activity, tmp_path):
    """The run records the windows' name (activity:pretrain) and the spec that loads them again; export loads the spec."""
    from dataclasses import replace

    from flowfm_edge.data.npz import save_npz
    from flowfm_edge.models import ModelConfig
    from flowfm_edge.training import TrainConfig, read_config, train

    spec = str(save_npz(tmp_path / "activity.npz", activity))
    ws = replace(activity, source="activity:pretrain", meta={**activity.meta, "spec": spec})
    run = tmp_path / "run"
    train(ws, run, ModelConfig.from_preset("nano"), TrainConfig(steps=2, batch_size=8, warmup=1, amp="off"), progress=False)
    assert {"source": "activity:pretrain", "spec": spec}.items() <= read_config(run)["data"].items()
    export_bundle(run, tmp_path / "bundle", ExportOptions(precisions=["int8"], calib=None, graphs=["encoder"]))
    calibration = json.loads((tmp_path / "bundle" / "manifest.json").read_text())["calibration"]
    assert calibration["windows"] > 0 and calibration["subjects"] == len(np.unique(activity.pid))


def test_export_errors(nano_run, bundle, tmp_path):
    with pytest.raises(FileExistsError, match="pass --force"):
        export_bundle(nano_run, bundle, ExportOptions())
    with pytest.raises(ValueError, match=r"'activity' \(the run's training data\) could not be read.*pass --calib DATA"):
        export_bundle(nano_run, tmp_path / "x", ExportOptions(precisions=["int8"], calib=None, graphs=["encoder"]))
    with pytest.raises(ValueError, match="--graphs decoder: unknown graph"):
        export_bundle(nano_run, tmp_path / "x", ExportOptions(graphs=["decoder"]))
    headless = tmp_path / "headless"
    shutil.copytree(nano_run, headless)
    (headless / "checkpoint" / "head.json").unlink()
    with pytest.raises(ValueError, match="no classifier head to export; fit one with `flowfm-edge probe"):
        export_bundle(headless, tmp_path / "x", ExportOptions(graphs=["classifier"]))
