"""The android target: LiteRT conversion at every precision, parity with PyTorch, the gates, the manifest.

Needs the [litert] extra (litert-torch, ai-edge-litert); without it these tests skip and say so,
except the missing-extra message, which is checked either way.
"""

import sys

import numpy as np
import pytest

from flowfm_edge.export import ExportOptions, QualityGateError, export_bundle
from flowfm_edge.bundle.manifest import read_manifest

pytestmark = pytest.mark.litert

PRECISIONS = ("fp32", "fp16", "int8-dynamic", "int8")
GRAPHS = ("encoder", "classifier", "velocity", "sampler-euler-2")


def needs_litert():
    for module in ("litert_torch", "ai_edge_litert", "ai_edge_quantizer"):
        pytest.importorskip(module, reason=f"needs the [litert] extra ({module}): pip install 'flowfm-edge[litert]'")


def _entry(manifest, name, precision):
    return next(a for a in manifest["artefacts"] if a["name"] == name and a["precision"] == precision)


def test_manifest_lists_every_graph_and_precision(litert_bundle):
    m = read_manifest(litert_bundle)
    assert m["target"]["name"] == "android" and m["target"]["format"] == "tflite"
    got = {(a["name"], a["precision"]) for a in m["artefacts"]}
    assert got == {(g, p) for g in GRAPHS for p in PRECISIONS}
    for a in m["artefacts"]:
        assert a["format"] == "tflite" and a["file"]["path"] == f"litert/{a['name']}.{a['precision']}.tflite"
        assert (litert_bundle / a["file"]["path"]).stat().st_size == a["file"]["bytes"]
        assert a["export"]["batch"] == 1 and a["export"]["exporter"] == "litert-torch"
        io = a["litert"]["io_dtypes"]
        assert set(io["inputs"].values()) == {"float32"} and set(io["outputs"].values()) == {"float32"}
    assert m["graphs"]["encoder"]["inputs"][0]["shape"] == [1, 3, 300]  # fixed batch, no dynamic axes
    assert m["graphs"]["encoder"]["inputs"][0]["dynamic_axes"] == {}
    assert m["litert"]["batch"] == 1 and not m["litert"]["int8_io"]
    assert m["litert"]["versions"]["litert_torch"] and m["environment"]["litert"]


def test_quantisation_records(litert_bundle):
    m = read_manifest(litert_bundle)
    for name in GRAPHS:
        q16 = _entry(m, name, "fp16")["quantisation"]
        assert q16["mode"] == "fp16-weights" and q16["activations"] == "float32"
        dyn = _entry(m, name, "int8-dynamic")
        assert dyn["quantisation"]["mode"] == "dynamic-range" and dyn["litert"]["int8_weight_ops"]
        full = _entry(m, name, "int8")
        q = full["quantisation"]
        assert q["mode"] == "static" and q["calibration_set"]["size"] > 0 and q["calibration_rows"] > 0
        assert full["litert"]["int8_weight_ops"].get("FULLY_CONNECTED", 0) > 0
        assert "QUANTIZE" in full["litert"]["ops"]
    # the conditioning path (time embedding, RepProj, adaLN) keeps float activations
    for name in ("velocity", "sampler-euler-2"):
        assert _entry(m, name, "int8-dynamic")["quantisation"]["weight_only_conditioning_ops"] > 0
        assert _entry(m, name, "int8")["litert"]["float_weight_ops"].get("FULLY_CONNECTED", 0) > 0
    assert _entry(m, "encoder", "int8-dynamic")["quantisation"]["weight_only_conditioning_ops"] == 0
    # velocity calibration follows the sampler's trajectory: one tuple per window and step
    assert _entry(m, "velocity", "int8")["quantisation"]["calibration_set"]["inputs"]["t"][0] % 2 == 0


