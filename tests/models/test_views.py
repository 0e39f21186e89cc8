"""The encoder's training views and the bottleneck on r."""

import torch

from flowfm_edge.models import ModelConfig, build_model
from flowfm_edge.models.encoder import keep_tokens, normalize_r
from flowfm_edge.models.views import encoder_view, rotate, rotation_matrices, scale_axes, shift_time


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_rotation_keeps_the_magnitude_and_is_a_rotation():
    x = torch.randn(8, 3, 300)
    v = rotate(x, 45.0, gen())
    assert torch.allclose(v.norm(dim=1), x.norm(dim=1), atol=1e-5)
    assert not torch.allclose(v, x)
    R = rotation_matrices(64, 45.0, gen())
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(64, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.ones(64), atol=1e-5)
    angle = torch.arccos(((R.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1))
    assert angle.max() <= torch.deg2rad(torch.tensor(45.0)) + 1e-4  # never beyond the stated angle


def test_shift_and_scale():
    x = torch.randn(4, 3, 300)
    s = shift_time(x, 30, gen())
    assert torch.equal(s.sort(dim=2).values, x.sort(dim=2).values)  # a circular shift only reorders samples
    g = scale_axes(x, 0.1, gen()) / x
    assert torch.allclose(g, g[..., :1].expand_as(g), atol=1e-4)  # one gain per window and axis


def test_no_view_is_the_window_itself():
    cfg = ModelConfig.from_preset("nano")
    x = torch.randn(2, 3, 300)
    assert encoder_view(x, cfg, gen()) is x


def test_masking_keeps_the_stated_share_of_tokens_in_order():
    h = torch.arange(30.0).view(1, 30, 1).expand(2, 30, 4)
    kept = keep_tokens(h, 0.75, gen())
    assert kept.shape == (2, 8, 4)  # round(30 * 0.25)
    assert (kept[:, 1:, 0] > kept[:, :-1, 0]).all()


def test_bottlenecks_on_r():
    r = torch.randn(5, 32) * 7 + 3
    assert torch.allclose(normalize_r(r, "l2").norm(dim=1), torch.full((5,), 32 ** 0.5), atol=1e-4)
    ln = normalize_r(r, "layernorm")
    assert torch.allclose(ln.mean(1), torch.zeros(5), atol=1e-5)
    assert torch.equal(normalize_r(r, "none"), r)


def test_views_change_the_training_loss_not_the_embedding():
    x = torch.randn(4, 3, 300)
    plain = build_model(ModelConfig.from_preset("nano"))
    torch.manual_seed(0)
    a = build_model(ModelConfig.from_preset("nano", view_mask=0.5, view_rotate_deg=30, r_dim=16, r_norm="l2"))
    assert a.embed(x).shape == (4, 16)
    assert torch.equal(a.embed(x), a.embed(x))  # inference sees the whole window, no randomness
    assert torch.isfinite(a(x, gen())) and torch.isfinite(plain(x, gen()))
    assert not torch.equal(a.encode_view(x, gen(0)), a.encode_view(x, gen(1)))


def test_guidance_is_refused_without_a_trained_null_condition():
    import pytest

    model = build_model(ModelConfig.from_preset("nano", p_dgs=0.0))
    r = torch.zeros(2, 64)
    with pytest.raises(ValueError, match="p_dgs = 0"):
        model.sample(r, steps=2, guidance=2.0)
    assert model.sample(r, steps=2).shape == (2, 3, 300)
    twin = build_model(ModelConfig.from_preset("nano", p_dgs=0.0, objective="diffusion"))
    with pytest.raises(ValueError, match="never saw r = 0"):
        twin.sample(r, steps=2, guidance=2.0)
