"""The conditioning path c = TimeEmbed(t) + RepProj(r) + TextProj(e), with random fixed embeddings."""

import numpy as np
import pytest
import torch

from flowfm_edge.models import FlowFM, ModelConfig
from flowfm_edge.solvers import integrate
from flowfm_edge.text.finetune import TextTrainConfig, text_flow_loss, text_model_from_base
from flowfm_edge.models.text import NotTextConditioned, sample_text, text_velocity
from flowfm_edge.training import load_model

from .conftest import PROMPTS, RandomEmbedder


def _perturbed_base(seed: int = 0) -> FlowFM:
    torch.manual_seed(seed)
    base = FlowFM(ModelConfig.from_preset("nano")).eval()
    with torch.no_grad():  # adaLN-Zero: an untrained net ignores its conditioning; give it some
        for p in base.velocity.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return base


def test_text_model_starts_as_the_base_unconditional_generator():
    base = _perturbed_base()
    model = text_model_from_base(base, 384).eval()
    z, t = torch.randn(3, 3, 300), torch.rand(3)
    r0 = torch.zeros(3, base.cfg.r_dim)
    e = torch.from_numpy(RandomEmbedder()(["a", "b", "c"]))
    torch.testing.assert_close(model.velocity(z, t, r0, e), base.velocity(z, t, r0))
    assert not model.velocity.text.bias.requires_grad
    assert not any(p.requires_grad for p in model.encoder.parameters())


def test_base_refusals():
    base = _perturbed_base()
    text = text_model_from_base(base, 8)
    with pytest.raises(ValueError, match="already text-conditioned"):
        text_model_from_base(text, 8)
    with pytest.raises(NotTextConditioned, match="train-text"):
        sample_text(base, torch.zeros(1, 8))


def test_loss_reaches_textproj_and_dropped_text_does_not():
    model = text_model_from_base(_perturbed_base(), 384)
    x = torch.randn(8, 3, 300)
    e = torch.from_numpy(RandomEmbedder()(["walk"] * 8))
    text_flow_loss(model, x, e, TextTrainConfig(p_text_drop=0.0), torch.Generator().manual_seed(0)).backward()
    assert model.velocity.text.weight.grad.abs().sum() > 0
    assert model.velocity.text.bias.grad is None and model.encoder.patch.proj.weight.grad is None
    model.zero_grad(set_to_none=True)
    text_flow_loss(model, x, e, TextTrainConfig(p_text_drop=0.999), torch.Generator().manual_seed(0)).backward()
    assert model.velocity.text.weight.grad.abs().sum() == 0  # every sample dropped: e = 0


def test_dgs_mode_feeds_the_frozen_encoder():
    model = text_model_from_base(_perturbed_base(), 384)
    x, e = torch.randn(8, 3, 300), torch.zeros(8, 384)
    cfg = TextTrainConfig(r_mode="dgs")
    text_flow_loss(model, x, e, cfg, torch.Generator().manual_seed(0)).backward()
    assert model.velocity.rep[0].weight.grad.abs().sum() > 0  # r reached the velocity net
    assert all(p.grad is None for p in model.encoder.parameters())
    with pytest.raises(ValueError, match="r_mode"):
        TextTrainConfig(r_mode="keep").validate()


def test_finetuned_run_loads_keeps_encoder_and_zero_text_is_unconditional(text_run, nano_run):
    model, config = load_model(text_run)
    base, _ = load_model(nano_run)
    assert model.cfg.text_dim == 384 and config["text"]["embedder"] == RandomEmbedder.name
    assert config["text"]["prompts"] == PROMPTS and config["base"]["run"] == str(nano_run)
    for k, v in base.encoder.state_dict().items():
        torch.testing.assert_close(model.encoder.state_dict()[k], v)
    assert model.velocity.text.bias.abs().max() == 0 and model.velocity.text.weight.abs().max() > 0
    z, t, r = torch.randn(2, 3, 300), torch.rand(2), torch.zeros(2, model.cfg.r_dim)
    torch.testing.assert_close(model.velocity(z, t, r, torch.zeros(2, 384)), model.velocity(z, t, r))
    e = torch.from_numpy(RandomEmbedder()(["walking", "standing still"]))
    assert not torch.allclose(model.velocity(z, t, r, e[:1].expand(2, -1)), model.velocity(z, t, r, e[1:].expand(2, -1)))
    assert (text_run / "metrics.csv").read_text().startswith("step,loss")


def test_guidance_is_over_the_text(text_run):
    model, _ = load_model(text_run)
    e = torch.from_numpy(RandomEmbedder()(["walking", "running"]))
    z, t = torch.randn(2, 3, 300), torch.tensor(0.3)
    r0 = torch.zeros(2, model.cfg.r_dim)
    v_e, v_0 = model.velocity(z, t, r0, e), model.velocity(z, t, r0, torch.zeros_like(e))
    torch.testing.assert_close(text_velocity(model, e, 2.5)(z, t), v_0 + 2.5 * (v_e - v_0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(text_velocity(model, e, 1.0)(z, t), v_e, rtol=1e-5, atol=1e-5)
    noise = torch.randn(2, 3, 300)
    x = sample_text(model, e, steps=3, solver="heun", guidance=2.0, noise=noise)
    z1 = integrate(text_velocity(model, e, 2.0), noise, 3, "heun")
    torch.testing.assert_close(x, model.denormalize(z1))
    with pytest.raises(ValueError, match=r"shape \(B, 384\)"):
        sample_text(model, torch.zeros(2, 5))


def test_sampling_is_seeded(text_run):
    model, _ = load_model(text_run)
    e = torch.from_numpy(RandomEmbedder()(["a slow walk"])).expand(3, -1)
    a = sample_text(model, e, steps=2, generator=torch.Generator().manual_seed(1))
    b = sample_text(model, e, steps=2, generator=torch.Generator().manual_seed(1))
    assert a.shape == (3, 3, 300) and torch.equal(a, b) and np.isfinite(a.numpy()).all()