def test_sizes_shrink_and_sampler_shares_weights(litert_bundle):
    m = read_manifest(litert_bundle)
    size = {(a["name"], a["precision"]): a["file"]["bytes"] for a in m["artefacts"]}
    for name in GRAPHS:
        assert size[name, "fp16"] < size[name, "fp32"]
        assert size[name, "int8-dynamic"] < size[name, "fp16"]
        assert size[name, "int8"] < size[name, "fp32"]
    for p in PRECISIONS:  # two unrolled steps cost little more than one velocity graph
        assert size["sampler-euler-2", p] < 1.3 * size["velocity", p]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_parity_and_gates(litert_bundle, precision):
    m = read_manifest(litert_bundle)
    limits = m["gates"]
    for name in GRAPHS:
        v = _entry(m, name, precision)["validation"]
        assert v["gate"]["passed"] and v["n_inputs"] > 0
        if precision == "fp32":
            assert v["rel_l2"] < 1e-4 and v["cosine"] > 0.99999 and v["gate"]["limit"] == 1e-4
        elif name == "classifier":
            assert v["gate"]["metric"] == "f1_drop" and v["f1_drop"] <= limits["max_f1_drop"]
            assert v["agreement"] > 0.9
        elif name.startswith("sampler"):
            assert v["gate"]["metric"] == "trajectory_error"
            assert v["trajectory_error"] <= limits["max_traj_error"]
        else:
            assert v["gate"]["metric"] == "rel_l2" and v["rel_l2"] <= limits["max_rel_error"]
        if precision == "fp16":
            assert v["rel_l2"] < 1e-2
        if name == "classifier":
            assert v["macro_f1_reference"] > 0.9


def test_gate_failure_stops_the_export(nano_run, tmp_path, activity):
    needs_litert()
    out = tmp_path / "b"
    opts = ExportOptions(target="android", precisions=["int8-dynamic"], graphs=["encoder"], calib=activity,
                         calib_size=16, val_size=12)
    opts.limits.max_rel_error = 1e-9
    with pytest.raises(QualityGateError, match=r"encoder int8-dynamic: rel_l2 = .* exceeds the allowed 1e-09.*"
                                               r"--max-rel-error"):
        export_bundle(nano_run, out, opts)
    assert not out.exists() and not list(tmp_path.glob(".b.*"))


def test_int8_io_keeps_int8_interface(nano_run, litert_bundle, tmp_path, activity, calibration):
    needs_litert()
    from flowfm_edge import runtimes

    out = tmp_path / "int8io"
    opts = ExportOptions(target="android", precisions=["int8"], graphs=["encoder"], int8_io=True,
                         calib=calibration)  # the calibration of litert_bundle
    m = export_bundle(nano_run, out, opts)
    a = m["artefacts"][0]
    assert m["litert"]["int8_io"] and "kept (--int8-io)" in a["quantisation"]["io"]
    assert "int8" in a["litert"]["io_dtypes"]["inputs"].values() or "int8" in a["litert"]["io_dtypes"]["outputs"].values()
    x = activity.X[::13][:4]
    # the runtime quantises inputs itself: same numbers as the float-I/O model of the same calibration
    r_int8io = runtimes.load(out, backend="litert", precision="int8").embed(x)
    r_float = runtimes.load(litert_bundle, backend="litert", precision="int8").embed(x)
    assert r_int8io.dtype == np.float32 and r_int8io.shape == r_float.shape
    assert np.linalg.norm(r_int8io - r_float) / np.linalg.norm(r_float) < 0.05


def test_missing_extra_names_it(nano_run, tmp_path, monkeypatch, activity):
    monkeypatch.setitem(sys.modules, "litert_torch", None)  # as if litert-torch were not installed
    with pytest.raises(ImportError, match=r"pip install 'flowfm-edge\[litert\]'"):
        export_bundle(nano_run, tmp_path / "b", ExportOptions(target="android", precisions=["fp32"],
                                                             graphs=["encoder"], calib=activity))
    assert not (tmp_path / "b").exists()

