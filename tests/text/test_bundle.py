"""Text samplers in a cpu bundle: export, manifest, runtimes (onnxruntime, torch), validate, tamper, errors."""

import numpy as np
import pytest
import torch

from flowfm_edge.text.generate import sample_text
from flowfm_edge.text.prompts import all_texts
from flowfm_edge.training import load_model

from .conftest import PROMPTS, RandomEmbedder


@pytest.fixture(scope="module")
def text_bundle(text_run, activity, tmp_path_factory):
    pytest.importorskip("onnxruntime", reason="needs the [onnx] extra: pip install 'flowfm-edge[onnx]'")
    from flowfm_edge.export import ExportOptions, Limits, export_bundle

    out = tmp_path_factory.mktemp("text-bundle") / "bundle"
    opts = ExportOptions(precisions=["fp32", "int8"], steps=[2], graphs=["encoder", "text-sampler"], guidance=True,
                         calib=activity, calib_size=24, val_size=24,
                         # 20 fine-tuning steps leave a rough generator; these tests check the machinery
                         limits=Limits(max_traj_error=10.0))
    export_bundle(text_run, out, opts)
    return out


def test_manifest_declares_the_text_sampler_and_carries_the_prompt_embeddings(text_bundle):
    from flowfm_edge.bundle.manifest import read_manifest, verify_files

    m = read_manifest(text_bundle)
    g = m["graphs"]["text-sampler-euler-2"]
    assert g["graph"] == "text-sampler" and [i["name"] for i in g["inputs"]] == ["noise", "e", "w"]
    assert g["inputs"][1]["shape"] == ["batch", 384]
    entry = [s for s in m["samplers"] if s["name"] == "text-sampler-euler-2"][0]
    assert entry["condition"] == "text" and entry["nfe"] == 2
    assert {a["precision"] for a in m["artefacts"] if a["name"] == "text-sampler-euler-2"} == {"fp32", "int8"}
    assert m["text"]["embedder"] == RandomEmbedder.name and m["text"]["prompts"] == PROMPTS
    assert sorted(m["text"]["embeddings"]["texts"]) == sorted(all_texts(PROMPTS))
    E = np.load(text_bundle / m["text"]["embeddings"]["file"]["path"])
    np.testing.assert_allclose(E, RandomEmbedder()(m["text"]["embeddings"]["texts"]), atol=1e-6)
    assert verify_files(text_bundle) == []


def test_runtimes_generate_from_a_known_description_like_pytorch(text_bundle, text_run):
    from flowfm_edge import runtimes

    model, _ = load_model(text_run)
    ort = runtimes.load(text_bundle, "onnxruntime", "fp32")
    x = ort.generate_text("a stroll", n=3, steps=2, seed=4, guidance=2.0)
    e = torch.from_numpy(RandomEmbedder()(["a stroll"])).expand(3, -1)
    ref = sample_text(model, e, 2, "euler", guidance=2.0, noise=torch.from_numpy(runtimes.noise(3, 3, 300, 4))).numpy()
    np.testing.assert_allclose(x, ref, atol=1e-4)
    np.testing.assert_allclose(runtimes.load(text_bundle, "torch").generate_text("a stroll", n=3, seed=4, guidance=2.0),
                               ref, atol=1e-5)
    # an embedding made on the host gives the same windows as the stored one
    np.testing.assert_allclose(ort.generate_text(e.numpy(), seed=4, guidance=2.0), x, atol=1e-6)
    x8 = runtimes.load(text_bundle, "onnxruntime", "int8").generate_text("a stroll", n=3, seed=4, guidance=2.0)
    assert x8.shape == (3, 3, 300) and np.isfinite(x8).all()


def test_validate_passes_and_catches_a_modified_embedding_table(text_bundle, tmp_path):
    import shutil

    from flowfm_edge.runtimes.validate import validate_bundle

    for backend in ("onnxruntime", "torch"):
        report = validate_bundle(text_bundle, backend)
        assert report["passed"], report
        assert "text-sampler-euler-2" in {c["artefact"] for c in report["checks"]}
    copy = tmp_path / "b"
    shutil.copytree(text_bundle, copy)
    E = np.load(copy / "text" / "embeddings.npy")
    np.save(copy / "text" / "embeddings.npy", E[::-1])
    report = validate_bundle(copy, "onnxruntime")
    assert not report["passed"] and report["files"] == ["text/embeddings.npy: sha256 mismatch (the file was modified after export)"]


def test_runtime_errors_name_what_is_missing(text_bundle, bundle):
    from flowfm_edge import runtimes
    from flowfm_edge.bundle.schema import BundleError

    rt = runtimes.load(text_bundle, "onnxruntime")
    with pytest.raises(BundleError, match="random-test-embedder"):
        rt.generate_text("walking up the stairs")
    with pytest.raises(ValueError, match=r"expected \(batch, 384\)"):
        rt.generate_text(np.zeros((2, 16), np.float32))
    with pytest.raises(BundleError, match="no text sampler for solver=any, steps=8; the bundle has: euler x 2"):
        rt.generate_text("walking", steps=8)
    with pytest.raises(BundleError, match="no fused sampler"):  # text samplers are not r-conditioned samplers
        rt.generate(n=2, steps=2)
    with pytest.raises(BundleError, match="has no text samplers"):
        runtimes.load(bundle, "onnxruntime").generate_text("walking")


def test_export_refuses_text_samplers_where_there_are_none(nano_run, text_run, tmp_path):
    from flowfm_edge.export import ExportOptions, export_bundle

    with pytest.raises(ValueError, match="not a text run"):
        export_bundle(nano_run, tmp_path / "a", ExportOptions(graphs=["text-sampler"]))
    with pytest.raises(ValueError, match="text samplers export to the cpu target"):
        export_bundle(text_run, tmp_path / "b", ExportOptions(target="jetson", precisions=["fp16"], graphs=["text-sampler"]))


def test_export_command_includes_text_samplers_by_default(text_run, tmp_path):
    pytest.importorskip("onnxruntime", reason="needs the [onnx] extra: pip install 'flowfm-edge[onnx]'")
    from typer.testing import CliRunner

    from flowfm_edge.cli import app
    from flowfm_edge.bundle.manifest import read_manifest

    out = tmp_path / "bundle"
    res = CliRunner().invoke(app, ["export", str(text_run), "--out", str(out), "--precision", "fp32", "--steps", "1"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert {"encoder", "velocity", "sampler-euler-1", "text-sampler-euler-1"} <= set(read_manifest(out)["graphs"])
