"""``flowfm-edge export`` and ``validate``: exit codes and one-line errors."""

import shutil

import pytest
from typer.testing import CliRunner

from flowfm_edge.cli import app

runner = CliRunner()


def invoke(*args):
    res = runner.invoke(app, [str(a) for a in args])
    res.text = " ".join(res.output.split())  # rich wraps long lines
    return res


def test_export_and_validate(nano_run, tmp_path, activity):
    from flowfm_edge.data import save_npz

    pytest.importorskip("onnxruntime")
    calib = save_npz(tmp_path / "calib.npz", activity)
    out = tmp_path / "bundle"
    res = invoke("export", nano_run, "--out", out, "--graphs", "encoder,classifier", "--precision", "fp32,int8-dynamic",
                 "--calib", calib)
    assert res.exit_code == 0, res.output
    assert "encoder int8-dynamic: rel_l2" in res.text and "bundle" in res.text and "4 artefacts" in res.text
    res = invoke("validate", out)
    # 4 artefacts + the prior over r that training fits into every run
    assert res.exit_code == 0 and "5 golden checks passed with onnxruntime" in res.text and "ok prior" in res.text
    res = invoke("validate", out, "--backend", "torch")
    assert res.exit_code == 0, res.output
    shutil.copy(out / "onnx" / "encoder.fp32.onnx", out / "onnx" / "classifier.fp32.onnx")
    res = invoke("validate", out)
    assert res.exit_code == 1
    assert "onnx/classifier.fp32.onnx: sha256 mismatch" in res.text and "files were modified" in res.text


@pytest.mark.parametrize("args, message", [
    (["--target", "android", "--precision", "fp32,int4"], "--precision int4 is not offered by target 'android'"),
    (["--target", "tpu"], "unknown target 'tpu'; choose from cpu, jetson, android"),
    (["--precision", "fp32,bf16"], "--precision bf16 is not offered by target 'cpu'"),
    (["--steps", "4,eight"], "--steps '4,eight': expected a comma-separated list"),
    (["--solver", "euler,rk9"], "--solver rk9: unknown solver"),
    (["--calib-method", "kl"], "--calib-method 'kl': choose from minmax, entropy, percentile"),
])
def test_bad_options(nano_run, tmp_path, args, message):
    res = invoke("export", nano_run, "--out", tmp_path / "b", *args)
    assert res.exit_code == 1
    assert message in res.text and "Traceback" not in res.output
    assert not (tmp_path / "b").exists()


def test_validate_errors(tmp_path):
    res = invoke("validate", tmp_path)
    assert res.exit_code == 1 and "not a bundle (manifest.json is missing)" in res.text
