"""The diffusion twin exports like FlowFM: denoiser step, fused DDIM samplers, DDPM as a runtime loop."""

import numpy as np
import pytest
import torch

from flowfm_edge.export.diffusion.graphs import DDIMSamplerGraph, ddim_coefficients, graph_spec
from flowfm_edge.models import DiffusionTwin, ModelConfig
from flowfm_edge.models.diffusion import ddim_step, ddpm_step
from flowfm_edge.runtimes.denoiser_loop import ddim_update, ddpm_update


@pytest.fixture(scope="module")
def twin():
    torch.manual_seed(0)
    m = DiffusionTwin(ModelConfig.from_preset("nano", objective="diffusion"))
    for p in m.denoiser.parameters():  # adaLN-Zero starts as identity; give the blocks something to do
        p.data.add_(0.05 * torch.randn_like(p))
    return m.eval()


@pytest.mark.parametrize("steps", [1, 4, 25])
def test_fused_ddim_graph_equals_model_sample(twin, steps):
    noise, r = torch.randn(3, 3, 300), torch.randn(3, 64)
    with torch.no_grad():
        fused = DDIMSamplerGraph(twin, steps)(noise, r)
    ref = twin.sample(r, steps=steps, sampler="ddim", noise=noise)
    torch.testing.assert_close(fused, ref, rtol=1e-4, atol=1e-4)


def test_ddim_coefficients_are_the_ddim_step(twin):
    seq = [999, 500, 0]
    a, b = ddim_coefficients(seq, twin.alpha_bar)
    z, eps = torch.randn(2, 3, 10, dtype=torch.float64), torch.randn(2, 3, 10, dtype=torch.float64)
    ab = twin.alpha_bar.double()
    want = ddim_step(z, eps, ab[999], ab[500])
    torch.testing.assert_close(a[0] * z + b[0] * eps, want)


def test_numpy_updates_match_the_model(twin):
    ab = twin.alpha_bar.double()
    z, eps, n = (torch.randn(2, 3, 10, dtype=torch.float64) for _ in range(3))
    np.testing.assert_allclose(ddpm_update(z.numpy(), eps.numpy(), float(ab[10]), float(ab[9]), n.numpy()),
                               ddpm_step(z, eps, ab[10], ab[9], n).numpy(), rtol=1e-12)
    np.testing.assert_allclose(ddim_update(z.numpy(), eps.numpy(), float(ab[10]), float(ab[9])),
                               ddim_step(z, eps, ab[10], ab[9]).numpy(), rtol=1e-12)


def test_sampler_spec_bakes_the_timesteps(twin):
    spec = graph_spec("sampler", twin.cfg, steps=4)
    assert spec.name == "sampler-ddim-4" and spec.sampler["timesteps"] == [999, 666, 333, 0]
    assert spec.sampler["nfe"] == 4 and spec.input_names == ["noise", "r"]
    with pytest.raises(ValueError, match="denoiser"):
        graph_spec("decoder", twin.cfg)


def test_export_writes_denoiser_ddim_and_ddpm_loop(diffusion_bundle):
    from flowfm_edge.bundle.manifest import read_manifest, verify_files

    m = read_manifest(diffusion_bundle)
    assert m["model"]["objective"] == "diffusion"
    assert {a["name"] for a in m["artefacts"]} == {"encoder", "denoiser", "sampler-ddim-2", "sampler-ddim-5"}
    names = {s["name"]: s for s in m["samplers"]}
    assert names["sampler-ddim-5"]["nfe"] == 5 and names["sampler-ddim-5"]["solver"] == "ddim"
    ddpm = names["sampler-ddpm-1000"]
    assert ddpm["loop"] == "denoiser" and len(ddpm["alpha_bar"]) == 1000
    assert verify_files(diffusion_bundle) == []
    sizes = {a["name"]: a["file"]["bytes"] for a in m["artefacts"] if a["precision"] == "fp32"}
    assert sizes["sampler-ddim-5"] < 1.3 * sizes["sampler-ddim-2"]  # weights are shared across steps


def test_runtimes_generate_with_ddim_and_ddpm(diffusion_bundle):
    from flowfm_edge import runtimes
    from flowfm_edge.training import load_model

    ort = runtimes.load(diffusion_bundle, "onnxruntime", "fp32")
    tor = runtimes.load(diffusion_bundle, "torch")
    x_ort = ort.generate(n=3, steps=5, solver="ddim", seed=1)
    x_torch = tor.generate(n=3, steps=5, solver="ddim", seed=1)
    np.testing.assert_allclose(x_ort, x_torch, rtol=1e-3, atol=1e-3)
    # the runtime loop over the denoiser graph follows the same DDIM arithmetic as the fused graph
    from flowfm_edge.runtimes.denoiser_loop import loop_generate

    entry = {"name": "loop-ddim-5", "steps": 5, "sampler": "ddim", "loop": "denoiser",
             "alpha_bar": ort.sampler(1000, "ddpm")["alpha_bar"]}
    feeds = {"noise": runtimes.noise(3, 3, 300, 1), "r": ort.unconditional_r(3, 1)}  # the r generate drew
    np.testing.assert_allclose(loop_generate(ort, entry, feeds, 1), x_ort, rtol=1e-3, atol=1e-3)
    ddpm = ort.generate(n=2, steps=1000, solver="ddpm", seed=0)
    assert ddpm.shape == (2, 3, 300) and np.isfinite(ddpm).all()
    assert np.array_equal(ddpm, ort.generate(n=2, steps=1000, solver="ddpm", seed=0))  # seeded step noise
    ddpm_int8 = runtimes.load(diffusion_bundle, "onnxruntime", "int8").generate(n=2, steps=1000, solver="ddpm", seed=0)
    assert np.isfinite(ddpm_int8).all()
    model = load_model(diffusion_bundle / "torch")[0]
    assert tor.generate(n=2, steps=1000, solver="ddpm", seed=0).shape == (2, 3, 300)
    assert model.cfg.objective == "diffusion"
